"""End to end through the real broker and PostgreSQL: documents in, every event audited once."""

from __future__ import annotations

import shutil
from pathlib import Path

from sqlalchemy import Engine, func, select

from compliance.audit.queries import trails
from compliance.audit.store import audit_events
from compliance.codec import registry
from compliance.config import PROJECT_ROOT, Settings
from compliance.demo import is_complete
from compliance.publisher import Published, Publisher
from compliance.rules import load_ruleset
from compliance.subject_keyring import sealing_codec
from compliance.topics import ALL_TOPICS, DOCUMENTS_ARRIVED, every_topic

from .conftest import Processes, read_topic, wait_for

SAMPLES = PROJECT_ROOT / "samples" / "documents"


def make_documents(folder: Path, copies: int) -> list[Path]:
    """`copies` distinct documents per sample (distinct bytes, so distinct document ids)."""
    paths = []
    for sample in sorted(SAMPLES.glob("*")):
        if sample.suffix not in {".txt", ".sta", ".pdf"}:
            continue
        for i in range(copies):
            target = folder / f"{sample.stem}-{i}{sample.suffix}"
            shutil.copyfile(sample, target)
            if sample.suffix == ".txt":
                with target.open("a") as handle:
                    handle.write(f"\nReference: copy {i}\n")
            else:
                target.write_bytes(target.read_bytes() + b"\n" * (i + 1))
            paths.append(target)
    return paths


def publish(settings: Settings, paths: list[Path], customer: str = "C-1") -> list[Published]:
    """Publish as a source system named after the test's prefix: the audit table is shared by
    all tests, and event ids derive from the source, so each test's events are its own."""
    with Publisher(settings) as publisher:
        return publisher.publish_files(
            paths, source_system=settings.topic_prefix, customer_id=customer
        )


def audited_rows(engine: Engine, settings: Settings) -> list[tuple[str, str]]:
    query = select(audit_events.c.event_id, audit_events.c.event_type).where(
        audit_events.c.topic.startswith(settings.topic_prefix)
    )
    with engine.connect() as conn:
        return [(str(a), b) for a, b in conn.execute(query)]


def all_complete(engine: Engine, settings: Settings, published: list[Published]) -> bool:
    ruleset = load_ruleset(settings.rules_dir)
    found = trails(
        engine, [p.document_id for p in published], [settings.topic(t) for t in every_topic()]
    )
    return all(is_complete(t, ruleset) for t in found)


def event_ids_on_topics(settings: Settings, topics: list[str]) -> list[str]:
    ids = []
    for topic in topics:
        for value in read_topic(settings, topic):
            _, record = registry().decode(value)
            ids.append(record["envelope"]["event_id"])
    return ids


def test_every_event_of_every_topic_is_audited_exactly_once(
    settings: Settings, processes: Processes, engine: Engine, tmp_path: Path
) -> None:
    published = publish(settings, make_documents(tmp_path, copies=4))
    for name in ("audit-sink", "classifier", "checker"):
        processes.start(name)

    wait_for(
        lambda: all_complete(engine, settings, published), 90, "all documents audited", processes
    )

    on_topics = event_ids_on_topics(settings, [t.name for t in ALL_TOPICS])
    rows = audited_rows(engine, settings)
    audited_ids = [event_id for event_id, _ in rows]
    assert len(audited_ids) == len(set(audited_ids)), "an event was recorded twice"
    assert sorted(audited_ids) == sorted(set(on_topics))
    assert len(on_topics) == len(set(on_topics)), "a processor produced an event twice"
    types = {t for _, t in rows}
    assert {"DocumentArrived", "DocumentClassified", "CheckResult", "ComplianceException"} <= types


def test_the_same_document_published_twice_is_recorded_once(
    settings: Settings, processes: Processes, engine: Engine
) -> None:
    sample = [SAMPLES / "passport_halvorsen.txt"]
    first = publish(settings, sample, customer="C-7")
    second = publish(settings, sample, customer="C-7")
    assert first[0].event_id == second[0].event_id
    for name in ("audit-sink", "classifier", "checker"):
        processes.start(name)

    wait_for(lambda: all_complete(engine, settings, first), 60, "the document audited", processes)
    assert len(read_topic(settings, DOCUMENTS_ARRIVED.name)) == 2  # at-least-once upstream ...
    rows = audited_rows(engine, settings)
    arrived = [r for r in rows if r[1] == "DocumentArrived"]
    classified = [r for r in rows if r[1] == "DocumentClassified"]
    assert len(arrived) == 1 and len(classified) == 1  # ... exactly once in the audit trail


def test_undecodable_message_goes_to_the_dead_letter_topic_and_the_pipeline_goes_on(
    settings: Settings, processes: Processes, engine: Engine
) -> None:
    from confluent_kafka import Producer

    garbage = b"\x00\x01 definitely not avro"
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap})
    producer.produce(settings.topic(DOCUMENTS_ARRIVED), key=b"C-9", value=garbage)
    assert producer.flush(10) == 0
    published = publish(settings, [SAMPLES / "utility_bill_halvorsen.txt"], customer="C-9")
    for name in ("audit-sink", "classifier", "checker"):
        processes.start(name)

    wait_for(lambda: all_complete(engine, settings, published), 60, "the good document", processes)
    codec = sealing_codec(engine)  # the error and the original bytes are sealed on the topic
    dead = [codec.decode(v)[1] for v in read_topic(settings, DOCUMENTS_ARRIVED.dead_letter)]
    assert dead, "nothing reached the dead-letter topic"
    assert {d["original_value"] for d in dead} == {garbage}
    assert all("single-object" in d["error"] for d in dead)
    assert {d["source_topic"] for d in dead} == {settings.topic(DOCUMENTS_ARRIVED)}
    # The classifier dead-letters the record (the sink keeps it verbatim and adds none): the
    # dead letter is audited once.
    wait_for(
        lambda: sum(1 for _, t in audited_rows(engine, settings) if t == "DeadLetter") == 1,
        30,
        "the dead letter audited",
        processes,
    )
    processes.assert_alive()


def test_audit_sink_killed_mid_run_loses_nothing_and_doubles_nothing(
    settings: Settings, processes: Processes, engine: Engine, tmp_path: Path
) -> None:
    published = publish(settings, make_documents(tmp_path, copies=25))
    processes.start("classifier")
    processes.start("checker")
    processes.start("audit-sink", COMPLIANCE_BATCH_SIZE="20")

    def some_rows() -> bool:
        with engine.connect() as conn:
            count = conn.execute(
                select(func.count()).where(audit_events.c.topic.startswith(settings.topic_prefix))
            ).scalar_one()
        return count >= 40

    wait_for(some_rows, 60, "the audit sink to write a few batches", processes)
    processes.kill("audit-sink")
    processes.start("audit-sink", COMPLIANCE_BATCH_SIZE="20")

    wait_for(
        lambda: all_complete(engine, settings, published), 120, "all documents audited", processes
    )
    on_topics = set(event_ids_on_topics(settings, [t.name for t in ALL_TOPICS]))
    audited_ids = [event_id for event_id, _ in audited_rows(engine, settings)]
    assert len(audited_ids) == len(set(audited_ids))
    assert set(audited_ids) == on_topics
