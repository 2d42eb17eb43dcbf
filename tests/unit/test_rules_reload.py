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
from compliance.screening.live import ListsInForce

from .test_sanctions_rule import QUAX, FakeSanctions, screened, write_version

RULES = Path(__file__).resolve().parents[2] / "rules"
Announced = list[tuple[str | None, str, str, str | None]]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    target = tmp_path / "rules"
    shutil.copytree(RULES, target)
    return target


def holder_for(
    folder: Path,
    announced: Announced,
    fail: list[bool] | None = None,
    sanctions: FakeSanctions | None = None,
) -> RulesetHolder:
    def announce(
        previous: Ruleset | None, current: Ruleset, reason: str, error: str | None, _: str | None
    ) -> None:
        if fail and fail[0]:
            raise ConfigurationError("broker unreachable")
        announced.append((previous.version if previous else None, current.version, reason, error))

    return RulesetHolder(folder, announce, sanctions)


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


# --- a list change is a ruleset change --------------------------------------------------------


@pytest.fixture
def versions(tmp_path: Path) -> tuple[ListsInForce, ListsInForce]:
    return (
        write_version(tmp_path / "v1", [(901, "BLIXQUENT, Zarathustra")]),
        write_version(tmp_path / "v2", [(902, "QUAXWELL, Hieronymus")]),
    )


def test_a_new_list_version_comes_into_force_after_its_announcement(
    folder: Path, versions: tuple[ListsInForce, ListsInForce]
) -> None:
    v1, v2 = versions
    announced: Announced = []
    source = FakeSanctions(v1)
    holder = holder_for(folder, announced, sanctions=source)
    start = holder.current
    assert start.lists_version == v1.fingerprint
    assert announced == [(None, start.version, "start", None)]
    assert holder.follow_lists() is False  # nothing moved
    source.in_force = v2
    assert holder.follow_lists() is True
    assert holder.current.lists_version == v2.fingerprint
    assert holder.current.rules_version == start.rules_version
    assert announced[-1] == (
        start.version,
        holder.current.version,
        f"sanctions lists changed: {v2.fingerprint}",
        None,
    )
    assert screened(holder.current, QUAX).inputs["list_version"] == v2.fingerprint
    assert screened(start, QUAX).outcome == "pass"  # the old pair is untouched
    assert holder.follow_lists() is False and len(announced) == 2


def test_an_undelivered_list_change_keeps_the_old_pair_and_is_retried(
    folder: Path, versions: tuple[ListsInForce, ListsInForce]
) -> None:
    v1, v2 = versions
    announced: Announced = []
    fail = [False]
    source = FakeSanctions(v1)
    holder = holder_for(folder, announced, fail, source)
    old = holder.current
    source.in_force = v2
    fail[0] = True
    with pytest.raises(ConfigurationError):
        holder.follow_lists()
    assert holder.current is old
    fail[0] = False
    assert holder.follow_lists() is True
    assert holder.current.lists_version == v2.fingerprint


def test_a_rule_file_reload_keeps_the_lists_in_force(
    folder: Path, versions: tuple[ListsInForce, ListsInForce]
) -> None:
    v1, _ = versions
    announced: Announced = []
    holder = holder_for(folder, announced, sanctions=FakeSanctions(v1))
    edit(folder, "message: Identity document expired", "message: Identity document out of date")
    assert holder.reload("files changed") is True
    assert holder.current.lists_version == v1.fingerprint


def test_examples_run_on_the_offline_lists_so_a_list_without_them_is_still_taken_in(
    folder: Path, versions: tuple[ListsInForce, ListsInForce]
) -> None:
    """The sanctions examples name a person of the bundled lists, absent from v2."""
    v1, v2 = versions
    source = FakeSanctions(v1)
    holder = holder_for(folder, [], sanctions=source)
    source.in_force = v2
    assert holder.follow_lists() is True
    edit(folder, "message: Identity document expired", "message: Identity document out of date")
    assert holder.reload("files changed") is True  # examples pass offline; still on v2
    assert holder.current.lists_version == v2.fingerprint


def test_the_watcher_thread_follows_a_list_change_when_told(
    folder: Path, versions: tuple[ListsInForce, ListsInForce]
) -> None:
    v1, v2 = versions
    announced: Announced = []
    source = FakeSanctions(v1)
    holder = holder_for(folder, announced, sanctions=source)
    stop = threading.Event()
    thread = holder.watch(stop, interval_s=0)  # 0: files only on SIGHUP; lists when told
    try:
        source.in_force = v2
        holder.lists_changed()
        deadline = time.monotonic() + 10
        while len(announced) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert announced[-1][2] == f"sanctions lists changed: {v2.fingerprint}"
        assert holder.current.lists_version == v2.fingerprint
    finally:
        stop.set()
        holder.wake()
        thread.join(5)
    assert not thread.is_alive()


def test_a_list_change_that_could_not_be_announced_is_retried_without_another_signal(
    folder: Path, versions: tuple[ListsInForce, ListsInForce], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rule files on SIGHUP only (interval 0), and the list watcher tells once: when that one
    announcement fails (broker down), the holder tries again by itself."""
    monkeypatch.setattr("compliance.rules.reload.LIST_RETRY_S", 0.05)
    v1, v2 = versions
    announced: Announced = []
    fail = [False]
    source = FakeSanctions(v1)
    holder = holder_for(folder, announced, fail, source)
    stop = threading.Event()
    thread = holder.watch(stop, interval_s=0)
    try:
        source.in_force = v2
        fail[0] = True
        holder.lists_changed()
        time.sleep(0.3)  # a few failed attempts
        assert holder.current.lists_version == v1.fingerprint
        fail[0] = False  # the broker is back; nobody signals
        deadline = time.monotonic() + 10
        while holder.current.lists_version != v2.fingerprint and time.monotonic() < deadline:
            time.sleep(0.02)
        assert holder.current.lists_version == v2.fingerprint
        assert announced[-1][2] == f"sanctions lists changed: {v2.fingerprint}"
    finally:
        stop.set()
        holder.wake()
        thread.join(5)
    assert not thread.is_alive()
