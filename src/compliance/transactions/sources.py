"""Transactions from CSV files, for replays, backtests, demos and benchmarks.

Formats (``read_csv``; ``auto`` tells them apart by their header):

- ``canonical``: our own columns, named as the event's fields (see ``CANONICAL``);
  ``booked_at`` ISO 8601 (UTC when no zone), ``amount`` a positive decimal, ``direction``
  in/out. Any other CSV is read as canonical after renaming its columns with ``mapping``
  (``--map our_field=their_column``).
- ``amlsim``: IBM AMLSim's output, ``transactions.csv`` (TXN_ID, ACCOUNT_ID,
  COUNTER_PARTY_ACCOUNT_NUM, TXN_SOURCE_TYPE_CODE, TXN_AMOUNT_ORIG, start: a day number) or
  ``cash_tx.csv`` (CASH-IN / CASH-OUT). A transfer between two accounts is two payments,
  out of the sender's account and into the receiver's; days count from ``start``.
- ``ibm``: IBM's synthetic AML transactions (``HI-Small_Trans.csv`` and its siblings):
  ``Timestamp,From Bank,Account,To Bank,Account,Amount Received,Receiving Currency,Amount
  Paid,Payment Currency,Payment Format,Is Laundering``; also two payments per row, the
  transaction id is the row's line number, and the label goes into the reference.

A row that cannot be read stops the reading with its line number: a replay is all or
nothing up to that line.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from compliance.errors import ComplianceError, PoisonMessage
from compliance.transactions.model import Transaction, parse_amount

CANONICAL = (
    "transaction_id",
    "booked_at",
    "amount",
    "currency",
    "direction",
    "account_id",
    "channel",
    "account_owner",
    "counterparty_name",
    "counterparty_account",
    "counterparty_country",
    "counterparty_bic",
    "reference",
)
REQUIRED = CANONICAL[:7]
FORMATS = ("auto", "canonical", "amlsim", "ibm")
IBM_HEADER = [
    "Timestamp",
    "From Bank",
    "Account",
    "To Bank",
    "Account",
    "Amount Received",
    "Receiving Currency",
    "Amount Paid",
    "Payment Currency",
    "Payment Format",
    "Is Laundering",
]
IBM_CURRENCIES = {
    "US Dollar": "USD",
    "Euro": "EUR",
    "UK Pound": "GBP",
    "Swiss Franc": "CHF",
    "Yuan": "CNY",
    "Yen": "JPY",
    "Rupee": "INR",
    "Ruble": "RUB",
    "Australian Dollar": "AUD",
    "Canadian Dollar": "CAD",
    "Mexican Peso": "MXN",
    "Brazil Real": "BRL",
    "Saudi Riyal": "SAR",
    "Shekel": "ILS",
    "Bitcoin": "XBT",
}
AMLSIM_CHANNELS = {"CHECK": "cheque", "CREDIT": "card", "WIRE": "wire", "DEPOSIT": "deposit"}


class SourceError(ComplianceError):
    """A file that cannot be read as transactions: the line and why."""


def _moment(text: str) -> datetime:
    text = text.strip()
    for pattern in ("%Y/%m/%d %H:%M", "%Y/%m/%d %H:%M:%S"):
        try:
            return datetime.strptime(text, pattern).replace(tzinfo=UTC)
        except ValueError:
            pass
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _canonical(row: Mapping[str, str]) -> Transaction:
    missing = [f for f in REQUIRED if not (row.get(f) or "").strip()]
    if missing:
        raise ValueError(f"no {', '.join(missing)}")

    def optional(name: str) -> str | None:
        return (row.get(name) or "").strip() or None

    return Transaction(
        transaction_id=row["transaction_id"].strip(),
        booked_at=_moment(row["booked_at"]),
        amount=parse_amount(row["amount"]),
        currency=row["currency"].strip().upper(),
        direction=row["direction"].strip().lower(),
        account_id=row["account_id"].strip(),
        channel=row["channel"].strip().lower(),
        account_owner=optional("account_owner"),
        counterparty_name=optional("counterparty_name"),
        counterparty_account=optional("counterparty_account"),
        counterparty_country=optional("counterparty_country"),
        counterparty_bic=optional("counterparty_bic"),
        reference=optional("reference"),
    )


def _legs(
    tx_id: str,
    at: datetime,
    payer: str,
    payee: str,
    paid: tuple[Decimal, str],
    received: tuple[Decimal, str],
    channel: str,
    reference: str | None = None,
) -> Iterator[Transaction]:
    """A transfer between two accounts as the two payments each account books."""
    for direction, account, other, (amount, currency) in (
        ("out", payer, payee, paid),
        ("in", payee, payer, received),
    ):
        yield Transaction(
            transaction_id=f"{tx_id}:{direction}",
            booked_at=at,
            amount=amount,
            currency=currency,
            direction=direction,
            account_id=account,
            channel=channel,
            counterparty_account=other,
            reference=reference,
        )


def _amlsim(row: Mapping[str, str], start: datetime, currency: str) -> Iterator[Transaction]:
    amount = parse_amount(row["TXN_AMOUNT_ORIG"])
    code = row["TXN_SOURCE_TYPE_CODE"].strip().upper()
    if "COUNTER_PARTY_ACCOUNT_NUM" in row:
        at = start + timedelta(days=int(row["start"]))
        channel = AMLSIM_CHANNELS.get(code, code.lower())
        payer, payee = row["ACCOUNT_ID"].strip(), row["COUNTER_PARTY_ACCOUNT_NUM"].strip()
        yield from _legs(
            f"amlsim-{row['TXN_ID']}",
            at,
            payer,
            payee,
            (amount, currency),
            (amount, currency),
            channel,
        )
        return
    if code not in ("CASH-IN", "CASH-OUT"):
        raise ValueError(f"cash transaction type {code!r} is neither CASH-IN nor CASH-OUT")
    yield Transaction(
        transaction_id=f"amlsim-cash-{row['TXN_ID']}",
        booked_at=start + timedelta(days=int(row["RUN_DATE"])),
        amount=amount,
        currency=currency,
        direction="in" if code == "CASH-IN" else "out",
        account_id=row["ACCOUNT_ID"].strip(),
        channel="cash",
        reference=f"branch {row.get('BRANCH_ID', '').strip()}",
    )


def _ibm(line: int, row: list[str]) -> Iterator[Transaction]:
    at, from_bank, from_acc, to_bank, to_acc, received, r_cur, paid, p_cur, how, label = row

    def currency(name: str) -> str:
        code = IBM_CURRENCIES.get(name.strip())
        if code is None:
            raise ValueError(f"unknown currency {name!r}")
        return code

    yield from _legs(
        f"ibm-{line}",
        _moment(at),
        f"{from_bank.strip()}-{from_acc.strip()}",
        f"{to_bank.strip()}-{to_acc.strip()}",
        (parse_amount(paid), currency(p_cur)),
        (parse_amount(received), currency(r_cur)),
        how.strip().lower().replace(" ", "_"),
        reference=f"Is Laundering={label.strip()}",
    )


def detect(header: list[str]) -> str:
    if [h.strip() for h in header] == IBM_HEADER:
        return "ibm"
    if "TXN_AMOUNT_ORIG" in header:
        return "amlsim"
    return "canonical"


def read_csv(
    path: Path,
    *,
    format: str = "auto",
    mapping: Mapping[str, str] | None = None,
    start: datetime = datetime(2017, 1, 1, tzinfo=UTC),
    currency: str = "USD",
) -> Iterator[Transaction]:
    """The payments in a CSV file, in file order. ``mapping``: our field -> their column
    (implies the canonical format); ``start`` and ``currency``: AMLSim's day zero and the
    currency of its amounts (it has none)."""
    if format not in FORMATS:
        raise SourceError(f"unknown format {format!r}; one of {', '.join(FORMATS)}")
    with path.open(newline="", encoding="utf-8-sig") as file:
        reader = csv.reader(file)
        header = next(reader, None)
        if header is None:
            raise SourceError(f"{path} is empty")
        chosen = "canonical" if mapping else (detect(header) if format == "auto" else format)
        if mapping:
            unknown = sorted(set(mapping) - set(CANONICAL))
            if unknown:
                raise SourceError(f"--map names fields we do not have: {', '.join(unknown)}")
            absent = sorted(set(mapping.values()) - set(header))
            if absent:
                raise SourceError(f"{path} has no column {', '.join(map(repr, absent))}")
        if chosen == "ibm" and [h.strip() for h in header] != IBM_HEADER:
            raise SourceError(f"{path}: not the IBM AML header ({','.join(IBM_HEADER)})")
        columns = {their: ours for ours, their in (mapping or {}).items()}
        for line, values in enumerate(reader, start=2):
            if not values:
                continue
            try:
                if chosen == "ibm":
                    yield from _ibm(line, values)
                    continue
                row = dict(zip(header, values, strict=True))
                if chosen == "amlsim":
                    yield from _amlsim(row, start, currency)
                else:
                    renamed = {columns.get(k, k): v for k, v in row.items()}
                    yield _canonical(renamed)
            except (ValueError, KeyError, PoisonMessage) as exc:
                raise SourceError(f"{path}, line {line}: {exc}") from None
