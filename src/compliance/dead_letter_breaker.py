"""A breaker on the dead-letter rate: a processor that dead-letters too much stops.

Bad records come one at a time; a bad deploy (a schema our code does not know, a producer
writing garbage, a bug that makes records look poisonous) turns every record into a dead
letter and would drain the input topic into ``<topic>.dlq`` at full speed. So before a batch
is committed, the breaker looks at how many of its records became dead letters:

- more than ``limit`` within the last ``window_s`` seconds (this batch's included), or
- every record of a batch of more than ``batch_limit`` records,

and then refuses: the runner stops the process without committing the batch, with one line
saying so. The records stay on the input topic, to be read again once the cause is fixed (or,
when they truly are that many bad records, with a higher limit). 0 disables either check.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from compliance.errors import DeadLetterRateExceeded


class DeadLetterBreaker:
    def __init__(
        self,
        limit: int,
        window_s: float,
        batch_limit: int,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self.batch_limit = batch_limit
        self._monotonic = monotonic
        self._committed: deque[tuple[float, int]] = deque()  # (when, dead letters)

    def check(self, records: int, dead: int) -> None:
        """Raise ``DeadLetterRateExceeded`` if ``dead`` of a batch of ``records`` is too many."""
        if dead == 0:
            return
        if self.batch_limit and dead == records and records > self.batch_limit:
            raise DeadLetterRateExceeded(
                f"all {records} records of a batch were dead-lettered (more than "
                f"COMPLIANCE_DEAD_LETTER_BATCH_LIMIT={self.batch_limit})"
            )
        recent = self._recent() + dead
        if self.limit and recent > self.limit:
            raise DeadLetterRateExceeded(
                f"{recent} dead letters within {self.window_s:g} s (more than "
                f"COMPLIANCE_DEAD_LETTER_LIMIT={self.limit})"
            )

    def committed(self, dead: int) -> None:
        """Count the dead letters of a batch that was committed."""
        if dead:
            self._committed.append((self._monotonic(), dead))

    def _recent(self) -> int:
        horizon = self._monotonic() - self.window_s
        while self._committed and self._committed[0][0] < horizon:
            self._committed.popleft()
        return sum(count for _, count in self._committed)
