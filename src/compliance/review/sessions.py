"""Server-side login sessions in PostgreSQL.

The browser holds a random token; the table holds only its SHA-256, so a copy of the table
logs nobody in. Each session has its own CSRF token, an expiry (``review_session_lifetime_s``
from login) and is deleted at logout. Expired rows are removed as new sessions are made.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Column, DateTime, MetaData, String, Table, delete, select, text
from sqlalchemy.engine import Engine

from compliance.db_errors import retryable_db_errors

metadata = MetaData()
review_sessions = Table(
    "review_sessions",
    metadata,
    Column("token_sha256", String(64), primary_key=True),
    Column("username", String(64), nullable=False, index=True),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False, index=True),
)
_SCHEMA_LOCK = 0x0FF1_CE26


@dataclass(frozen=True)
class Session:
    username: str
    csrf_token: str
    expires_at: datetime


def create_sessions_table(engine: Engine) -> None:
    """Make the sessions table when missing (``compliance db init``; safe to run at once from
    several processes)."""
    with retryable_db_errors("the review sessions table"), engine.begin() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK})
        metadata.create_all(conn, checkfirst=True)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class SessionStore:
    def __init__(self, engine: Engine, lifetime: timedelta) -> None:
        self.engine = engine
        self.lifetime = lifetime

    def open(self, username: str) -> tuple[str, Session]:
        """A new session for ``username``: the token for the cookie, and the session."""
        token = secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        session = Session(username, secrets.token_urlsafe(32), now + self.lifetime)
        with retryable_db_errors("the review sessions table"), self.engine.begin() as conn:
            conn.execute(delete(review_sessions).where(review_sessions.c.expires_at <= now))
            conn.execute(
                review_sessions.insert().values(
                    token_sha256=_digest(token),
                    username=username,
                    csrf_token=session.csrf_token,
                    created_at=now,
                    expires_at=session.expires_at,
                )
            )
        return token, session

    def find(self, token: str) -> Session | None:
        """The live session of ``token``, or None (unknown, logged out or expired)."""
        query = select(
            review_sessions.c.username, review_sessions.c.csrf_token, review_sessions.c.expires_at
        ).where(
            review_sessions.c.token_sha256 == _digest(token),
            review_sessions.c.expires_at > datetime.now(UTC),
        )
        with retryable_db_errors("the review sessions table"), self.engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else Session(row.username, row.csrf_token, row.expires_at)

    def close(self, token: str) -> None:
        with retryable_db_errors("the review sessions table"), self.engine.begin() as conn:
            conn.execute(
                delete(review_sessions).where(review_sessions.c.token_sha256 == _digest(token))
            )

    def close_all_of(self, username: str) -> None:
        with retryable_db_errors("the review sessions table"), self.engine.begin() as conn:
            conn.execute(delete(review_sessions).where(review_sessions.c.username == username))
