"""An event whose identifiers are longer than any index may hold (a correlation id and a
Kafka key of 3 kB, past PostgreSQL's ~2.7 kB per index entry) used to stop the whole audit
trail: the database refused it and the sink retried it forever. Now it fails to decode, in
the classifier and in the audit sink alike: it goes to the dead-letter topic with the reason
(its key replaced by its SHA-256), is audited from there, and the pipeline goes on."""

from __future__ import annotations

import hashlib

import pytest
from confluent_kafka import Producer
from sqlalchemy import Engine, select

from compliance.audit.store import audit_events
from compliance.codec import registry
from compliance.config import PROJECT_ROOT, Settings
from compliance.publisher import arrival_event
from compliance.subject_keyring import sealing_codec
from compliance.topics import DOCUMENTS_ARRIVED

from .conftest import Processes, read_topic, wait_for

pytestmark = pytest.mark.integration
SAMPLE = PROJECT_ROOT / "samples" / "documents" / "utility_bill_halvorsen.txt"


def _audited_types(engine: Engine, settings: Settings) -> list[str]:
    query = select(audit_events.c.event_type).where(
        audit_events.c.topic.startswith(settings.topic_prefix)
    )
    with engine.connect() as conn:
        return list(conn.execute(query).scalars())


def test_an_oversized_correlation_id_is_dead_lettered_and_the_audit_trail_goes_on(
    settings: Settings, processes: Processes, engine: Engine
) -> None:
    oversized = arrival_event(SAMPLE, source_system=settings.topic_prefix, customer_id="C-7")
    oversized["envelope"]["correlation_id"] = "D" * 3000
    key = b"K" * 3000
    good = arrival_event(SAMPLE, source_system=settings.topic_prefix, customer_id="C-8")
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap, "acks": "all"})
    topic = settings.topic(DOCUMENTS_ARRIVED)
    producer.produce(topic, key=key, value=registry().encode("DocumentArrived", oversized))
    producer.produce(topic, key=b"C-8", value=registry().encode("DocumentArrived", good))
    assert producer.flush(10) == 0
    for name in ("audit-sink", "classifier"):
        processes.start(name)

    wait_for(
        lambda: (
            {"DocumentArrived", "DocumentClassified", "DeadLetter"}
            <= set(_audited_types(engine, settings))
        ),
        90,
        "the good document classified and the dead letter audited",
        processes,
    )
    codec = sealing_codec(engine)  # a dead letter's error is sealed on the topic
    dead = [codec.decode(v)[1] for v in read_topic(settings, DOCUMENTS_ARRIVED.dead_letter)]
    assert dead, "nothing reached the dead-letter topic"
    digest = "sha256:" + hashlib.sha256(key).hexdigest()
    for letter in dead:
        assert "envelope.correlation_id is 3000 bytes, over its bound of 512" in letter["error"]
        assert letter["source_key"] == digest.encode() and digest in letter["error"]
        assert letter["envelope"]["subject_id"] == digest
    assert _audited_types(engine, settings).count("DocumentArrived") == 1  # only the good one
    processes.assert_alive()
