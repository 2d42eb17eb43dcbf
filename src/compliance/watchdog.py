"""A deadline on blocking calls that cannot be interrupted, such as the Kafka client's.

A call into librdkafka runs in native code: Python can neither cancel it nor run a signal
handler until it returns. confluent-kafka 2.16.1 was seen waiting forever inside
``send_offsets_to_transaction`` after a broker restart although a timeout was passed, leaving
a process that looks alive, does nothing and ignores SIGTERM. So each such call runs under a
deadline kept by one daemon thread; when a call overruns it, the thread logs one line naming
the call and ends the process with ``EXIT_STUCK`` (``os._exit``: no clean-up can run behind a
stuck native call). The supervisor restarts the process; what it had not committed is read
again, nothing is lost.

Once the process is asked to stop (``stop_within``), every watched call, running or to come,
must end within a short grace instead: SIGTERM ends a stuck process within that bound.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")
# Exit status of a process ended by its watchdog: "restart me".
EXIT_STUCK = 3


class Watchdog:
    """Ends the process when a watched call is still running after its deadline."""

    def __init__(
        self,
        name: str,
        exit_process: Callable[[int], object] = os._exit,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self._exit = exit_process
        self._monotonic = monotonic
        self._armed: dict[int, tuple[str, float, float]] = {}  # token -> (what, started, due)
        self._stop_due = float("inf")  # once asked to stop: when every watched call must end
        self._tokens = itertools.count()
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None
        # When the watching thread wakes next on its own (inf: only when notified). A
        # deadline later than that needs no wake-up: the thread sees it when it wakes. So a
        # call armed and disarmed per transaction step costs no thread switch.
        self._wakes_at = float("inf")

    def run(self, what: str, call: Callable[[], T], deadline_s: float) -> T:
        """``call()``, or the end of the process if it has not returned after ``deadline_s``."""
        token = self.arm(what, deadline_s)
        try:
            return call()
        finally:
            self.disarm(token)

    def arm(self, what: str, deadline_s: float) -> int:
        """Start a deadline by hand (``disarm`` it with the token returned)."""
        with self._changed:
            self._start()
            token = next(self._tokens)
            started = self._monotonic()
            due = started + deadline_s
            self._armed[token] = (what, started, due)
            if min(due, self._stop_due) < self._wakes_at:
                self._changed.notify()
            return token

    def disarm(self, token: int) -> None:
        with self._changed:
            # No wake-up: the thread finds the deadline gone when it wakes for it.
            self._armed.pop(token, None)

    def stop_within(self, stop: threading.Event, grace_s: float) -> None:
        """Once ``stop`` is set, end the process if a watched call runs ``grace_s`` past it."""

        def shorten() -> None:
            stop.wait()
            with self._changed:
                self._stop_due = self._monotonic() + grace_s
                self._changed.notify()

        threading.Thread(target=shorten, name=f"{self.name}-stopping", daemon=True).start()

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._watch, name=f"{self.name}-watchdog", daemon=True
            )
            self._thread.start()

    def _watch(self) -> None:
        with self._changed:
            while True:
                if not self._armed:
                    self._wakes_at = float("inf")
                    self._changed.wait()
                    continue
                what, started, due = min(self._armed.values(), key=lambda armed: armed[2])
                now = self._monotonic()
                left = min(due, self._stop_due) - now
                if left > 0:
                    self._wakes_at = now + left
                    self._changed.wait(left)
                    continue
                stopping = " (the process was asked to stop)" if self._stop_due < due else ""
                self._expire(f"{what} still blocked after {now - started:.0f} s{stopping}")
                return

    def _expire(self, blocked: str) -> None:
        log.critical(
            "%s: %s: the Kafka client is stuck and the call cannot be interrupted; exiting "
            "with status %d for the supervisor to restart this process (nothing uncommitted "
            "is lost: it is read again)",
            self.name,
            blocked,
            EXIT_STUCK,
        )
        for handler in logging.getLogger().handlers:
            # A broken handler must not keep a stuck process alive.
            with contextlib.suppress(Exception):
                handler.flush()
        self._exit(EXIT_STUCK)
