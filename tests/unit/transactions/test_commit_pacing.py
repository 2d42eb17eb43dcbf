"""The screener commits every interval while it keeps up (latency) and at most every
``CATCHING_UP_COMMIT_S`` while it works through a backlog (speed); forced commits (a
rebalance, the stop) always go through."""

from __future__ import annotations

from typing import Any

from compliance.transactions.pacing import CATCHING_UP_COMMIT_S, CATCHING_UP_LAG_MS, CommitPacing


class Clocks:
    def __init__(self) -> None:
        self.wall_ms = 1_000_000.0
        self.mono = 50.0

    def advance(self, seconds: float) -> None:
        self.wall_ms += seconds * 1000
        self.mono += seconds


def pacing(clocks: Clocks, commits: list[dict[str, Any]]) -> CommitPacing:
    return CommitPacing(
        lambda **kw: commits.append(kw),
        clock_ms=lambda: clocks.wall_ms,
        monotonic=lambda: clocks.mono,
    )


def test_a_screener_keeping_up_leaves_every_commit_to_the_framework_interval() -> None:
    clocks, commits = Clocks(), []  # type: ignore[var-annotated]
    paced = pacing(clocks, commits)
    for _ in range(5):
        clocks.advance(0.002)
        paced.screened(int(clocks.wall_ms) - 3)  # appended 3 ms ago
        paced.commit_checkpoint()
    assert not paced.catching_up
    assert commits == [{"force": False, "revoking": False}] * 5


def test_a_screener_behind_its_topic_commits_at_most_every_catching_up_interval() -> None:
    clocks, commits = Clocks(), []  # type: ignore[var-annotated]
    paced = pacing(clocks, commits)
    backlog = int(clocks.wall_ms) - 60_000  # records appended a minute ago
    steps = 0
    while clocks.mono < 50.0 + 1.0:  # one second of screening the backlog
        clocks.advance(0.001)
        paced.screened(backlog)
        paced.commit_checkpoint()
        steps += 1
    assert paced.catching_up
    assert steps >= 999 and 3 <= len(commits) <= int(1.0 / CATCHING_UP_COMMIT_S) + 1


def test_once_caught_up_the_next_record_is_committed_at_once() -> None:
    clocks, commits = Clocks(), []  # type: ignore[var-annotated]
    paced = pacing(clocks, commits)
    paced.screened(int(clocks.wall_ms) - CATCHING_UP_LAG_MS - 500)
    paced.commit_checkpoint()
    assert commits == []
    clocks.advance(0.01)
    paced.screened(int(clocks.wall_ms) - 2)
    paced.commit_checkpoint()
    assert len(commits) == 1


def test_a_forced_commit_is_never_held_back_while_catching_up() -> None:
    clocks, commits = Clocks(), []  # type: ignore[var-annotated]
    paced = pacing(clocks, commits)
    paced.screened(int(clocks.wall_ms) - 60_000)
    paced.commit_checkpoint(force=True, revoking=True)
    assert commits == [{"force": True, "revoking": True}]


def test_a_poll_that_brings_nothing_commits_what_was_screened_at_once() -> None:
    clocks, commits = Clocks(), []  # type: ignore[var-annotated]
    paced = pacing(clocks, commits)
    paced.screened(int(clocks.wall_ms) - 2)
    paced.commit_checkpoint()  # after the poll that brought the record: the interval decides
    paced.commit_checkpoint()  # after a poll that brought nothing: idle, commit now
    paced.commit_checkpoint()  # idle again, nothing new: the interval decides
    assert commits == [
        {"force": False, "revoking": False},
        {"force": True, "revoking": False},
        {"force": False, "revoking": False},
    ]


def test_the_end_of_a_backlog_is_committed_when_the_polls_run_dry() -> None:
    clocks, commits = Clocks(), []  # type: ignore[var-annotated]
    paced = pacing(clocks, commits)
    paced.screened(int(clocks.wall_ms) - 60_000)
    paced.commit_checkpoint()  # catching up: held back
    assert commits == []
    clocks.advance(0.002)
    paced.commit_checkpoint()  # the poll brought nothing: the backlog is done
    assert commits == [{"force": True, "revoking": False}]
