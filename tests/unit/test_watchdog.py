"""A call that cannot be interrupted gets a deadline: past it, the process ends with status 3
and one line naming the call, instead of hanging while it looks alive."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time

import pytest

from compliance.watchdog import EXIT_STUCK, Watchdog


class Exits:
    def __init__(self) -> None:
        self.codes: list[int] = []
        self.called = threading.Event()

    def __call__(self, code: int) -> None:
        self.codes.append(code)
        self.called.set()


def test_a_call_past_its_deadline_ends_the_process_with_one_line_naming_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    exits = Exits()
    release = threading.Event()
    watchdog = Watchdog("checker", exit_process=exits)
    with caplog.at_level(logging.CRITICAL):
        blocked = threading.Thread(
            target=watchdog.run, args=("send_offsets_to_transaction", release.wait, 0.2)
        )
        blocked.start()
        assert exits.called.wait(10), "the watchdog never fired"
        release.set()
        blocked.join(10)
    assert exits.codes == [EXIT_STUCK]
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1
    assert lines[0].startswith("checker: send_offsets_to_transaction still blocked after 0 s")
    assert "status 3" in lines[0]


def test_calls_that_return_in_time_leave_the_process_alone() -> None:
    exits = Exits()
    watchdog = Watchdog("checker", exit_process=exits)
    for _ in range(50):
        assert watchdog.run("commit_transaction", lambda: 7, 0.05) == 7
    token = watchdog.arm("idle", 5)
    watchdog.disarm(token)
    assert not exits.called.wait(0.3)  # past every deadline armed above: nothing fired


def test_an_error_of_the_call_goes_up_and_disarms_its_deadline() -> None:
    exits = Exits()
    watchdog = Watchdog("checker", exit_process=exits)

    def fails() -> None:
        raise ValueError("broker said no")

    with pytest.raises(ValueError, match="broker said no"):
        watchdog.run("commit_transaction", fails, 0.05)
    assert not exits.called.wait(0.3)


def test_a_real_process_stuck_in_a_call_exits_with_status_3_within_its_deadline() -> None:
    script = (
        "import threading, logging\n"
        "logging.basicConfig()\n"
        "from compliance.watchdog import Watchdog\n"
        "Watchdog('classifier').run('commit_transaction', threading.Event().wait, 0.5)\n"
    )
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == EXIT_STUCK
    assert "classifier: commit_transaction still blocked" in done.stderr
    assert time.monotonic() - started < 30
