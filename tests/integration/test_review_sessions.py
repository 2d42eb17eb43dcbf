"""The review application's sessions in PostgreSQL: only a hash of the browser's token is
stored, a session ends at its expiry or at logout, and each has its own CSRF token."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select, update

from compliance.audit.store import connect
from compliance.config import Settings
from compliance.review.sessions import SessionStore, review_sessions

pytestmark = pytest.mark.integration


@pytest.fixture
def store(engine: Engine) -> SessionStore:
    """As the review application runs: the processors' role, which owns nothing."""
    return SessionStore(connect(Settings().database_dsn), timedelta(hours=8))


def _user() -> str:
    return f"officer-{uuid.uuid4().hex[:8]}"


def test_the_table_keeps_a_hash_of_the_token_never_the_token(
    store: SessionStore, engine: Engine
) -> None:
    user = _user()
    token, session = store.open(user)
    with engine.connect() as conn:
        rows = conn.execute(select(review_sessions).where(review_sessions.c.username == user)).all()
    assert len(rows) == 1
    assert rows[0].token_sha256 == hashlib.sha256(token.encode()).hexdigest()
    assert token not in tuple(str(v) for v in rows[0])
    found = store.find(token)
    assert found is not None and found.username == user
    assert found.csrf_token == session.csrf_token != token


def test_a_session_ends_at_logout_and_at_its_expiry(store: SessionStore, engine: Engine) -> None:
    user = _user()
    token, _ = store.open(user)
    store.close(token)
    assert store.find(token) is None

    token, _ = store.open(user)
    with engine.begin() as conn:
        conn.execute(
            update(review_sessions)
            .where(review_sessions.c.username == user)
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    assert store.find(token) is None
    assert store.find("a token nobody was given") is None


def test_every_session_has_its_own_csrf_token(store: SessionStore) -> None:
    user = _user()
    first, one = store.open(user)
    second, other = store.open(user)
    assert first != second and one.csrf_token != other.csrf_token
