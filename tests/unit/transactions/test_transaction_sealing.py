"""A payment's personal fields (who the other side is, the reference) are sealed with its
account's key on the wire; the screener's reader opens them as the codec would, keeps the
counterparty in its state only as a pseudonym under that key, seals what it publishes, and
refuses a payment whose account or owner was erased. Records written before the fields were
marked still read."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from compliance.codec import SchemaRegistry, bundled_schema_sources, registry
from compliance.config import PROJECT_ROOT, Settings
from compliance.erased_subjects import KIND as SUBJECT_ERASED
from compliance.errors import PoisonMessage
from compliance.processors.classifier import classify_arrival
from compliance.processors.transaction_screener import TransactionScreener
from compliance.publisher import arrival_event
from compliance.sealing import ERASED, PREFIX, personal_field_names
from compliance.transactions.account import AccountState
from compliance.transactions.model import Transaction, transaction_record
from compliance.transactions.ruleset import TransactionRules
from compliance.transactions.sanctions import ListsScreen
from compliance.transactions.wire import TransactionReader
from tests.unit.test_sealing import DictKeyring

NAME = "Kim Jong Un"  # on the bundled lists: the screener's sanctions rule fires on it
IBAN = "DE44500105175407324931"
REFERENCE = "rent March, flat 4B"


def payment(n: int = 1, **fields: Any) -> Transaction:
    values: dict[str, Any] = {
        "transaction_id": f"tx-{n}",
        "booked_at": datetime(2026, 3, 2, 9, n % 60, tzinfo=UTC),
        "amount": Decimal("9500.00"),
        "currency": "EUR",
        "direction": "out",
        "account_id": "ACC-1",
        "channel": "wire",
        "account_owner": "C-1",
        "counterparty_name": NAME,
        "counterparty_account": IBAN,
        "reference": REFERENCE,
    }
    values.update(fields)
    return Transaction(**values)


def wire(codec: SchemaRegistry, tx: Transaction) -> bytes:
    return codec.encode("TransactionSubmitted", transaction_record(tx, source_system="test"))


@pytest.fixture
def keyring() -> DictKeyring:
    return DictKeyring()


@pytest.fixture
def codec(keyring: DictKeyring) -> SchemaRegistry:
    return registry().with_keyring(keyring)


def test_who_the_other_side_is_and_the_reference_are_marked_personal() -> None:
    schema = registry().by_type["TransactionSubmitted"]
    assert personal_field_names(schema.parsed) == {
        "counterparty_name",
        "counterparty_account",
        "reference",
    }


def test_a_sealed_payment_carries_none_of_them_and_reads_as_the_codec_reads_it(
    codec: SchemaRegistry,
) -> None:
    data = wire(codec, payment())
    for plain in (NAME, IBAN, REFERENCE, "rent"):
        assert plain.encode() not in data
    read = TransactionReader(codec).payment(data)
    assert read.record == codec.decode(data)[1]
    assert not read.erased
    assert (read.tx.counterparty_name, read.tx.counterparty_account, read.tx.reference) == (
        NAME,
        IBAN,
        REFERENCE,
    )
    assert read.tx.country == "DE"  # from the opened IBAN


def test_the_payment_is_sealed_with_its_accounts_key(keyring: DictKeyring) -> None:
    record = transaction_record(payment(), source_system="test")
    assert record["envelope"]["subject_id"] == "ACC-1"
    data = wire(registry().with_keyring(keyring), payment())
    keyring.keys["ACC-1"] = b"\x01" * 32  # another key for the account: the values do not open
    with pytest.raises(PoisonMessage, match="sealed with another key"):
        TransactionReader(registry().with_keyring(keyring)).payment(data)


def test_an_altered_sealed_value_makes_the_payment_poison(codec: SchemaRegistry) -> None:
    data = bytearray(wire(codec, payment()))
    at = data.index(PREFIX.encode()) + len(PREFIX) + 30
    data[at] = ord("A") if data[at] != ord("A") else ord("B")
    with pytest.raises(PoisonMessage):
        TransactionReader(codec).payment(bytes(data))


def test_the_counterparty_is_a_pseudonym_equal_for_the_same_account_number_of_one_account(
    codec: SchemaRegistry,
) -> None:
    reader = TransactionReader(codec)
    first = reader.payment(wire(codec, payment(1))).tx
    spaced = reader.payment(
        wire(codec, payment(2, counterparty_account="de44 5001 0517 5407 324931"))
    )
    other = reader.payment(
        wire(codec, payment(3, counterparty_account="FR7630006000011234567890189"))
    )
    elsewhere = reader.payment(wire(codec, payment(4, account_id="ACC-2"))).tx
    by_name = reader.payment(wire(codec, payment(5, counterparty_account=None))).tx
    assert first.counterparty == spaced.tx.counterparty
    assert first.counterparty != other.tx.counterparty
    assert first.counterparty != elsewhere.counterparty  # another account's key
    for tx in (first, spaced.tx, other.tx, elsewhere, by_name):
        assert tx.counterparty.startswith("p1:")
        assert IBAN not in tx.counterparty and "kim" not in tx.counterparty.casefold()
    # Without keys (rule examples, backtests): the counterparty as it is.
    plain = TransactionReader(registry()).payment(wire(registry(), payment()))
    assert plain.tx.counterparty == IBAN


def test_a_payment_written_before_its_fields_were_marked_still_reads(
    codec: SchemaRegistry,
) -> None:
    sources = bundled_schema_sources()
    unmarked = json.loads(sources["transaction_submitted.avsc"])
    for field in unmarked["fields"]:
        field.pop("personal", None)
    before = SchemaRegistry(sources | {"transaction_submitted.avsc": json.dumps(unmarked)})
    assert before.by_type["TransactionSubmitted"].personal is None
    old = wire(before, payment())
    assert NAME.encode() in old  # plain, as producers wrote it then
    read = TransactionReader(codec).payment(old)
    assert read.record == registry().decode(old)[1]
    assert read.tx.counterparty_name == NAME and read.tx.counterparty.startswith("p1:")


def test_a_payment_of_an_erased_account_or_owner_is_marked_erased_and_stays_sealed(
    keyring: DictKeyring, codec: SchemaRegistry
) -> None:
    reader = TransactionReader(codec)
    sealed_before = wire(codec, payment(1))
    keyring.erase("ACC-1")
    read = reader.payment(sealed_before)
    assert read.erased
    assert read.record["counterparty_name"].startswith(PREFIX)
    late = reader.payment(wire(codec, payment(2)))  # produced after the erasure
    assert late.erased and late.record["counterparty_name"] == ERASED
    keyring.erase("C-2")
    owned = reader.payment(wire(codec, payment(3, account_id="ACC-3", account_owner="C-2")))
    assert owned.erased
    assert not reader.payment(wire(codec, payment(4, account_id="ACC-4"))).erased


def test_the_screener_seals_what_it_publishes_and_keeps_no_counterparty_in_its_state(
    rules: TransactionRules, lists: ListsScreen, codec: SchemaRegistry
) -> None:
    screener = TransactionScreener(rules, lists, codec)
    account = AccountState()
    published: list[bytes] = []
    for n in range(1, 4):
        data = wire(codec, payment(n))
        for out in screener(data, b"ACC-1", account):
            published.append(codec.encode(out.event_type, out.record))
    kinds = [registry().decode(p) for p in published]
    assert {t for t, _ in kinds} == {"CheckResult", "ComplianceException"}
    for event_type, record in kinds:  # as a reader without the key sees them
        if event_type == "CheckResult":
            assert all(v is None or v.startswith(PREFIX) for v in record["inputs"].values())
            assert record["explanation"].startswith(PREFIX)
        else:
            assert record["reason"].startswith(PREFIX)
            assert all(v is None or v.startswith(PREFIX) for v in record["details"].values())
    opened = [codec.decode(p)[1] for p in published]
    alerts = [r for r in opened if r.get("rule_id") == "tx.sanctioned-counterparty"]
    assert len(alerts) == 3  # one per payment to the listed name
    assert {a["details"]["counterparty_name"] for a in alerts} == {NAME}  # with the key
    for data in published:
        for plain in (NAME, IBAN, REFERENCE):
            assert plain.encode() not in data
    state = json.dumps(account.to_json())
    assert IBAN not in state and NAME.casefold() not in state.casefold()
    assert len({e.counterparty for e in account.entries}) == 1  # still one counterparty


def test_a_state_kept_before_payments_were_sealed_is_pseudonymised_at_its_next_payment(
    rules: TransactionRules, codec: SchemaRegistry
) -> None:
    # An account's history written by the screener before counterparties were pseudonymised
    # holds them plain: read with the key, the same counterparty must count once, and the
    # plain identity must leave the state (and so the changelog).
    plain_screener = TransactionScreener(rules, None, registry())
    account = AccountState()
    plain_screener(wire(registry(), payment(1)), b"ACC-1", account)
    old = json.dumps(account.to_json())
    assert IBAN in old  # the plain identity, as states before the change kept it
    restored = AccountState.from_json(json.loads(old))
    TransactionScreener(rules, None, codec)(wire(codec, payment(2)), b"ACC-1", restored)
    state = json.dumps(restored.to_json())
    assert IBAN not in state and NAME.casefold() not in state.casefold()
    assert len(restored.entries) == 2
    assert len({e.counterparty for e in restored.entries}) == 1  # one counterparty, not two
    assert restored.pseudonymised
    again = AccountState.from_json(json.loads(state))
    TransactionScreener(rules, None, codec)(wire(codec, payment(3)), b"ACC-1", again)
    assert len({e.counterparty for e in again.entries}) == 1  # pseudonyms are not hashed twice


def test_the_screener_refuses_a_payment_of_an_erased_subject_and_forgets_the_account(
    rules: TransactionRules, keyring: DictKeyring, codec: SchemaRegistry
) -> None:
    screener = TransactionScreener(rules, None, codec)
    account = AccountState()
    screener(wire(codec, payment(1)), b"ACC-1", account)
    assert account.entries
    keyring.erase("ACC-1")
    (out,) = screener(wire(codec, payment(2)), b"ACC-1", account)
    assert out.record["kind"] == SUBJECT_ERASED
    assert account.to_json() == AccountState().to_json()
    encoded = codec.encode(out.event_type, out.record)
    assert codec.decode(encoded)[1]["reason"] == ERASED


def test_the_lines_of_an_mt940_statement_are_published_sealed_with_their_accounts_key(
    codec: SchemaRegistry,
) -> None:
    statement = PROJECT_ROOT / "samples" / "documents" / "statement_abnamro.sta"
    arrival = arrival_event(statement, source_system="test", customer_id="C-7")
    outputs = classify_arrival(Settings(), "DocumentArrived", arrival)
    lines = [o.record for o in outputs if o.event_type == "TransactionSubmitted"]
    assert lines and {r["envelope"]["subject_id"] for r in lines} == {"517852257"}
    reader = TransactionReader(codec)
    for record in lines:
        data = codec.encode("TransactionSubmitted", record)  # as the classifier's runner does
        assert record["reference"] and record["reference"].encode() not in data
        assert reader.payment(data).tx.reference == record["reference"]
