"""`compliance users add` / `list` as an operator runs them: the password from standard input
(never an argument), kept as an argon2id hash the review application logs in with."""

from __future__ import annotations

import subprocess
import sys
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import Engine, select

from compliance.config import Settings
from compliance.officer_logins import LoginPolicy, log_in
from compliance.officers import authenticate, find_officer, officers
from compliance.review.sessions import SessionStore

from .conftest import processor_env

pytestmark = pytest.mark.integration


def users(settings: Settings, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "compliance", "users", *args],
        input=stdin,
        env=processor_env(settings),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_an_officer_added_on_the_command_line_logs_in_and_is_listed(
    settings: Settings, engine: Engine
) -> None:
    name = f"cli-{uuid.uuid4().hex[:8]}"
    added = users(
        settings, "add", name, "--role", "supervisor", "--name", "Sam Super", "--password-stdin",
        stdin="a password long enough\n",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert "a password long enough" not in added.stdout + added.stderr
    officer = authenticate(engine, name, "a password long enough")
    assert officer is not None and officer.role == "supervisor"
    assert officer.display_name == "Sam Super"

    listed = users(settings, "list")
    assert listed.returncode == 0, listed.stderr
    line = next(line for line in listed.stdout.splitlines() if line.startswith(name))
    assert "supervisor" in line and "Sam Super" in line


def test_a_weak_password_or_a_taken_name_is_refused_with_the_reason(
    settings: Settings, engine: Engine
) -> None:
    name = f"cli-{uuid.uuid4().hex[:8]}"
    weak = users(settings, "add", name, "--role", "analyst", "--password-stdin", stdin="short\n")
    assert weak.returncode == 2 and "at least 12" in weak.stderr
    assert find_officer(engine, name) is None

    first = users(settings, "add", name, "--role", "analyst", "--password-stdin",
                  stdin="a password long enough\n")  # fmt: skip
    again = users(settings, "add", name, "--role", "supervisor", "--password-stdin",
                  stdin="another long password\n")  # fmt: skip
    assert first.returncode == 0 and again.returncode == 2
    assert "exists already" in again.stderr
    found = find_officer(engine, name)
    assert found is not None and found.role == "analyst"


def _with_session(engine: Engine, name: str) -> tuple[SessionStore, str]:
    store = SessionStore(engine, timedelta(hours=1))
    token, _ = store.open(name)
    assert store.find(token) is not None
    return store, token


def test_a_disabled_officer_cannot_log_in_and_their_sessions_end(
    settings: Settings, engine: Engine
) -> None:
    name = f"cli-{uuid.uuid4().hex[:8]}"
    added = users(settings, "add", name, "--role", "analyst", "--password-stdin",
                  stdin="a password long enough\n")  # fmt: skip
    assert added.returncode == 0, added.stderr
    store, token = _with_session(engine, name)

    disabled = users(settings, "disable", name)
    assert disabled.returncode == 0, disabled.stderr
    assert store.find(token) is None  # the session ended at once
    assert authenticate(engine, name, "a password long enough") is None
    result = log_in(engine, name, "a password long enough", "10.3.3.3", LoginPolicy(5, 60))
    assert result.outcome == "failed" and result.officer is None
    officer = find_officer(engine, name)
    assert officer is not None and officer.disabled

    assert users(settings, "enable", name).returncode == 0
    assert authenticate(engine, name, "a password long enough") is not None
    unknown = users(settings, "disable", f"nobody-{uuid.uuid4().hex[:6]}")
    assert unknown.returncode == 2 and "no officer" in unknown.stderr


def test_a_password_set_on_the_command_line_replaces_the_old_one_and_ends_sessions(
    settings: Settings, engine: Engine
) -> None:
    name = f"cli-{uuid.uuid4().hex[:8]}"
    users(settings, "add", name, "--role", "analyst", "--password-stdin",
          stdin="the first password\n").check_returncode()  # fmt: skip
    store, token = _with_session(engine, name)

    weak = users(settings, "set-password", name, "--password-stdin", stdin="short\n")
    assert weak.returncode == 2 and "at least 12" in weak.stderr
    changed = users(settings, "set-password", name, "--password-stdin",
                    stdin="the second password\n")  # fmt: skip
    assert changed.returncode == 0, changed.stderr
    assert "the second password" not in changed.stdout + changed.stderr
    assert store.find(token) is None
    assert authenticate(engine, name, "the first password") is None
    assert authenticate(engine, name, "the second password") is not None
    with engine.connect() as conn:
        stored = conn.execute(
            select(officers.c.password_hash).where(officers.c.username == name)
        ).scalar_one()
    assert stored.startswith("$argon2id$")

    logins = users(settings, "logins", name)
    assert logins.returncode == 0, logins.stderr
