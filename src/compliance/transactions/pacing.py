"""When the screener commits its Kafka transaction: often while it keeps up, less often while
it catches up.

A check result becomes readable (read_committed) only when the transaction carrying it
commits, so the commit interval bounds the latency from a payment's publication to its
result; but every commit costs a flush, two round trips to the broker and a transaction
marker on every partition it wrote, CPU the screener then lacks for screening. So:

- keeping up (the payment screened last was appended to its topic less than
  ``CATCHING_UP_LAG_MS`` ago): commit every ``interval_s``
  (``COMPLIANCE_TRANSACTIONS_COMMIT_INTERVAL_S``), for latency; and at once when a poll
  brings nothing more (the screener is idle with results not yet committed): a burst of
  payments is readable as soon as it is screened, not up to an interval later;
- catching up (a backlog: a restart, a replay, a burst over its speed): commit every
  ``CATCHING_UP_COMMIT_S`` (or ``interval_s`` if that is longer); those results are late
  anyway, and fewer commits make the backlog go faster.

The lag is the record's timestamp (the broker's append time on ``transactions.submitted``)
against this machine's clock: a clock off by more than the bound only makes commits less
frequent, never rarer than ``CATCHING_UP_COMMIT_S``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

# Behind by more than this (ms since the record was appended): catching up.
CATCHING_UP_LAG_MS = 100
# The commit interval while catching up, in seconds.
CATCHING_UP_COMMIT_S = 0.25


class CommitPacing:
    """Wraps the framework's ``commit_checkpoint(force=False, revoking=False)``, called
    after every poll, which commits when its own interval (``interval_s``) has passed:
    while catching up, the call is held back until ``CATCHING_UP_COMMIT_S`` has passed since
    the last commit; after a poll that brought no record, with records screened since the
    last commit, it commits at once. A forced commit (a rebalance, the stop) is never held
    back."""

    def __init__(
        self,
        commit: Callable[..., None],
        *,
        clock_ms: Callable[[], float] = lambda: time.time() * 1000,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._commit = commit
        self._clock_ms = clock_ms
        self._monotonic = monotonic
        self._last_commit = monotonic()
        self.catching_up = False
        self._uncommitted = False  # records screened since the last commit
        self._polled = False  # a record screened since the last call

    def screened(self, timestamp_ms: int) -> None:
        """A record appended at ``timestamp_ms`` was screened."""
        self.catching_up = self._clock_ms() - timestamp_ms > CATCHING_UP_LAG_MS
        self._uncommitted = self._polled = True

    def commit_checkpoint(self, force: bool = False, revoking: bool = False) -> None:
        idle = self._uncommitted and not self._polled
        self._polled = False
        now = self._monotonic()
        if idle:
            force = True  # nothing more to screen: make what was screened readable now
        elif not force and self.catching_up and now - self._last_commit < CATCHING_UP_COMMIT_S:
            return
        self._commit(force=force, revoking=revoking)
        if force:
            self._uncommitted = False
        self._last_commit = now
