"""An MT940 bank statement the classifier reads also publishes its booked lines as payments
on the statement's account, which the screener can read."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from compliance.codec import registry
from compliance.config import PROJECT_ROOT, Settings
from compliance.events import subject_key
from compliance.processors.classifier import classify_arrival
from compliance.processors.transaction_screener import read
from compliance.publisher import arrival_event
from compliance.transactions.statements import statement_lines

STATEMENT = PROJECT_ROOT / "samples" / "documents" / "statement_abnamro.sta"


def test_every_booked_line_of_the_statement_is_a_payment_on_its_account() -> None:
    lines = statement_lines(STATEMENT.read_text(encoding="utf-8"), "doc-1", "C-7")
    assert len(lines) == 10
    first = lines[0]
    assert first.transaction_id == "doc-1:line-1" and first.account_id == "517852257"
    assert (first.amount, first.currency, first.direction) == (Decimal("9"), "EUR", "out")
    assert first.booked_at == datetime(2011, 5, 24, tzinfo=UTC)
    assert first.reference and first.reference.startswith("GIRO 428428 KPN - DIGITENNE")
    assert {line.account_owner for line in lines} == {"C-7"}


def test_a_classified_mt940_statement_publishes_its_lines_for_the_screener() -> None:
    arrival = arrival_event(STATEMENT, source_system="test", customer_id="C-7")
    outputs = classify_arrival(Settings(), "DocumentArrived", arrival)
    payments = [o for o in outputs if o.event_type == "TransactionSubmitted"]
    assert outputs[0].record["document_type"] == "bank_statement"
    assert len(payments) == 10
    assert {o.topic for o in payments} == {"transactions.submitted"}
    value = registry().encode("TransactionSubmitted", payments[0].record)
    key = subject_key(payments[0].record)
    assert key == b"517852257"
    _, tx = read(value, key)
    assert tx.transaction_id == f"{arrival['document_id']}:line-1"


def test_a_document_that_is_not_mt940_publishes_no_payments() -> None:
    arrival = arrival_event(
        PROJECT_ROOT / "samples" / "documents" / "utility_bill_halvorsen.txt", source_system="t"
    )
    outputs = classify_arrival(Settings(), "DocumentArrived", arrival)
    assert [o for o in outputs if o.event_type == "TransactionSubmitted"] == []
