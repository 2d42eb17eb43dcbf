"""The screener's error policy at the edge of the stage, by ``compliance.errors.action_for``:

- a content error (``Action.DEAD_LETTER``) goes to the dead-letter topic, unless the
  dead-letter breaker (``compliance.dead_letter_breaker``, the runner's settings) says too
  many records became dead letters: then the screener stops (``DeadLetterRateExceeded``)
  without committing the record that tripped it;
- an infrastructure error (``Action.RETRY``, e.g. the database down during a clearance
  lookup) makes the record wait: the stage is called again after a back-off, with the
  account's state as it was before, and nothing of the record is committed meanwhile. The
  wait is bounded by ``wait_bound_s``; an outage that outlasts it stops the screener with
  ``InfrastructureDown`` (exit status ``EXIT_INFRASTRUCTURE``, one line naming the outage),
  and the record is read again after the restart;
- anything else (``Action.STOP``) is a bug: one line with the error's type, the record's
  ``topic[partition]@offset`` and where it was raised, never the error's message (it may
  quote personal data), and the screener stops with ``StageFailed`` (exit status 2).
"""

from __future__ import annotations

import logging
import os
import threading
import time
import traceback
from collections.abc import Callable
from typing import TypeVar

from compliance.config import Settings
from compliance.dead_letter_breaker import DeadLetterBreaker
from compliance.errors import (
    Action,
    ComplianceError,
    DeadLetterRateExceeded,
    RetryableError,
    StageFailed,
    action_for,
)

log = logging.getLogger(__name__)
T = TypeVar("T")
# Exit status of a screener stopped by an outage that outlasted its wait: "restart me later".
EXIT_INFRASTRUCTURE = os.EX_TEMPFAIL
# The longest a record waits for infrastructure, when the Kafka transaction allows it.
MAX_WAIT_S = 60.0
FIRST_BACKOFF_S = 0.5
MAX_BACKOFF_S = 8.0


class InfrastructureDown(ComplianceError):
    """Infrastructure stayed unavailable for longer than a record may wait."""


class StoppedWhileWaiting(Exception):
    """The process was asked to stop while a record waited for infrastructure."""


def wait_bound_s(settings: Settings) -> float:
    """How long a record may wait: a minute, but at most half the Kafka transaction timeout
    (the records before it in the same checkpoint are in an open transaction, which the
    broker aborts after ``COMPLIANCE_TRANSACTION_TIMEOUT_MS``)."""
    return min(MAX_WAIT_S, settings.transaction_timeout_ms / 2000)


def origin(exc: BaseException) -> str:
    """Where ``exc`` was raised, as ``file:line in function`` (or ``?``)."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return "?"
    return f"{frames[-1].filename}:{frames[-1].lineno} in {frames[-1].name}"


class EdgeGuard:
    def __init__(
        self,
        name: str,
        settings: Settings,
        stop: threading.Event,
        *,
        wait_bound: float | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.stop = stop
        self.wait_bound_s = wait_bound_s(settings) if wait_bound is None else wait_bound
        self.first_backoff_s = FIRST_BACKOFF_S
        self._monotonic = monotonic
        self.breaker = DeadLetterBreaker(
            settings.dead_letter_limit,
            settings.dead_letter_window_s,
            settings.dead_letter_batch_limit,
            monotonic,
        )
        # why this guard stopped the screener (too many dead letters, a bug, an outage, a
        # stop asked for while a record waited), if it did: what the process exits with,
        # even when the framework's way out then fails too
        self.stopped_with: Exception | None = None

    def waiting_out_outages(self, where: str, call: Callable[[], T]) -> T:
        """``call()``, called again after a back-off while it raises an infrastructure error,
        for up to ``wait_bound_s``; then ``InfrastructureDown``. Content errors and bugs
        are raised unchanged. ``StoppedWhileWaiting`` if the process is asked to stop."""
        started = self._monotonic()
        delay = self.first_backoff_s
        attempt = 0
        while True:
            try:
                return call()
            except Exception as exc:
                if action_for(exc) is not Action.RETRY:
                    raise
                attempt += 1
                waited = self._monotonic() - started
                if waited + delay > self.wait_bound_s:
                    self.stopped_with = InfrastructureDown(
                        f"{self.name}: {outage(exc)}; {where} waited {waited:.0f} s "
                        f"({attempt} attempts), stopping without committing it (it is read "
                        "again after a restart, nothing is dropped or dead-lettered)"
                    )
                    raise self.stopped_with from exc
                log.warning(
                    "%s: %s waits for infrastructure: %s; retrying in %.1f s (attempt %d)",
                    self.name,
                    where,
                    outage(exc),
                    delay,
                    attempt,
                )
                if self.stop.wait(delay):
                    self.stopped_with = StoppedWhileWaiting(where)
                    raise self.stopped_with from exc
                delay = min(delay * 2, MAX_BACKOFF_S)

    def dead_letter_allowed(self, where: str, dead_letter_topic: str) -> None:
        """Count one dead letter; ``DeadLetterRateExceeded`` (logged) if it is one too many."""
        try:
            self.breaker.check(1, 1)
        except DeadLetterRateExceeded as exc:
            log.critical(
                "%s: stopping without committing %s: %s; a bad deploy or a schema mismatch "
                "is likelier than that many bad records: read %s and the log above, fix the "
                "cause, or raise the limit if the records truly are bad",
                self.name,
                where,
                exc,
                dead_letter_topic,
            )
            self.stopped_with = exc
            raise
        self.breaker.committed(1)

    def stopping(self, where: str, exc: BaseException) -> StageFailed:
        """The error that stops the screener for a bug, logged as one line naming the error's
        type, the record and where it was raised; never the error's message."""
        message = (
            f"{self.name}: the stage failed on {where} with {type(exc).__name__} at "
            f"{origin(exc)}: a bug or a schema this code does not expect, not a bad record; "
            "stopping without committing the record (it is read again after a restart, "
            "nothing goes to the dead-letter topic)"
        )
        log.critical("%s", message)
        self.stopped_with = StageFailed(message)
        return self.stopped_with


def outage(exc: BaseException) -> str:
    """The outage an infrastructure error names (our ``RetryableError`` messages name the
    service and the driver's error, no record content)."""
    if isinstance(exc, RetryableError):
        return " ".join(f"{type(exc).__name__}: {exc}".split())  # one line
    return type(exc).__name__
