"""A runner whose producer is fenced mid-run (another producer initialised under its
transactional id, as a copy of the process started by mistake, or the broker after a long
outage, would do) recovers by itself: a new producer, the consumer rewound to the committed
offsets, and every record's output on the topic exactly once. Through the real broker."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from compliance import kafka_io
from compliance.codec import Record, registry
from compliance.config import PROJECT_ROOT, Settings
from compliance.publisher import arrival_event
from compliance.runner import Outgoing, TransactionalRunner
from compliance.topics import DOCUMENTS_ARRIVED, DOCUMENTS_CLASSIFIED

from .conftest import read_topic, wait_for

pytestmark = pytest.mark.integration
SAMPLE = PROJECT_ROOT / "samples" / "documents" / "passport_halvorsen.txt"
RECORDS = 1500
NAME = "fenced-test"


def _committed(settings: Settings) -> int:
    topic = settings.topic(DOCUMENTS_ARRIVED)
    consumer = Consumer(
        {"bootstrap.servers": settings.kafka_bootstrap, "group.id": settings.group(NAME)}
    )
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        tps = [TopicPartition(topic, p) for p in partitions]
        return sum(max(tp.offset, 0) for tp in consumer.committed(tps, timeout=10))
    finally:
        consumer.close()


def _slowly(event_type: str, record: Record) -> list[Outgoing]:
    time.sleep(0.002)  # a stage doing some work, so the run lasts a few seconds
    return [Outgoing(DOCUMENTS_CLASSIFIED.name, event_type, record)]


def test_a_fenced_producer_is_replaced_and_every_output_appears_once(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap, "acks": "all"})
    for n in range(RECORDS):
        arrival = arrival_event(SAMPLE, source_system=settings.topic_prefix, customer_id=f"C-{n}")
        producer.produce(
            settings.topic(DOCUMENTS_ARRIVED),
            key=f"C-{n}".encode(),
            value=registry().encode("DocumentArrived", arrival),
        )
    assert producer.flush(30) == 0

    runner = TransactionalRunner(
        NAME, settings, [settings.topic(DOCUMENTS_ARRIVED)], _slowly, batch_size=50
    )
    stop = threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        try:
            runner.run(stop)
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    with caplog.at_level(logging.INFO, logger="compliance.runner"):
        thread.start()
        try:
            wait_for(lambda: _committed(settings) >= 200, 60, "a first commits")
            usurper = kafka_io.transactional_producer(settings, runner.transactional_id)
            wait_for(lambda: _committed(settings) == RECORDS, 120, "every offset committed")
        finally:
            stop.set()
            thread.join(60)
    assert failure == []
    assert "is in doubt" in caplog.text, "the runner was never fenced"
    usurper.close()

    ids = [
        registry().decode(value)[1]["envelope"]["event_id"]
        for value in read_topic(settings, DOCUMENTS_CLASSIFIED, timeout_s=60)
    ]
    doubled = [event_id for event_id, n in Counter(ids).items() if n > 1]
    assert doubled == []
    assert len(ids) == RECORDS
