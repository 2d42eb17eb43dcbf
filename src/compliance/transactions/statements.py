"""The booked lines of an MT940 bank statement, as payments on the statement's account.

A bank statement the classifier reads is a document like any other; when it is an MT940
statement (SWIFT's customer statement message), each ``:61:`` line is also a payment that
was booked on the account named in ``:25:``, and is published on ``transactions.submitted``
so the transaction rules judge it. Parsing is the ``mt-940`` library's.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from decimal import Decimal

import mt940

from compliance.codec import Record
from compliance.events import envelope
from compliance.outgoing import Outgoing
from compliance.topics import TRANSACTIONS_SUBMITTED
from compliance.transactions.model import EVENT_TYPE, Transaction, transaction_record

log = logging.getLogger(__name__)
STAGE = "classifier"
# The SWIFT transaction type of a :61: line (its last three letters) -> our channel.
CHANNELS = {
    "TRF": "transfer",
    "CHK": "cheque",
    "DDT": "direct_debit",
    "STO": "standing_order",
    "CHG": "charges",
    "INT": "interest",
    "DIV": "dividend",
    "CMI": "card",
    "POS": "card",
    "ATM": "cash",
    "CSH": "cash",
}


def is_mt940(text: str) -> bool:
    return ":20:" in text and ":25:" in text and ":61:" in text


def _day(value: date | None) -> datetime | None:
    return None if value is None else datetime(value.year, value.month, value.day, tzinfo=UTC)


def statement_lines(text: str, document_id: str, owner: str | None) -> list[Transaction]:
    """Every booked line of the statement(s) in ``text``; ids are the document's and the
    line's number, so the same statement read again gives the same payments."""
    statements = mt940.models.Transactions()
    statements.parse(text)
    account = str(statements.data.get("account_identification") or "").strip()
    lines = []
    for number, line in enumerate(statements.transactions, 1):
        data = line.data
        amount = data.get("amount")
        booked = _day(data.get("entry_date")) or _day(data.get("date"))
        line_account = str(data.get("account_identification") or account).strip()
        if amount is None or booked is None or not line_account or amount.amount == 0:
            continue
        kind = str(data.get("id") or "")[-3:].upper()
        details = " ".join(str(data.get("transaction_details") or "").split())
        lines.append(
            Transaction(
                transaction_id=f"{document_id}:line-{number}",
                booked_at=booked,
                amount=abs(Decimal(str(amount.amount))),
                currency=str(amount.currency or data.get("currency") or "").upper(),
                direction="out" if amount.amount < 0 else "in",
                account_id=line_account,
                channel=CHANNELS.get(kind, "statement"),
                account_owner=owner,
                reference=details[:500] or None,
            )
        )
    return lines


def statement_transactions(arrival: Record, text: str) -> list[Outgoing]:
    """The ``TransactionSubmitted`` events of an MT940 statement's lines, caused by its
    arrival and keyed by the statement's account; none for any other document."""
    if not is_mt940(text):
        return []
    try:
        lines = statement_lines(text, arrival["document_id"], arrival["customer_id"])
    except Exception as exc:  # the library raises several types on a malformed statement
        # The parser's message may quote the statement's lines: only its type is logged.
        log.info(
            "document %s: MT940 lines not read (%s)", arrival["document_id"], type(exc).__name__
        )
        return []
    parent = arrival["envelope"]["event_id"]
    outputs = []
    for tx in lines:
        record = transaction_record(tx, source_system="bank-statement")
        record["envelope"] = envelope(
            event_type=EVENT_TYPE,
            stage=STAGE,
            cause=parent,
            discriminator=tx.transaction_id,
            correlation_id=tx.transaction_id,
            subject_id=tx.account_id,
            causation_id=parent,
        )
        outputs.append(Outgoing(TRANSACTIONS_SUBMITTED.name, EVENT_TYPE, record))
    return outputs
