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


def test_logins_are_locked_after_too_many_failures_per_user_and_per_client(
    app_engine: Engine,
) -> None:
    from datetime import UTC, datetime, timedelta

    from compliance.officer_logins import LoginPolicy, log_in, recent_logins

    policy = LoginPolicy(max_failures=3, lockout_s=600)
    name, other = _name(), _name()
    add_officer(app_engine, name, "analyst", "the right password")
    add_officer(app_engine, other, "analyst", "another right one")
    at = datetime.now(UTC)
    client, elsewhere = f"10.1.{uuid.uuid4().int % 250}.7", f"10.2.{uuid.uuid4().int % 250}.8"

    for i in range(3):
        failed = log_in(app_engine, name, f"guess {i}", client, policy, at=at)
        assert failed.outcome == "failed" and failed.officer is None
    # The name is locked, from any address, even with the right password ...
    locked = log_in(app_engine, name, "the right password", elsewhere, policy, at=at)
    assert locked.outcome == "locked" and locked.officer is None
    # ... and the address is locked, for any name.
    assert log_in(app_engine, other, "another right one", client, policy, at=at).outcome == (
        "locked"
    )
    assert log_in(app_engine, other, "another right one", elsewhere, policy, at=at).outcome == (
        "ok"
    )
    # The lock ends when the failures age out of the window.
    later = at + timedelta(seconds=601)
    back = log_in(app_engine, name, "the right password", elsewhere, policy, at=later)
    assert back.outcome == "ok" and back.officer is not None

    recorded = recent_logins(app_engine, name)
    assert [r.outcome for r in recorded] == ["ok", "locked", "failed", "failed", "failed"]
    assert {r.username for r in recorded} == {name}
    with app_engine.connect() as conn:
        from compliance.officers import officer_logins

        stored = " ".join(str(tuple(r)) for r in conn.execute(select(officer_logins)))
    assert "the right password" not in stored and "guess 0" not in stored


def test_a_login_with_a_name_no_officer_has_is_recorded_without_that_name(
    app_engine: Engine,
) -> None:
    from compliance.officer_logins import LoginPolicy, log_in, recent_logins

    typed = f"maybe-a-password-{uuid.uuid4().hex[:8]}"
    result = log_in(app_engine, typed, "whatever", "10.9.9.9", LoginPolicy(5, 60))
    assert result.outcome == "failed"
    [attempt] = recent_logins(app_engine, typed)
    assert attempt.username is None and attempt.outcome == "failed"


def test_a_success_from_an_address_does_not_clear_its_count_of_failures_for_other_names(
    app_engine: Engine,
) -> None:
    from datetime import UTC, datetime

    from compliance.officer_logins import LoginPolicy, log_in

    policy = LoginPolicy(max_failures=5, lockout_s=600, max_client_failures=3)
    officer, guessed = _name(), _name()
    add_officer(app_engine, officer, "analyst", "the officer's password")
    client = f"10.3.{uuid.uuid4().int % 250}.9"
    at = datetime.now(UTC)
    for i in range(2):  # a guessing run from a shared address (a NAT, a proxy) ...
        assert log_in(app_engine, guessed, f"guess {i}", client, policy, at=at).outcome == "failed"
    # ... an officer behind the same address logs in ...
    assert log_in(app_engine, officer, "the officer's password", client, policy, at=at).outcome == (
        "ok"
    )
    # ... and the run's count goes on: one more failure locks the address.
    assert log_in(app_engine, guessed, "guess 2", client, policy, at=at).outcome == "failed"
    assert log_in(app_engine, guessed, "guess 3", client, policy, at=at).outcome == "locked"
