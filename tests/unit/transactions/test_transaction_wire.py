"""The screener's own reading of ``transactions.submitted`` gives exactly what the codec
gives, and refuses exactly what it refuses, with a reason."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from compliance.codec import registry
from compliance.errors import FieldOutOfBounds, PoisonMessage
from compliance.transactions.model import Transaction, transaction_record
from compliance.transactions.wire import TransactionReader


def payment(**fields: object) -> bytes:
    values: dict[str, object] = {
        "transaction_id": "tx-1",
        "booked_at": datetime(2026, 3, 2, 9, 5, 7, 123000, tzinfo=UTC),
        "amount": Decimal("9500.00"),
        "currency": "EUR",
        "direction": "in",
        "account_id": "ACC-1",
        "channel": "cash",
        "counterparty_name": "Anna Berg",
        "counterparty_account": "DE44500105175407324931",
        "reference": "rent März",
    }
    values.update(fields)
    return registry().encode(
        "TransactionSubmitted",
        transaction_record(Transaction(**values), source_system="test"),  # type: ignore[arg-type]
    )


def test_a_payment_reads_as_the_codec_reads_it_timestamps_included() -> None:
    data = payment()
    read = TransactionReader(registry())(data)
    assert read == registry().decode(data)[1]
    assert read["booked_at"] == datetime(2026, 3, 2, 9, 5, 7, 123000, tzinfo=UTC)


def test_trailing_bytes_and_a_cut_body_are_poison_with_a_reason() -> None:
    reader = TransactionReader(registry())
    with pytest.raises(PoisonMessage, match="trailing bytes"):
        reader(payment() + b"\x00")
    with pytest.raises(PoisonMessage, match="corrupt TransactionSubmitted"):
        reader(payment()[:-12])


def test_an_identifier_past_its_bound_or_holding_a_nul_is_poison() -> None:
    reader = TransactionReader(registry())
    with pytest.raises(FieldOutOfBounds, match="is 600 bytes, over its bound of 512"):
        reader(payment(transaction_id="t" * 600))
    with pytest.raises(FieldOutOfBounds, match="holds a NUL character"):
        reader(payment(account_id="ACC\x001"))
    assert reader(payment(transaction_id="t" * 500))["transaction_id"] == "t" * 500


def test_another_event_type_on_the_topic_is_poison() -> None:
    other = registry().encode(
        "DeadLetter",
        {
            "envelope": registry().decode(payment())[1]["envelope"],
            "source_topic": "x",
            "source_partition": 0,
            "source_offset": 1,
            "error_class": "PoisonMessage",
            "error": "e",
            "failed_in": "s",
        },
    )
    with pytest.raises(PoisonMessage, match=r"does not belong on transactions\.submitted"):
        TransactionReader(registry())(other)


def test_a_payment_whose_subject_is_not_its_account_is_poison() -> None:
    # Sealing, erasure and the window state all go by the account: a record naming another
    # subject would be opened and judged under one id and remembered under another.
    record = registry().decode(payment())[1]
    record["envelope"]["subject_id"] = "CUSTOMER-9"
    data = registry().encode("TransactionSubmitted", record)
    with pytest.raises(PoisonMessage, match="subject_id must be its account_id"):
        TransactionReader(registry())(data)
    assert TransactionReader(registry())(payment())["account_id"] == "ACC-1"
