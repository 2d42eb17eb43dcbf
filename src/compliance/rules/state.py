"""Per-customer facts the stateful checks read: the customer's earlier documents and the
consents they gave or withdrew. Plain values; ``store`` keeps them in PostgreSQL.

Decisions are made *as of* the input event's time: only documents classified before it and
consent statements effective at it count, so reprocessing an input after a crash, or
backtesting it later, sees the same state it saw the first time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class CustomerDocument:
    """What an earlier document of the customer said about them."""

    event_id: str  # the DocumentClassified event: the row's identity
    document_id: str
    document_type: str
    occurred_at: datetime
    full_name: str | None = None
    date_of_birth: str | None = None
    address: str | None = None

    def value(self, attribute: str) -> str | None:
        value: str | None = getattr(self, attribute)
        return value


@dataclass(frozen=True)
class ConsentStatement:
    """One consent event: a grant (given_at), possibly with an expiry, or a withdrawal."""

    event_id: str
    consent_id: str
    purpose: str
    lawful_basis: str
    recorded_at: datetime
    given_at: datetime | None = None
    expires_at: datetime | None = None
    withdrawn_at: datetime | None = None


@dataclass(frozen=True)
class CustomerState:
    documents: tuple[CustomerDocument, ...] = ()
    consents: tuple[ConsentStatement, ...] = ()


NO_STATE = CustomerState()
