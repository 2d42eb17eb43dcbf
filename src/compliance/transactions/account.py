"""An account's recent history: what the windowed rules read, kept per account in the
screener's state store (RocksDB, changelogged to Kafka) as plain JSON-able lists.

- ``entries``: the account's transactions within the longest rule window, oldest first, each
  ``[booked_ms, transaction_id, reporting_amount, direction, channel, counterparty, amount]``
  (at most ``MAX_ENTRIES``: an account busier than that within a window keeps the newest);
- ``days``: per booking day (days since 1970, as text) the count and reporting sum, for the velocity
  rule's baseline of the account's own history;
- ``alerted``: per rule, the booking time of the transaction that last raised an alert, so
  one pattern raises one alert, not one more with every transaction that follows it;
- ``pseudonymised``: every counterparty in ``entries`` is a keyed pseudonym under the
  account's key (a state written before payments were sealed kept them plain: they are
  turned into pseudonyms the first time the account is screened with its key, so one
  counterparty never counts twice and no plain identity stays in the state).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from compliance.sealing import PSEUDONYM_PREFIX

MAX_ENTRIES = 1000
DAY_MS = 86_400_000


class Entry(NamedTuple):
    """One transaction in an account's history. A tuple: the state holds thousands of them
    and reads and writes them with every transaction, as JSON arrays."""

    booked_ms: int
    transaction_id: str
    amount: float  # in the reporting currency
    direction: str
    channel: str
    counterparty: str
    original_amount: float  # in the transaction's own currency

    def as_list(self) -> list[Any]:
        return list(self)


def day_of(booked_ms: int) -> str:
    """The booking day, as the number of days since 1970-01-01 (UTC), zero-padded text: the
    days of a state sort as text the way they sort as days."""
    return f"{booked_ms // DAY_MS:06d}"


@dataclass
class AccountState:
    entries: list[Entry] = field(default_factory=list)
    days: dict[str, list[float]] = field(default_factory=dict)
    alerted: dict[str, int] = field(default_factory=dict)
    first_ms: int | None = None
    pseudonymised: bool = False

    @classmethod
    def from_json(cls, value: Any) -> AccountState:
        if not value:
            return cls()
        return cls(
            entries=[Entry._make(e) for e in value["entries"]],
            days=value["days"],  # freshly decoded: ours to change
            alerted=value["alerted"],
            first_ms=value.get("first_ms"),
            pseudonymised=value.get("pseudonymised", False),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "entries": [list(e) for e in self.entries],
            "days": self.days,
            "alerted": self.alerted,
            "first_ms": self.first_ms,
            "pseudonymised": self.pseudonymised,
        }

    def pseudonymise(self, pseudonym: Callable[[str], str]) -> None:
        """Turn counterparties remembered plain into ``pseudonym(counterparty)``, once."""
        if self.pseudonymised:
            return
        self.entries = [
            e._replace(counterparty=pseudonym(e.counterparty))
            if e.counterparty and not e.counterparty.startswith(PSEUDONYM_PREFIX)
            else e
            for e in self.entries
        ]
        self.pseudonymised = True

    def seen(self, transaction_id: str) -> bool:
        return any(e.transaction_id == transaction_id for e in self.entries)

    def window(self, end_ms: int, length_ms: int) -> list[Entry]:
        """The entries booked in ``(end_ms - length_ms, end_ms]``."""
        start = end_ms - length_ms
        return [e for e in self.entries if start < e.booked_ms <= end_ms]

    def add(self, entry: Entry, keep_ms: int, keep_days: int) -> None:
        """Remember ``entry``; forget entries older than ``keep_ms`` before the newest, and
        day totals older than ``keep_days`` days."""
        entries = self.entries
        if not entries or entries[-1].booked_ms <= entry.booked_ms:
            entries.append(entry)
        else:  # out of order: keep the list sorted by booking time
            at = next(i for i, e in enumerate(entries) if e.booked_ms > entry.booked_ms)
            entries.insert(at, entry)
        newest = entries[-1].booked_ms
        cut = 0
        while cut < len(entries) and entries[cut].booked_ms <= newest - keep_ms:
            cut += 1
        cut = max(cut, len(entries) - MAX_ENTRIES)
        if cut:
            del entries[:cut]
        day = day_of(entry.booked_ms)
        count, total = self.days.get(day, [0, 0.0])
        self.days[day] = [count + 1, round(total + entry.amount, 2)]
        oldest_day = day_of(newest - keep_days * DAY_MS)
        for old in [d for d in self.days if d < oldest_day]:
            del self.days[old]
        if self.first_ms is None or entry.booked_ms < self.first_ms:
            self.first_ms = entry.booked_ms
