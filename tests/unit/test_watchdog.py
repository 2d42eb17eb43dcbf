"""A call that cannot be interrupted gets a deadline: past it, the process ends with status 3
and one line naming the call, instead of hanging while it looks alive."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

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


def test_once_asked_to_stop_a_call_still_blocked_after_the_grace_ends_the_process(
    caplog: pytest.LogCaptureFixture,
) -> None:
    exits = Exits()
    release, stop = threading.Event(), threading.Event()
    watchdog = Watchdog("checker", exit_process=exits)
    watchdog.stop_within(stop, 0.2)
    with caplog.at_level(logging.CRITICAL):
        blocked = threading.Thread(
            target=watchdog.run, args=("commit_transaction", release.wait, 600)
        )
        blocked.start()
        assert not exits.called.wait(0.5)  # far from its own deadline: left alone
        stop.set()
        assert exits.called.wait(10), "the stop did not bound the blocked call"
        release.set()
        blocked.join(10)
    assert exits.codes == [EXIT_STUCK]
    assert "(the process was asked to stop)" in caplog.text


def wait_blocked_in_a_lock(pid: int, timeout_s: float = 20) -> None:
    """Until the process's main thread sleeps in a futex (the mutex) on five looks in a row."""
    deadline = time.monotonic() + timeout_s
    seen = 0
    while seen < 5:
        assert time.monotonic() < deadline, "the process never blocked in the call"
        wchan = Path(f"/proc/{pid}/task/{pid}/wchan").read_text()
        seen = seen + 1 if "futex" in wchan else 0
        time.sleep(0.05)


def test_sigterm_ends_a_process_stuck_in_a_watched_call_within_the_grace() -> None:
    """The main thread blocks in a native call that no signal interrupts (as librdkafka's
    did), so Python never runs its SIGTERM handler; the signal still reaches the stop event
    through the wakeup fd, and the watchdog ends the process."""
    script = (
        "import logging, sys, threading\n"
        "logging.basicConfig()\n"
        "from compliance.runner import install_stop_signals\n"
        "from compliance.watchdog import Watchdog\n"
        "stop = threading.Event()\n"
        "install_stop_signals(stop)\n"
        "watchdog = Watchdog('checker')\n"
        "watchdog.stop_within(stop, 1.0)\n"
        "print('ready', flush=True)\n"
        "import ctypes\n"
        "libc = ctypes.CDLL(None)\n"
        "mutex = ctypes.create_string_buffer(64)  # a default pthread mutex, all zeros\n"
        "libc.pthread_mutex_lock(mutex)\n"
        "# Locking it again never returns and no signal handler runs meanwhile.\n"
        "watchdog.run('send_offsets_to_transaction', lambda: libc.pthread_mutex_lock(mutex), 600)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        wait_blocked_in_a_lock(proc.pid)
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == EXIT_STUCK
        assert time.monotonic() - started < 15
        assert proc.stderr is not None
        assert "send_offsets_to_transaction still blocked" in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


class CountedCondition(threading.Condition):
    """A condition that counts its notifications (each one wakes the watching thread)."""

    def __init__(self) -> None:
        super().__init__()
        self.notified = 0

    def notify(self, n: int = 1) -> None:
        self.notified += 1
        super().notify(n)


def test_calls_armed_one_after_another_do_not_wake_the_watching_thread_each_time() -> None:
    # A runner arms and disarms a deadline for every transaction step; waking the watching
    # thread for each would cost two thread switches per step. A deadline later than the
    # one the thread already sleeps until needs no wake-up.
    exits = Exits()
    watchdog = Watchdog("checker", exit_process=exits)
    watchdog._changed = condition = CountedCondition()
    first = watchdog.arm("begin_transaction", 60)
    deadline = time.monotonic() + 10
    while watchdog._wakes_at == float("inf"):  # the thread sleeps until the first deadline
        assert time.monotonic() < deadline, "the watching thread never waited"
        time.sleep(0.01)
    watchdog.disarm(first)
    for _ in range(100):
        assert watchdog.run("commit_transaction", lambda: 7, 60) == 7
    assert condition.notified <= 1
    # A shorter deadline than the one slept until does wake it, and still fires in time.
    blocked = threading.Event()
    threading.Thread(
        target=watchdog.run, args=("send_offsets_to_transaction", blocked.wait, 0.2), daemon=True
    ).start()
    assert exits.called.wait(10), "a shorter deadline was not watched"
    blocked.set()
    assert exits.codes == [EXIT_STUCK]
