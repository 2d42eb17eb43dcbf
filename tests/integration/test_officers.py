"""Officers in PostgreSQL: argon2id hashes, logins, roles, as the processors' own role."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from compliance.audit.store import connect
from compliance.config import Settings
from compliance.officers import (
    OfficerError,
    add_officer,
    authenticate,
    find_officer,
    officers,
)


@pytest.fixture
def app_engine(engine: Engine) -> Engine:
    """The role the review application and the CLI run as (owns nothing)."""
    return connect(Settings().database_dsn)


def _name() -> str:
    return f"officer-{uuid.uuid4().hex[:10]}"


def test_an_added_officer_logs_in_with_their_password_only(app_engine: Engine) -> None:
    name = _name()
    add_officer(app_engine, name, "analyst", "correct horse battery", "Ana Lyst")
    officer = authenticate(app_engine, name, "correct horse battery")
    assert officer is not None and officer.role == "analyst"
    assert officer.display_name == "Ana Lyst"
    assert authenticate(app_engine, name, "correct horse batterY") is None
    assert authenticate(app_engine, _name(), "correct horse battery") is None


def test_the_password_is_stored_as_an_argon2id_hash(app_engine: Engine) -> None:
    name = _name()
    add_officer(app_engine, name, "supervisor", "a long enough secret")
    with app_engine.connect() as conn:
        stored = conn.execute(
            select(officers.c.password_hash).where(officers.c.username == name)
        ).scalar_one()
    assert stored.startswith("$argon2id$")
    assert "a long enough secret" not in stored


def test_a_disabled_officer_cannot_log_in(app_engine: Engine) -> None:
    name = _name()
    add_officer(app_engine, name, "analyst", "a long enough secret")
    with app_engine.begin() as conn:
        conn.execute(update(officers).where(officers.c.username == name).values(disabled=True))
    assert authenticate(app_engine, name, "a long enough secret") is None
    found = find_officer(app_engine, name)
    assert found is not None and found.disabled


@pytest.mark.parametrize(
    ("username", "role", "password", "message"),
    [
        ("Bad Name", "analyst", "a long enough secret", "username"),
        ("good.name", "admin", "a long enough secret", "role must be one of"),
        ("good.name", "analyst", "short", "at least 12"),
    ],
)
def test_bad_users_are_refused_with_the_reason(
    app_engine: Engine, username: str, role: str, password: str, message: str
) -> None:
    with pytest.raises(OfficerError, match=message):
        add_officer(app_engine, username, role, password)


def test_a_taken_username_is_refused(app_engine: Engine) -> None:
    name = _name()
    add_officer(app_engine, name, "analyst", "a long enough secret")
    with pytest.raises(OfficerError, match="exists already"):
        add_officer(app_engine, name, "supervisor", "another long secret")
    found = find_officer(app_engine, name)
    assert found is not None and found.role == "analyst"
