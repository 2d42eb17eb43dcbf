"""Officers' logins: every attempt recorded, and too many failures locking further attempts.

Every login to the review application and every officer proving who they are on the command
line comes through ``log_in``. Each attempt, whatever its outcome, is a row of
``officer_logins`` (made with the officers' table, ``compliance.officers``; append-only:
when, the outcome, the client address, the officer's name when it is an officer's; never the
password, and never a name typed that is not an officer's, which may be a password typed in
the wrong field: only its digest, to count its failures).

After ``max_failures`` failed attempts within ``lockout_s`` seconds (since the last success)
for one user name, or ``max_client_failures`` from one client address, further attempts of
that name or from that address are refused without looking at the password until the
failures age out of the window. A refused attempt is recorded too (``locked``) but does
not count as a failure, so the lock ends ``lockout_s`` after the failures that set it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from sqlalchemy import Engine, and_, func, select

from compliance.config import Settings
from compliance.db_errors import retryable_db_errors
from compliance.officers import Officer, authenticate, find_officer, officer_logins

Outcome = Literal["ok", "failed", "locked"]
_WHAT = "the officers' login table"


@dataclass(frozen=True)
class LoginPolicy:
    max_failures: int  # per user name
    lockout_s: float
    max_client_failures: int | None = None  # per client address; None: max_failures

    @classmethod
    def of(cls, settings: Settings) -> LoginPolicy:
        return cls(
            settings.review_login_max_failures,
            settings.review_login_lockout_s,
            settings.review_login_max_failures_per_client,
        )


@dataclass(frozen=True)
class LoginResult:
    outcome: Outcome
    officer: Officer | None = None


def name_digest(username: str) -> str:
    return hashlib.sha256(username.encode("utf-8")).hexdigest()


def log_in(
    engine: Engine,
    username: str,
    password: str,
    client: str,
    policy: LoginPolicy,
    *,
    at: datetime | None = None,
) -> LoginResult:
    """Check the password of ``username`` (``compliance.officers.authenticate``) unless the
    name or the client is locked out; record the attempt either way."""
    at = at or datetime.now(UTC)
    digest = name_digest(username)
    client = client[:128]
    if _locked(engine, digest, client, policy, at):
        result = LoginResult("locked")
    else:
        officer = authenticate(engine, username, password)
        result = LoginResult("ok", officer) if officer is not None else LoginResult("failed")
    known = result.officer or find_officer(engine, username)
    with retryable_db_errors(_WHAT), engine.begin() as conn:
        conn.execute(
            officer_logins.insert().values(
                at=at,
                name_sha256=digest,
                username=known.username if known is not None else None,
                client=client,
                outcome=result.outcome,
            )
        )
    return result


def _locked(engine: Engine, digest: str, client: str, policy: LoginPolicy, at: datetime) -> bool:
    """Whether ``max_failures`` failures of the name, or from the client, lie within the
    window before ``at`` (for the name, after its last success; a client's count runs on)."""
    since = at - timedelta(seconds=policy.lockout_s)
    t = officer_logins.c
    with retryable_db_errors(_WHAT), engine.connect() as conn:
        per_client = policy.max_client_failures or policy.max_failures
        for column, value, limit in (
            (t.name_sha256, digest, policy.max_failures),
            (t.client, client, per_client),
        ):
            # A success resets the count of its own name only: a client's count runs on, so an
            # officer logging in from the same address does not clear a guessing run.
            last_ok = (
                select(func.max(t.at))
                .where(column == value, t.outcome == "ok", t.at > since)
                .scalar_subquery()
                if column is t.name_sha256
                else None
            )
            failures = conn.execute(
                select(func.count()).where(
                    and_(
                        column == value,
                        t.outcome == "failed",
                        t.at > since,
                        t.at <= at,
                        t.at > func.coalesce(last_ok, since),
                    )
                )
            ).scalar_one()
            if int(failures) >= limit:
                return True
    return False


@dataclass(frozen=True)
class LoginRecord:
    at: datetime
    username: str | None
    client: str
    outcome: str


def recent_logins(engine: Engine, username: str, limit: int = 20) -> list[LoginRecord]:
    """The latest attempts with the name ``username``, newest first."""
    t = officer_logins.c
    query = (
        select(t.at, t.username, t.client, t.outcome)
        .where(t.name_sha256 == name_digest(username))
        .order_by(t.at.desc(), t.id.desc())
        .limit(limit)
    )
    with retryable_db_errors(_WHAT), engine.connect() as conn:
        return [LoginRecord(*row) for row in conn.execute(query)]
