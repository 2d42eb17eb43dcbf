"""`compliance gdpr erase` reaches every place the product keeps a subject's personal data:
the audit trail (crypto-shredded), the Kafka topics (personal fields sealed with the same key
by their producers), the checker's memory of the customer, Claude's cached answers for the
customer's documents, clearances and dead letters; the processors' logs never held any. A
document of the subject that arrives afterwards is refused, naming only the ids. Another
customer is untouched."""

from __future__ import annotations

import hashlib
import logging
import random
import string
import time
import uuid
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from confluent_kafka import Consumer, Producer, TopicPartition
from sqlalchemy import Engine, func, insert, select, text

from compliance.audit.checkpoints import signing_key
from compliance.audit.verify import verify
from compliance.classification.cache import llm_results
from compliance.classification.cache import metadata as cache_metadata
from compliance.config import PROJECT_ROOT, Settings
from compliance.erased_subjects import KIND as SUBJECT_ERASED
from compliance.events import subject_key
from compliance.mrz import check_digit
from compliance.publisher import arrival_event
from compliance.rules.store import customer_documents
from compliance.screening.clearance_store import ClearanceStore
from compliance.screening.events import Clearance, clearance_event
from compliance.screening.sending import EventSender
from compliance.sealing import ERASED
from compliance.subject_keyring import sealing_codec
from compliance.topics import DOCUMENTS_CLASSIFIED, SANCTIONS_CLEARANCES

from .conftest import LOG_DIR, Processes, compliance_cli, wait_for
from .test_pipeline import publish
from .test_rules_checker import audited

SAMPLES = PROJECT_ROOT / "samples" / "documents"


def remembered(engine: Engine, settings: Settings, customer: str) -> int:
    t = customer_documents.c
    query = select(func.count()).where(t.scope == settings.topic_prefix, t.customer_id == customer)
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def cached(engine: Engine, sha256: str) -> int:
    query = select(func.count()).where(llm_results.c.content_sha256 == sha256)
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def test_erasure_reaches_the_audit_trail_the_checker_state_and_the_llm_cache(
    settings: Settings, processes: Processes, engine: Engine
) -> None:
    erased, kept = f"C-{uuid.uuid4().hex[:8]}", f"C-{uuid.uuid4().hex[:8]}"
    erased_doc = SAMPLES / "passport_halvorsen.txt"
    kept_doc = SAMPLES / "id_card_okafor_bad_check_digit.txt"
    publish(settings, [erased_doc], erased)
    publish(settings, [kept_doc], kept)
    processes.start("audit-sink")
    processes.start("classifier")
    processes.start("checker")

    def classified_and_remembered() -> bool:
        subjects = {c["customer_id"] for c in audited(engine, settings, "DocumentClassified")}
        return (
            {erased, kept} <= subjects
            and remembered(engine, settings, erased) == 1
            and remembered(engine, settings, kept) == 1
        )

    wait_for(classified_and_remembered, 90, "both documents classified and remembered", processes)
    # As if Claude had classified both documents: its answers are cached by content hash.
    cache_metadata.create_all(engine, checkfirst=True)
    hashes = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in (erased_doc, kept_doc)}
    with engine.begin() as conn:
        for sha in hashes.values():
            if not cached(engine, sha):
                conn.execute(
                    insert(llm_results).values(
                        content_sha256=sha,
                        model="claude-test",
                        prompt_version=settings.topic_prefix,
                        result={"document_type": "passport", "fields": []},
                    )
                )

    result = compliance_cli(settings, "gdpr", "erase", erased)
    assert result.returncode == 0, result.stderr
    assert "checker's remembered documents deleted: 1" in result.stdout

    assert remembered(engine, settings, erased) == 0
    assert cached(engine, hashes[erased_doc]) == 0
    by_customer = {c["customer_id"]: c for c in audited(engine, settings, "DocumentClassified")}
    assert by_customer[erased]["fields"] == "[erased]"
    assert "HALVORSEN" not in str(by_customer[erased])
    report = verify(engine, signing_key(settings), settings.topic_prefix)
    assert report.intact, report.findings  # the rows stay, the chain still verifies
    # The other customer keeps everything.
    assert remembered(engine, settings, kept) == 1
    assert cached(engine, hashes[kept_doc]) == 1
    assert isinstance(by_customer[kept]["fields"], list) and by_customer[kept]["fields"]

    again = compliance_cli(settings, "gdpr", "erase", erased)
    assert again.returncode == 0, again.stderr
    assert "deleted: 0; cached Claude answers for its documents deleted: 0" in again.stdout


log = logging.getLogger(__name__)
MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")


@dataclass(frozen=True)
class Planted:
    """A made-up person whose details can be searched for byte by byte: the random names and
    numbers occur nowhere else; the dates and the address only in this test's own data."""

    surname: str
    given: str
    number: str
    born: date
    street: str

    @classmethod
    def random(cls, rng: random.Random) -> Planted:
        def letters(n: int) -> str:
            return "".join(rng.choice(string.ascii_uppercase) for _ in range(n))

        return cls(
            surname=letters(10),
            given=letters(7),
            number=letters(2) + "".join(rng.choice(string.digits) for _ in range(7)),
            born=date(rng.randrange(1931, 1950), rng.randrange(1, 13), rng.randrange(1, 29)),
            street=f"{letters(8).title()}gata {rng.randrange(100, 999)}",
        )

    def unique_needles(self) -> list[str]:
        """Strings that cannot occur by chance anywhere (random, 7+ characters)."""
        return [
            self.surname,
            self.surname.title(),
            self.given,
            self.given.title(),
            self.number,
            self.street.split()[0],
        ]

    def needles(self) -> list[str]:
        """Every detail as the documents spell it and as the classifier extracts it."""
        return [
            *self.unique_needles(),
            self.born.isoformat(),
            f"{self.born.day:02d} {MONTHS[self.born.month - 1]} {self.born.year}",
            self.born.strftime("%y%m%d") + str(check_digit(self.born.strftime("%y%m%d"))),
            self.street,
        ]

    def passport(self) -> str:
        yymmdd = self.born.strftime("%y%m%d")
        line1 = f"P<UTO{self.surname}<<{self.given}".ljust(44, "<")
        head = f"{self.number}{check_digit(self.number)}UTO{yymmdd}{check_digit(yymmdd)}F"
        expiry = "340921"
        body = f"{head}{expiry}{check_digit(expiry)}" + "<" * 14 + "<"
        line2 = body + str(check_digit(body[0:10] + body[13:20] + body[21:43]))
        return (
            "UTOPIA - PASSPORT / PASSEPORT\n"
            "Type: P    Code of issuing state: UTO\n"
            f"Surname: {self.surname}\n"
            f"Given names: {self.given}\n"
            "Nationality: UTOPIAN\n"
            f"Date of birth: {self.born.day:02d} {MONTHS[self.born.month - 1]} {self.born.year}\n"
            "Sex: F\n"
            "Date of expiry: 21 SEP 2034\n"
            f"Passport No: {self.number}\n\n"
            f"{line1}\n{line2}\n"
        )

    def utility_bill(self) -> str:
        return (
            "NORDLYS ENERGI AS - ELECTRICITY BILL\n"
            "Proof of address accepted by most banks.\n\n"
            f"Customer name: {self.given.title()} {self.surname.title()}\n"
            f"Service address: {self.street}, 0155 Oslo, Norway\n"
            "Bill date: 2026-10-02\n"
            "Amount due: NOK 842.50\n"
        )


def raw_topic_bytes(settings: Settings) -> dict[str, bytes]:
    """Every record (key, value, headers) of every topic under the test's prefix, aborted
    transactions' records included: what the broker keeps on disk."""
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap,
            "group.id": f"scan-{uuid.uuid4()}",
            "enable.auto.commit": False,
            "isolation.level": "read_uncommitted",
        }
    )
    found: dict[str, bytes] = {}
    try:
        metadata = consumer.list_topics(timeout=10).topics
        for name in sorted(t for t in metadata if t.startswith(settings.topic_prefix)):
            chunks: list[bytes] = []
            for p in metadata[name].partitions:
                low, high = consumer.get_watermark_offsets(TopicPartition(name, p), timeout=10)
                if high <= low:
                    continue
                consumer.assign([TopicPartition(name, p, low)])
                deadline = time.monotonic() + 30
                while True:
                    msg = consumer.poll(0.5)
                    if msg is not None and not msg.error():
                        chunks += [msg.key() or b"", msg.value() or b""]
                        chunks += [v or b"" for _, v in msg.headers() or []]
                        continue
                    # Transaction markers take offsets but are never delivered.
                    (at,) = consumer.position([TopicPartition(name, p)])
                    if at.offset >= high:
                        break
                    assert time.monotonic() < deadline, f"{name}[{p}] not read to {high}"
            found[name] = b"\x00".join(chunks)
    finally:
        consumer.close()
    return found


def tables_holding(engine: Engine, needles: list[str], where: str = "") -> list[str]:
    """Ordinary tables (and partitions) of the schema with a row whose text (bytea as hex)
    contains one of ``needles``; ``where`` filters the rows of ``audit_events`` partitions."""
    # A needle made only of digits (the MRZ birth date with its check digit) is looked for
    # outside runs of hex digits: in millions of hashes and keys, a 7-digit string turns up by
    # chance.
    conditions = " OR ".join(
        (
            f"r::text ~ ('(^|[^0-9a-fA-F])' || :n{i} || '([^0-9a-fA-F]|$)')"
            if n.isdigit()
            else f"strpos(r::text, :n{i}) > 0"
        )
        + f" OR strpos(r::text, :h{i}) > 0"
        for i, n in enumerate(needles)
    )
    params = {f"n{i}": n for i, n in enumerate(needles)}
    params |= {f"h{i}": n.encode().hex() for i, n in enumerate(needles)}
    with engine.connect() as conn:
        tables = [
            t
            for (t,) in conn.execute(
                text(
                    "SELECT c.relname FROM pg_class c "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = current_schema() AND c.relkind = 'r'"
                )
            )
        ]
        holding = []
        for table in tables:
            filtered = where if table.startswith("audit_events") else ""
            query = f'SELECT count(*) FROM "{table}" AS r WHERE ({conditions}) {filtered}'
            if conn.execute(text(query), params).scalar_one():
                holding.append(table)
    return holding


def test_after_erasure_no_personal_value_of_the_subject_is_readable_anywhere_we_keep_it(
    settings: Settings, processes: Processes, engine: Engine, tmp_path: Path
) -> None:
    seed = random.randrange(2**32)
    log.warning("planted person seed: %d", seed)
    person = Planted.random(random.Random(seed))
    erased, kept = f"C-{uuid.uuid4().hex[:8]}", f"C-{uuid.uuid4().hex[:8]}"
    passport = tmp_path / f"passport_{person.surname.lower()}.txt"
    passport.write_text(person.passport())
    bill = tmp_path / f"utility_bill_{person.surname.lower()}.txt"
    bill.write_text(person.utility_bill())
    publish(settings, [passport, bill], erased)
    publish(settings, [SAMPLES / "id_card_okafor_bad_check_digit.txt"], kept)

    # A record the checker cannot take (an arrival on the classified topic), as a faulty
    # producer might send it: its dead letter carries its bytes and the error.
    codec = sealing_codec(engine)
    stray = arrival_event(passport, source_system=settings.topic_prefix, customer_id=erased)
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap})
    producer.produce(
        settings.topic(DOCUMENTS_CLASSIFIED),
        key=subject_key(stray),
        value=codec.encode("DocumentArrived", stray),
    )
    assert producer.flush(30) == 0

    # An officer clears the customer against a listed entity, with a reason about them.
    sender = EventSender(settings)

    def announce(clearance: Clearance) -> None:
        sender.send(SANCTIONS_CLEARANCES, "SanctionsClearance", clearance_event(clearance))
        sender.flush()

    clearances = ClearanceStore(engine)
    clearances.clear(
        customer_id=erased,
        entity_id=f"OFAC-SDN:{settings.topic_prefix}",
        entity_version="v1",
        customer_version=None,
        officer="officer-1",
        reason=f"{person.given} {person.surname}, born {person.born}, is not the listed man",
        announce=announce,
    )

    processes.start("audit-sink")
    processes.start("classifier")
    processes.start("checker")

    def everything_recorded() -> bool:
        subjects = {c["customer_id"] for c in audited(engine, settings, "DocumentClassified")}
        dead = audited(engine, settings, "DeadLetter")
        cleared = audited(engine, settings, "SanctionsClearance")
        return (
            {erased, kept} <= subjects
            and remembered(engine, settings, erased) == 2
            and any(d["envelope"]["subject_id"] == erased for d in dead)
            and any(c["customer_id"] == erased for c in cleared)
        )

    wait_for(everything_recorded, 120, "documents, dead letter and clearance recorded", processes)
    hashes = [hashlib.sha256(p.read_bytes()).hexdigest() for p in (passport, bill)]
    cache_metadata.create_all(engine, checkfirst=True)
    with engine.begin() as conn:
        for sha in hashes:
            conn.execute(
                insert(llm_results).values(
                    content_sha256=sha,
                    model="claude-test",
                    prompt_version=settings.topic_prefix,
                    result={"document_type": "passport", "fields": [person.surname]},
                )
            )

    # Before: the data is there for those who hold the key, and only for them.
    fields = [
        f["value"]
        for c in audited(engine, settings, "DocumentClassified")
        if c["customer_id"] == erased
        for f in c["fields"]
    ]
    assert person.number in fields and person.born.isoformat() in fields
    assert any(person.surname in (v or "").upper() for v in fields)
    dead = [d for d in audited(engine, settings, "DeadLetter") if d["envelope"]["subject_id"]]
    assert any(d["error"] and d["error"] != ERASED for d in dead)
    assert person.surname in clearances.history(erased)[0].reason
    on_kafka = raw_topic_bytes(settings)
    needles = person.needles()
    assert not {(t, n) for t, data in on_kafka.items() for n in needles if n.encode() in data}, (
        "personal data travelled in plain text"
    )

    result = compliance_cli(settings, "gdpr", "erase", erased)
    assert result.returncode == 0, result.stderr

    # A document of the erased subject arriving later is refused, naming only the ids.
    late = tmp_path / f"passport_{person.surname.lower()}_renewed.txt"
    late.write_text(person.passport().replace("21 SEP 2034", "22 SEP 2034"))
    (late_doc,) = publish(settings, [late], erased)

    def refused() -> bool:
        return any(
            e["kind"] == SUBJECT_ERASED and e["document_id"] == late_doc.document_id
            for e in audited(engine, settings, "ComplianceException")
        )

    wait_for(refused, 90, "the late document refused", processes)
    classified = {c["document_id"] for c in audited(engine, settings, "DocumentClassified")}
    assert late_doc.document_id not in classified
    assert remembered(engine, settings, erased) == 0
    processes.stop_all()  # their logs complete

    # After: nowhere readable.
    on_kafka = raw_topic_bytes(settings)
    assert len(on_kafka) >= 10
    leaks = {(t, n) for t, data in on_kafka.items() for n in needles if n.encode() in data}
    assert not leaks, f"readable on Kafka: {sorted(leaks)}"
    ours = f"AND r.topic LIKE '{settings.topic_prefix}%'"
    # Every detail in this test's audit rows; the random ones in any row of any table.
    assert [t for t in tables_holding(engine, needles, ours) if t.startswith("audit_")] == []
    assert tables_holding(engine, person.unique_needles(), ours) == []
    assert cached(engine, hashes[0]) == cached(engine, hashes[1]) == 0
    assert {c.reason for c in ClearanceStore(engine).history(erased)} == {ERASED}
    for d in audited(engine, settings, "DeadLetter"):
        if d["envelope"]["subject_id"] == erased:
            assert d["error"] == ERASED and d["original_value"] == ERASED
    logs = {p.name: p.read_bytes() for p in LOG_DIR.glob(f"{settings.topic_prefix}*.log")}
    assert logs, "the processors' logs were captured"
    assert not {(f, n) for f, data in logs.items() for n in needles if n.encode() in data}
    # The decisions stay on record and verifiable; the other customer keeps everything.
    report = verify(engine, signing_key(settings), settings.topic_prefix)
    assert report.intact, report.findings
    kept_fields = [
        f["value"]
        for c in audited(engine, settings, "DocumentClassified")
        if c["customer_id"] == kept
        for f in c["fields"]
    ]
    assert kept_fields and ERASED not in kept_fields
    assert any("OKAFOR" in (v or "").upper() for v in kept_fields)


def test_a_batch_decided_before_an_erasure_and_written_after_it_keeps_nothing_of_the_subject(
    engine: Engine,
) -> None:
    """The erasure deletes the checker's memory of a customer once no key can be cached; a
    batch decided with the key still in hand and written afterwards must not bring it back."""
    from compliance.audit.subject_keys import erase as destroy_key
    from compliance.rules.store import StateStore, customer_documents
    from compliance.subject_keyring import DatabaseKeyring

    from .test_screening_support import classified_passport

    erased, kept = (f"C-{uuid.uuid4().hex[:10]}" for _ in range(2))
    DatabaseKeyring(engine).prefetch([erased, kept])
    destroy_key(engine, erased)
    store = StateStore(engine, f"t{uuid.uuid4().hex[:10]}.")
    store.remember_documents(
        [
            classified_passport(erased, "INGRID HALVORSEN", "1985-03-14", "NOR"),
            classified_passport(kept, "AMARA OKAFOR", "1990-07-01", "NGA"),
        ]
    )
    with engine.connect() as conn:
        remembered = set(
            conn.execute(
                select(customer_documents.c.customer_id).where(
                    customer_documents.c.scope == store.scope
                )
            ).scalars()
        )
    assert remembered == {kept}
