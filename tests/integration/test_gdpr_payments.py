"""`compliance gdpr erase <customer>` reaches every place the product keeps the personal data
of the customer's payments: the audit trail, every topic (payments, check results,
exceptions, dead letters, the screener's changelog), the screener's state on disk, and the
logs, which never held any. The counterparty's name and account and the reference are sealed
with the account's key from the moment they are published (by the publisher API and by
``compliance transactions replay``); the screener keeps counterparties only as pseudonyms
under that key; the erasure destroys the keys of the customer's accounts. A payment of the
account arriving later is refused with a ``subject_erased`` exception. Another customer's
payments are untouched."""

from __future__ import annotations

import logging
import random
import string
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from rocksdict import AccessType, Options, Rdict
from sqlalchemy import Engine

from compliance.audit.checkpoints import signing_key
from compliance.audit.verify import verify
from compliance.config import Settings
from compliance.erased_subjects import KIND as SUBJECT_ERASED
from compliance.publisher import Publisher
from compliance.sealing import ERASED
from compliance.transactions.model import Transaction
from compliance.transactions.sources import CANONICAL

from .conftest import LOG_DIR, Processes, compliance_cli, wait_for
from .test_gdpr_erasure import raw_topic_bytes, tables_holding
from .test_rules_checker import audited

log = logging.getLogger(__name__)
SCREENER = "transaction-screener"
LISTED_BANK = "Korea Kwangson Banking Corp"  # on the bundled lists: a sanctions alert
MONDAY = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Counterparty:
    """Whom a customer pays: random, so that it can be searched for byte by byte."""

    name: str
    iban: str
    reference: str

    @classmethod
    def random(cls, rng: random.Random) -> Counterparty:
        def letters(n: int) -> str:
            return "".join(rng.choice(string.ascii_uppercase) for _ in range(n))

        return cls(
            name=f"{letters(8).title()} {letters(9).title()}",
            iban="DE" + "".join(rng.choice(string.digits) for _ in range(20)),
            reference=f"invoice {letters(10)}",
        )

    def needles(self) -> list[str]:
        first, last = self.name.split()
        return [
            first,
            last,
            first.upper(),
            last.upper(),
            first.casefold(),
            last.casefold(),
            self.iban,
            self.iban[2:],
            self.reference.split()[1],
        ]


def payments(account: str, owner: str, party: Counterparty, prefix: str) -> list[Transaction]:
    def pay(n: int, **fields: object) -> Transaction:
        values: dict[str, object] = {
            "transaction_id": f"{prefix}{account}-{n}",
            "booked_at": MONDAY + timedelta(hours=n),
            "amount": Decimal("9500.00"),
            "currency": "EUR",
            "direction": "out",
            "account_id": account,
            "channel": "wire",
            "account_owner": owner,
            "counterparty_name": party.name,
            "counterparty_account": party.iban,
            "reference": f"{party.reference} part {n}",
        }
        values.update(fields)
        return Transaction(**values)  # type: ignore[arg-type]

    return [
        pay(1),
        pay(2, channel="cash", direction="in"),
        # A sanctions alert: the customer's counterparty in the exception's reason and details.
        pay(3, counterparty_name=f"{LISTED_BANK}", counterparty_account=party.iban),
        # Unreadable by the screener (not a currency): a dead letter with the record's bytes.
        pay(4, currency="EURO"),
    ]


def state_values(folder: Path) -> bytes:
    """Every key and value of every RocksDB store under ``folder`` (the screener's state),
    read with RocksDB itself: the files on disk are compressed."""
    found: list[bytes] = []
    for current in folder.rglob("CURRENT"):
        path = str(current.parent)
        families = Rdict.list_cf(path)
        options = Options(raw_mode=True)
        db = Rdict(
            path,
            options=options,
            access_type=AccessType.read_only(),
            column_families={name: Options(raw_mode=True) for name in families},
        )
        try:
            for name in families:
                family = db.get_column_family(name)
                for key, value in family.items():
                    found += [key, value]
        finally:
            db.close()
    assert found, f"no screener state under {folder}"
    return b"\x00".join(found)


def test_after_erasure_no_personal_value_of_a_customers_payments_is_readable_anywhere(
    settings: Settings, processes: Processes, engine: Engine, tmp_path: Path
) -> None:
    seed = random.randrange(2**32)
    log.warning("planted counterparties seed: %d", seed)
    rng = random.Random(seed)
    party, kept_party = Counterparty.random(rng), Counterparty.random(rng)
    customer, other = (f"C-{uuid.uuid4().hex[:8]}" for _ in range(2))
    account, kept_account = (f"ACC-{uuid.uuid4().hex[:8]}" for _ in range(2))
    prefix = settings.topic_prefix
    erased_payments = payments(account, customer, party, prefix)
    with Publisher(settings) as publisher:
        for tx in erased_payments:
            publisher.publish_transaction(tx, source_system="core-banking")
        for tx in payments(kept_account, other, kept_party, prefix)[:2]:
            publisher.publish_transaction(tx, source_system="core-banking")
    # One more payment of the customer through `compliance transactions replay`.
    replayed = tmp_path / "payments.csv"
    row = {
        "transaction_id": f"{prefix}{account}-replayed",
        "booked_at": (MONDAY + timedelta(hours=9)).isoformat(),
        "amount": "120.00",
        "currency": "EUR",
        "direction": "out",
        "account_id": account,
        "channel": "sepa",
        "account_owner": customer,
        "counterparty_name": party.name,
        "counterparty_account": party.iban,
        "counterparty_country": "DE",
        "counterparty_bic": "",
        "reference": f"{party.reference} replayed",
    }
    replayed.write_text(",".join(CANONICAL) + "\n" + ",".join(row[c] for c in CANONICAL) + "\n")
    result = compliance_cli(settings, "transactions", "replay", replayed)
    assert result.returncode == 0, result.stderr

    state = tmp_path / "screener-state"
    processes.start("audit-sink")
    processes.start(SCREENER, COMPLIANCE_TRANSACTIONS_STATE_DIR=str(state))
    screened = {tx.transaction_id for tx in erased_payments[:3]} | {row["transaction_id"]}

    def everything_recorded() -> bool:
        checked = {c["document_id"] for c in audited(engine, settings, "CheckResult")}
        alerts = [
            e
            for e in audited(engine, settings, "ComplianceException")
            if e["rule_id"] == "tx.sanctioned-counterparty"
        ]
        dead = audited(engine, settings, "DeadLetter")
        return (
            screened <= checked
            and any(e["envelope"]["subject_id"] == account for e in alerts)
            and any(d["envelope"]["subject_id"] == account for d in dead)
        )

    wait_for(
        everything_recorded, 120, "payments screened, alert and dead letter audited", processes
    )

    # Before: the data is there for those who hold the key, and only for them.
    recorded = [
        p
        for p in audited(engine, settings, "TransactionSubmitted")
        if p["envelope"]["subject_id"] == account
    ]
    assert {p["counterparty_account"] for p in recorded} == {party.iban}
    assert party.name in {p["counterparty_name"] for p in recorded}
    alert = next(
        e
        for e in audited(engine, settings, "ComplianceException")
        if e["envelope"]["subject_id"] == account and e["rule_id"] == "tx.sanctioned-counterparty"
    )
    assert alert["details"]["counterparty_name"] == LISTED_BANK
    needles = [*party.needles(), LISTED_BANK]
    on_kafka = raw_topic_bytes(settings)
    changelogs = [t for t in on_kafka if "changelog" in t]
    assert changelogs and any(on_kafka[t] for t in changelogs), "the screener's state changelog"
    leaks = {(t, n) for t, data in on_kafka.items() for n in needles if n.encode() in data}
    assert not leaks, f"personal data travelled in plain text: {sorted(leaks)}"

    result = compliance_cli(settings, "gdpr", "erase", customer)
    assert result.returncode == 0, result.stderr
    assert account in result.stdout and kept_account not in result.stdout

    # A payment of the erased customer's account arriving later is refused, naming only ids.
    late = payments(account, customer, party, prefix + "late-")[0]
    with Publisher(settings) as publisher:
        publisher.publish_transaction(late, source_system="core-banking")

    def refused() -> bool:
        return any(
            e["kind"] == SUBJECT_ERASED and e["envelope"]["correlation_id"] == late.transaction_id
            for e in audited(engine, settings, "ComplianceException")
        )

    wait_for(refused, 90, "the late payment refused", processes)
    checked = {c["document_id"] for c in audited(engine, settings, "CheckResult")}
    assert late.transaction_id not in checked
    processes.stop_all()  # their logs complete, the state store closed

    # After: nowhere readable.
    on_kafka = raw_topic_bytes(settings)
    leaks = {(t, n) for t, data in on_kafka.items() for n in needles if n.encode() in data}
    assert not leaks, f"readable on Kafka: {sorted(leaks)}"
    ours = f"AND r.topic LIKE '{prefix}%'"
    assert [t for t in tables_holding(engine, needles, ours) if t.startswith("audit_")] == []
    assert tables_holding(engine, party.needles(), ours) == []
    on_disk = state_values(state)
    assert not [n for n in needles if n.encode() in on_disk], "the screener's state"
    for p in audited(engine, settings, "TransactionSubmitted"):
        if p["envelope"]["subject_id"] == account:
            assert p["counterparty_name"] == p["counterparty_account"] == ERASED
            assert p["reference"] == ERASED
    for e in audited(engine, settings, "ComplianceException"):
        if e["envelope"]["subject_id"] == account:
            assert e["reason"] == e["details"] == ERASED
    for c in audited(engine, settings, "CheckResult"):
        if c["envelope"]["subject_id"] == account:
            assert c["inputs"] == c["explanation"] == ERASED
    dead = [
        d for d in audited(engine, settings, "DeadLetter") if d["envelope"]["subject_id"] == account
    ]
    assert dead and all(d["error"] == d["original_value"] == ERASED for d in dead)
    logs = {p.name: p.read_bytes() for p in LOG_DIR.glob(f"{prefix}*.log")}
    assert logs, "the processors' logs were captured"
    assert not {(f, n) for f, data in logs.items() for n in needles if n.encode() in data}
    # The decisions stay on record and verifiable; the other customer keeps everything.
    report = verify(engine, signing_key(settings), prefix)
    assert report.intact, report.findings
    kept = [
        p
        for p in audited(engine, settings, "TransactionSubmitted")
        if p["envelope"]["subject_id"] == kept_account
    ]
    assert kept and {p["counterparty_name"] for p in kept} == {kept_party.name}
