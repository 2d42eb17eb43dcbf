"""A circuit breaker for the Claude API: after ``failures`` calls in a row fail (each already
retried by the SDK), the circuit opens and calls fail at once, without touching the API, for
``reset_s``; then one trial call is let through (half-open). Success closes the circuit.

A failure that every call would meet alike (the account out of credit, the key or model
refused) ``trip``s the circuit at once: one trial call per ``reset_s`` until it is fixed.

While it is open the classifier raises ``RetryableError``, so the runner aborts the batch,
leaves its offsets uncommitted and retries it later: documents wait, none is lost.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class CircuitBreaker:
    def __init__(
        self, failures: int, reset_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.failures = failures
        self.reset_s = reset_s
        self._clock = clock
        self._lock = threading.Lock()
        self._consecutive = 0
        self._opened_at: float | None = None
        self._trial_running = False

    @property
    def state(self) -> str:
        with self._lock:
            if self._opened_at is None:
                return "closed"
            if self._clock() - self._opened_at >= self.reset_s:
                return "half-open"
            return "open"

    def allow(self) -> bool:
        """May a call go to the API now? In half-open state, only one trial at a time."""
        with self._lock:
            if self._opened_at is None:
                return True
            if self._clock() - self._opened_at < self.reset_s or self._trial_running:
                return False
            self._trial_running = True
            return True

    def record_success(self) -> None:
        with self._lock:
            self._consecutive = 0
            self._opened_at = None
            self._trial_running = False

    def record_failure(self) -> None:
        with self._lock:
            self._consecutive += 1
            if self._trial_running or self._consecutive >= self.failures:
                self._opened_at = self._clock()
            self._trial_running = False

    def trip(self) -> None:
        """Open the circuit now, whatever the count: no call can succeed until an operator
        acts, so only one trial call goes out per ``reset_s``."""
        with self._lock:
            self._consecutive = max(self._consecutive + 1, self.failures)
            self._opened_at = self._clock()
            self._trial_running = False
