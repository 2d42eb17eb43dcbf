"""CSV sources of payments: our canonical CSV, any CSV through a column mapping, AMLSim's
output and IBM's synthetic AML transactions, each read into the payments it books."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from compliance.config import PROJECT_ROOT
from compliance.transactions.sources import SourceError, read_csv

SAMPLES = PROJECT_ROOT / "samples" / "transactions"


def test_the_canonical_demo_stream_reads_every_field() -> None:
    payments = list(read_csv(SAMPLES / "canonical_demo.csv"))
    assert len(payments) == 8
    wire = next(p for p in payments if p.transaction_id == "demo-004")
    assert wire.amount == Decimal("48250.00") and wire.currency == "USD"
    assert wire.direction == "out" and wire.channel == "wire"
    assert wire.counterparty_bic == "KKBCKPPYXXX" and wire.country == "KP"
    assert wire.booked_at == datetime(2026, 3, 2, 12, 2, tzinfo=UTC)
    assert wire.counterparty_account is None


def test_an_ibm_row_is_two_payments_in_their_own_currencies_with_the_label() -> None:
    payments = list(read_csv(SAMPLES / "ibm_aml_sample.csv"))
    assert len(payments) == 16
    out, into = payments[-2:]
    assert (out.transaction_id, into.transaction_id) == ("ibm-9:out", "ibm-9:in")
    assert (out.account_id, out.amount, out.currency) == (
        "001-8000ECA90",
        Decimal("10363.80"),
        "USD",
    )
    assert (into.account_id, into.amount, into.currency) == (
        "0116-80A3F8BA0",
        Decimal("8974.25"),
        "EUR",
    )
    assert out.counterparty_account == into.account_id and out.channel == "wire"
    assert into.reference == "Is Laundering=1"
    assert out.booked_at == datetime(2022, 9, 1, 0, 16, tzinfo=UTC)


def test_amlsim_transfers_book_out_and_in_and_cash_books_by_its_type() -> None:
    transfers = list(read_csv(SAMPLES / "amlsim_transactions.csv"))
    first_out, first_in = transfers[:2]
    assert first_out.direction == "out" and first_out.account_id == "15"
    assert first_in.direction == "in" and first_in.account_id == "25"
    assert first_out.channel == "cheque" and first_out.currency == "USD"
    assert first_out.booked_at == datetime(2017, 1, 2, tzinfo=UTC)  # day 1 after day zero
    cash = list(read_csv(SAMPLES / "amlsim_cash_tx.csv", currency="EUR"))
    assert {c.channel for c in cash} == {"cash"} and {c.currency for c in cash} == {"EUR"}
    assert {c.direction for c in cash} <= {"in", "out"}


def test_any_csv_reads_through_a_column_mapping(tmp_path: Path) -> None:
    theirs = tmp_path / "export.csv"
    theirs.write_text(
        "Ref,Date,Value,Ccy,DC,Acct,Type,Payee\n"
        "A-1,2026-03-02 09:00,9500.00,EUR,in,ACC-9,cash,\n"
        "A-2,2026-03-02 10:00,120.50,EUR,out,ACC-9,card,Corner Shop\n",
        encoding="utf-8",
    )
    mapping = {
        "transaction_id": "Ref",
        "booked_at": "Date",
        "amount": "Value",
        "currency": "Ccy",
        "direction": "DC",
        "account_id": "Acct",
        "channel": "Type",
        "counterparty_name": "Payee",
    }
    payments = list(read_csv(theirs, mapping=mapping))
    assert [p.transaction_id for p in payments] == ["A-1", "A-2"]
    assert payments[1].counterparty_name == "Corner Shop" and payments[0].counterparty_name is None
    with pytest.raises(SourceError, match="fields we do not have: colour"):
        list(read_csv(theirs, mapping={**mapping, "colour": "Type"}))
    with pytest.raises(SourceError, match="no column 'Beneficiary'"):
        list(read_csv(theirs, mapping={**mapping, "counterparty_name": "Beneficiary"}))


def test_a_bad_row_stops_the_reading_with_its_line_number(tmp_path: Path) -> None:
    file = tmp_path / "ours.csv"
    file.write_text(
        "transaction_id,booked_at,amount,currency,direction,account_id,channel\n"
        "t-1,2026-03-02T09:00:00,100,EUR,in,ACC-1,wire\n"
        "t-2,2026-03-02T09:05:00,-5,EUR,in,ACC-1,wire\n",
        encoding="utf-8",
    )
    with pytest.raises(SourceError, match="line 3: amount '-5' is not a positive amount"):
        list(read_csv(file))


def test_a_file_said_to_be_ibm_must_have_its_header(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="not the IBM AML header"):
        list(read_csv(SAMPLES / "canonical_demo.csv", format="ibm"))
