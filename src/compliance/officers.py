"""Compliance officers: who may decide on cases, in which role, with which password.

Passwords are kept only as argon2id hashes (argon2-cffi's defaults, rehashed on login when the
parameters change); ``set_password`` replaces one. ``disable_officer`` stops an officer:
they cannot log in, their review sessions are deleted at once, and the desk refuses their
decisions; ``enable_officer`` lets them in again. Login attempts are counted and recorded by
``compliance.officer_logins``. Roles: an ``analyst`` works cases; a ``supervisor`` can also
approve the decisions of others on high and critical cases (four eyes; nobody approves their
own).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    DateTime,
    Index,
    MetaData,
    String,
    Table,
    delete,
    func,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from compliance.db_errors import retryable_db_errors
from compliance.errors import ComplianceError

Role = Literal["analyst", "supervisor"]
ROLES: tuple[Role, ...] = ("analyst", "supervisor")
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._@-]{1,63}$")
MIN_PASSWORD_LENGTH = 12

metadata = MetaData()
officers = Table(
    "officers",
    metadata,
    Column("username", String(64), primary_key=True),
    Column("display_name", String(256), nullable=False),
    Column("role", String(16), nullable=False),
    Column("password_hash", String(256), nullable=False),
    Column("disabled", Boolean, nullable=False, server_default=text("false")),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# Every login attempt (``compliance.officer_logins``): never a password, and a name typed only
# as its digest unless an officer has it.
officer_logins = Table(
    "officer_logins",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("name_sha256", String(64), nullable=False, doc="Digest of the user name as typed."),
    Column("username", String(64), doc="The officer's name; null when no officer has it."),
    Column("client", String(128), nullable=False, doc="Client address, or `command-line`."),
    Column("outcome", String(8), nullable=False, doc="ok, failed or locked."),
    Index("officer_logins_name", "name_sha256", "at"),
    Index("officer_logins_client", "client", "at"),
)

_hasher = PasswordHasher()
_SCHEMA_LOCK = 0x0FF1_CE25


class OfficerError(ComplianceError):
    """A user could not be added (name taken, weak password, unknown role)."""


@dataclass(frozen=True)
class Officer:
    username: str
    display_name: str
    role: Role
    disabled: bool = False

    @property
    def is_supervisor(self) -> bool:
        return self.role == "supervisor"


def create_officers_table(engine: Engine) -> None:
    """The officers' table and their logins' (``compliance.officer_logins``) when missing."""
    with retryable_db_errors("the officers table"), engine.begin() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK})
        metadata.create_all(conn, checkfirst=True)


def _valid_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise OfficerError(f"a password has at least {MIN_PASSWORD_LENGTH} characters")


def set_password(engine: Engine, username: str, password: str) -> None:
    """Replace the officer's password (its argon2id hash); their open sessions end, so a
    password changed because it leaked logs the holder out."""
    _valid_password(password)
    with retryable_db_errors("the officers table"), engine.begin() as conn:
        _update(conn, username, password_hash=_hasher.hash(password))
        _end_sessions(conn, username)


def disable_officer(engine: Engine, username: str) -> None:
    """Stop the officer: no login from now on, and their review sessions end at once."""
    with retryable_db_errors("the officers table"), engine.begin() as conn:
        _update(conn, username, disabled=True)
        _end_sessions(conn, username)


def enable_officer(engine: Engine, username: str) -> None:
    with retryable_db_errors("the officers table"), engine.begin() as conn:
        _update(conn, username, disabled=False)


def _update(conn: Connection, username: str, **values: object) -> None:
    """Set ``values`` on the officer's row, or OfficerError when there is no such officer."""
    if not conn.execute(
        update(officers).where(officers.c.username == username).values(**values)
    ).rowcount:
        raise OfficerError(f"there is no officer {username!r}")


def _end_sessions(conn: Connection, username: str) -> None:
    from compliance.review.sessions import review_sessions

    if inspect(conn).has_table(review_sessions.name):
        conn.execute(delete(review_sessions).where(review_sessions.c.username == username))


def add_officer(
    engine: Engine, username: str, role: str, password: str, display_name: str | None = None
) -> Officer:
    if not USERNAME.match(username):
        raise OfficerError("a username is 2-64 characters: lower-case letters, digits and . _ @ -")
    if role not in ROLES:
        raise OfficerError(f"role must be one of {', '.join(ROLES)}")
    _valid_password(password)
    officer = Officer(username, display_name or username, role)
    try:
        with retryable_db_errors("the officers table"), engine.begin() as conn:
            conn.execute(
                officers.insert().values(
                    username=username,
                    display_name=officer.display_name,
                    role=role,
                    password_hash=_hasher.hash(password),
                )
            )
    except IntegrityError:
        raise OfficerError(f"user {username!r} exists already") from None
    return officer


def find_officer(engine: Engine, username: str) -> Officer | None:
    with retryable_db_errors("the officers table"), engine.connect() as conn:
        row = conn.execute(
            select(
                officers.c.username, officers.c.display_name, officers.c.role, officers.c.disabled
            ).where(officers.c.username == username)
        ).first()
    if row is None:
        return None
    return Officer(row.username, row.display_name, row.role, row.disabled)


def authenticate(engine: Engine, username: str, password: str) -> Officer | None:
    """The officer if the password is theirs and they are not disabled, else None. An unknown
    user costs the same hashing time as a wrong password."""
    with retryable_db_errors("the officers table"), engine.connect() as conn:
        row = conn.execute(select(officers).where(officers.c.username == username)).first()
    stored = row.password_hash if row is not None else _DUMMY_HASH
    try:
        _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return None
    if row is None or row.disabled:
        return None
    if _hasher.check_needs_rehash(stored):
        with retryable_db_errors("the officers table"), engine.begin() as conn:
            conn.execute(
                update(officers)
                .where(officers.c.username == username)
                .values(password_hash=_hasher.hash(password))
            )
    return Officer(row.username, row.display_name, row.role, row.disabled)


_DUMMY_HASH = _hasher.hash("not a password anybody has: equalises the time of a failed login")


def officer_list(engine: Engine) -> list[Officer]:
    with retryable_db_errors("the officers table"), engine.connect() as conn:
        rows = conn.execute(
            select(
                officers.c.username, officers.c.display_name, officers.c.role, officers.c.disabled
            ).order_by(officers.c.username)
        ).all()
    return [Officer(r.username, r.display_name, r.role, r.disabled) for r in rows]
