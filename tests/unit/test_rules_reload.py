"""Reloading rules without a restart: a changed folder is loaded, verified by its examples and
announced before it comes into force; broken files or a failed announcement keep the old."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import pytest

from compliance.errors import ConfigurationError
from compliance.rules import Ruleset
from compliance.rules.reload import RulesetHolder

RULES = Path(__file__).resolve().parents[2] / "rules"
Announced = list[tuple[str | None, str, str, str | None]]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    target = tmp_path / "rules"
    shutil.copytree(RULES, target)
    return target


def holder_for(folder: Path, announced: Announced, fail: list[bool] | None = None) -> RulesetHolder:
    def announce(
        previous: Ruleset | None, current: Ruleset, reason: str, error: str | None, _: str | None
    ) -> None:
        if fail and fail[0]:
            raise ConfigurationError("broker unreachable")
        announced.append((previous.version if previous else None, current.version, reason, error))

    return RulesetHolder(folder, announce)


def edit(folder: Path, old: str, new: str) -> None:
    kyc = folder / "kyc.yaml"
    kyc.write_text(kyc.read_text(encoding="utf-8").replace(old, new), encoding="utf-8")


def test_start_is_announced_and_unchanged_files_do_not_reload(folder: Path) -> None:
    announced: Announced = []
    holder = holder_for(folder, announced)
    assert announced == [(None, holder.current.version, "start", None)]
    assert holder.reload("files changed") is False
    assert len(announced) == 1


def test_a_changed_rule_comes_into_force_after_its_announcement(folder: Path) -> None:
    announced: Announced = []
    holder = holder_for(folder, announced)
    old = holder.current
    edit(folder, "message: Identity document expired", "message: Identity document out of date")
    assert holder.reload("files changed") is True
    assert holder.current.version != old.version
    assert announced[-1] == (old.version, holder.current.version, "files changed", None)


def test_broken_files_keep_the_version_in_force_and_the_rejection_is_announced(
    folder: Path,
) -> None:
    announced: Announced = []
    holder = holder_for(folder, announced)
    old = holder.current
    (folder / "broken.yaml").write_text("rules: [{id: x}]\n", encoding="utf-8")
    assert holder.reload("files changed") is False
    assert holder.current is old
    previous, current, _, error = announced[-1]
    assert (previous, current) == (old.version, old.version)
    assert error is not None and "broken.yaml" in error
    assert holder.reload("files changed") is False  # the same broken files: announced once
    assert len(announced) == 2


def test_a_rule_whose_examples_fail_is_rejected(folder: Path) -> None:
    announced: Announced = []
    holder = holder_for(folder, announced)
    old = holder.current
    edit(folder, "years: 18}", "years: 21}")  # "born 1988" still passes; the 18th birthday not
    assert holder.reload("signal", force=True) is False
    assert holder.current is old
    assert "identity.minimum-age" in (announced[-1][3] or "")


def test_an_undelivered_announcement_keeps_the_old_rules_and_is_retried(folder: Path) -> None:
    announced: Announced = []
    fail = [False]
    holder = holder_for(folder, announced, fail)
    old = holder.current
    edit(folder, "message: Identity document expired", "message: Identity document out of date")
    fail[0] = True
    with pytest.raises(ConfigurationError):
        holder.reload("files changed")
    assert holder.current is old
    fail[0] = False
    assert holder.reload("files changed") is True


def test_the_watcher_thread_picks_up_a_change_and_a_wake_up(folder: Path) -> None:
    announced: Announced = []
    holder = holder_for(folder, announced)
    stop = threading.Event()
    thread = holder.watch(stop, interval_s=0.05)
    try:
        edit(folder, "message: Identity document expired", "message: Document expired")
        deadline = time.monotonic() + 10
        while len(announced) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert announced[-1][2] == "files changed"
        edit(folder, "message: Document expired", "message: Identity document expired")
        holder.wake()
        while len(announced) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert announced[-1][2] in {"signal", "files changed"}
    finally:
        stop.set()
        holder.wake()
        thread.join(5)
    assert not thread.is_alive()
