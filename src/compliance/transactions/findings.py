"""What a transaction rule sees and what it says: the shared types of every rule kind."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from typing import Protocol

from compliance.screening.hits import Hit
from compliance.transactions.account import AccountState, Entry
from compliance.transactions.model import Transaction

_DURATION = re.compile(r"(\d+)\s*(s|m|h|d)")
_UNIT_MS = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


@lru_cache(maxsize=256)
def duration_ms(text: str) -> int:
    """``"90s"``, ``"30m"``, ``"24h"``, ``"7d"`` in milliseconds."""
    found = _DURATION.fullmatch(text.strip())
    if not found or int(found.group(1)) <= 0:
        raise ValueError(f"{text!r} is not a duration such as 30m, 24h or 7d")
    return int(found.group(1)) * _UNIT_MS[found.group(2)]


class CounterpartyScreen(Protocol):
    """Sanctions screening of a counterparty's name (``compliance.transactions.sanctions``)."""

    @property
    def source(self) -> str: ...

    def open_hits(
        self, name: str, country: str | None, customer_id: str | None, threshold: float
    ) -> list[Hit]: ...


class Seen:
    """A transaction as the rules see it, with the account's history including it. Made
    once per transaction (a plain class: a frozen dataclass costs more to build than the
    rules that read it)."""

    __slots__ = (
        "_windows",
        "account",
        "amount",
        "country",
        "entry",
        "reporting_currency",
        "sanctions",
        "tx",
    )

    def __init__(
        self,
        tx: Transaction,
        amount: Decimal | None,  # in the reporting currency; None: no rate for its currency
        entry: Entry,
        account: AccountState,
        reporting_currency: str,
        sanctions: CounterpartyScreen | None = None,
        country: str | None = None,  # the counterparty's (``Transaction.country``), once
    ) -> None:
        self.tx = tx
        self.amount = amount
        self.entry = entry
        self.account = account
        self.reporting_currency = reporting_currency
        self.sanctions = sanctions
        self.country = country
        self._windows: dict[int, list[Entry]] = {}

    def window(self, length_ms: int) -> list[Entry]:
        """The account's entries in the window of this length ending at its latest booking
        (for a payment that arrives late, the window it falls in with those booked after
        it); computed once per length and transaction."""
        found = self._windows.get(length_ms)
        if found is None:
            latest = max(self.entry.booked_ms, self.account.entries[-1].booked_ms)
            found = self._windows[length_ms] = self.account.window(latest, length_ms)
        return found


@dataclass(frozen=True)
class Finding:
    """A rule fired: the transactions behind it and why, in one sentence for an officer."""

    transactions: tuple[str, ...]
    reason: str
    inputs: dict[str, str | None] = field(default_factory=dict)


def money(amount: float | Decimal, currency: str) -> str:
    return f"{amount:,.2f} {currency}"


def ids(entries: list[Entry]) -> tuple[str, ...]:
    return tuple(e.transaction_id for e in entries)
