"""`compliance users add` / `list` as an operator runs them: the password from standard input
(never an argument), kept as an argon2id hash the review application logs in with."""

from __future__ import annotations

import subprocess
import sys
import uuid

import pytest
from sqlalchemy import Engine

from compliance.config import Settings
from compliance.officers import authenticate, find_officer

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
