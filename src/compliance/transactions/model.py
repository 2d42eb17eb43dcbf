"""A payment as the screener reads it: the ``TransactionSubmitted`` record, validated.

Anything a rule could not read (an amount that is not a positive decimal, a currency that is
not three letters, a direction other than in/out) is a content error: ``PoisonMessage`` with
the reason, so the record goes to the dead-letter topic once and the stream goes on.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from compliance.codec import Record
from compliance.errors import PoisonMessage
from compliance.events import envelope
from compliance.screening.countries import country_code

EVENT_TYPE = "TransactionSubmitted"
DIRECTIONS = ("in", "out")
_CURRENCY = re.compile(r"[A-Z]{3}")
_BIC = re.compile(r"[A-Z]{4}([A-Z]{2})[A-Z0-9]{2}([A-Z0-9]{3})?")
_IBAN = re.compile(r"([A-Z]{2})[0-9]{2}[A-Z0-9]{8,30}")
MAX_AMOUNT = Decimal("1e15")


@dataclass(frozen=True, slots=True)
class Transaction:
    transaction_id: str
    booked_at: datetime
    amount: Decimal
    currency: str
    direction: str  # "in": credited to the account; "out": debited from it
    account_id: str
    channel: str
    account_owner: str | None = None
    counterparty_name: str | None = None
    counterparty_account: str | None = None
    counterparty_country: str | None = None
    counterparty_bic: str | None = None
    reference: str | None = None
    # The counterparty's pseudonym under the account's key, when read with one: what the
    # screener's state keeps instead of the counterparty's account or name.
    counterparty_ref: str | None = None

    @property
    def booked_ms(self) -> int:
        return int(self.booked_at.timestamp() * 1000)

    @property
    def counterparty(self) -> str:
        """Who the other side is, for counting distinct counterparties: its pseudonym when
        the payment was read with the account's key, else ``counterparty_identity``."""
        if self.counterparty_ref is not None:
            return self.counterparty_ref
        return counterparty_identity(self.counterparty_account, self.counterparty_name)

    @property
    def country(self) -> str | None:
        """The other side's country, ISO alpha-2: as given, else from its BIC or IBAN."""
        if self.counterparty_country:
            given = self.counterparty_country.strip()
            return country_code(given) or given.upper()
        bic = _BIC.fullmatch((self.counterparty_bic or "").replace(" ", "").upper())
        if bic:
            return bic.group(1)
        iban = _IBAN.fullmatch((self.counterparty_account or "").replace(" ", "").upper())
        return iban.group(1) if iban else None


def counterparty_identity(account: str | None, name: str | None) -> str:
    """The account number when given, else the name folded to lower case, else nothing."""
    if account:
        return account.replace(" ", "").upper()
    return " ".join((name or "").casefold().split())


def parse_amount(text: str) -> Decimal:
    try:
        amount = Decimal(text.strip())
    except (InvalidOperation, AttributeError):
        raise PoisonMessage(f"amount {text!r} is not a decimal number") from None
    if not amount.is_finite() or amount <= 0 or amount >= MAX_AMOUNT:
        raise PoisonMessage(f"amount {text!r} is not a positive amount below 10^15")
    return amount


def read_transaction(record: Record, pseudonym: Callable[[str], str] | None = None) -> Transaction:
    """The transaction in a decoded record; ``PoisonMessage`` saying what is wrong with it.
    ``pseudonym``: the counterparty's identity is kept only as what it gives."""
    currency = str(record["currency"]).strip().upper()
    if not _CURRENCY.fullmatch(currency):
        raise PoisonMessage(f"currency {record['currency']!r} is not an ISO 4217 code")
    direction = str(record["direction"]).strip().lower()
    if direction not in DIRECTIONS:
        raise PoisonMessage(f"direction {record['direction']!r} is neither 'in' nor 'out'")
    for name in ("transaction_id", "account_id", "channel"):
        if not str(record[name]).strip():
            raise PoisonMessage(f"{name} is empty")
    booked_at = record["booked_at"]
    if booked_at.tzinfo is None:
        booked_at = booked_at.replace(tzinfo=UTC)
    ref = None
    if pseudonym is not None:
        identity = counterparty_identity(
            record.get("counterparty_account"), record.get("counterparty_name")
        )
        ref = pseudonym(identity) if identity else ""
    return Transaction(
        transaction_id=record["transaction_id"],
        booked_at=booked_at,
        amount=parse_amount(record["amount"]),
        currency=currency,
        direction=direction,
        account_id=record["account_id"],
        channel=str(record["channel"]).strip().lower(),
        account_owner=record.get("account_owner"),
        counterparty_name=record.get("counterparty_name"),
        counterparty_account=record.get("counterparty_account"),
        counterparty_country=record.get("counterparty_country"),
        counterparty_bic=record.get("counterparty_bic"),
        reference=record.get("reference"),
        counterparty_ref=ref,
    )


def transaction_record(tx: Transaction, *, source_system: str) -> Record:
    """The ``TransactionSubmitted`` event of a payment. Its event id depends on the source
    system and the transaction id only: publishing the same payment again (a replay, a
    retry) gives the same event, which the screener and the audit trail take once."""
    return {
        "envelope": envelope(
            event_type=EVENT_TYPE,
            stage="publisher",
            cause=f"{source_system}/{tx.transaction_id}",
            correlation_id=tx.transaction_id,
            subject_id=tx.account_id,
            causation_id=None,
        ),
        "transaction_id": tx.transaction_id,
        "booked_at": tx.booked_at,
        "amount": str(tx.amount),
        "currency": tx.currency,
        "direction": tx.direction,
        "account_id": tx.account_id,
        "account_owner": tx.account_owner,
        "counterparty_name": tx.counterparty_name,
        "counterparty_account": tx.counterparty_account,
        "counterparty_country": tx.counterparty_country,
        "counterparty_bic": tx.counterparty_bic,
        "channel": tx.channel,
        "reference": tx.reference,
    }
