"""The runner's error policy through the real broker: a stage that hits a bug stops the runner
without committing, so the input topic is NOT drained into its dead-letter topic; once fixed,
the same records are processed and the poison record among them is dead-lettered once. Also:
the last decision time of a partition is committed with its offsets (the offsets' metadata),
for the next owner of the partition to read."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from compliance.codec import Record, registry
from compliance.config import PROJECT_ROOT, Settings
from compliance.errors import StageFailed
from compliance.input_order_clock import clock_of_metadata
from compliance.publisher import arrival_event
from compliance.runner import Outgoing, TransactionalRunner
from compliance.topics import DOCUMENTS_ARRIVED, DOCUMENTS_CLASSIFIED

from .conftest import read_topic, wait_for

pytestmark = pytest.mark.integration
SAMPLE = PROJECT_ROOT / "samples" / "documents" / "passport_halvorsen.txt"
GROUP = "policy-test"


def _produce(settings: Settings, customers: list[str]) -> None:
    """One record per customer id on partition 0; "garbage" is a record that does not decode."""
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap, "acks": "all"})
    for customer in customers:
        if customer == "garbage":
            value = b"\x00\x01 not avro"
        else:
            arrival = arrival_event(SAMPLE, source_system=settings.topic_prefix)
            arrival["customer_id"] = customer
            arrival["document_id"] = f"{customer}-{uuid.uuid4()}"
            value = registry().encode("DocumentArrived", arrival)
        producer.produce(settings.topic(DOCUMENTS_ARRIVED), key=b"k", value=value, partition=0)
    assert producer.flush(30) == 0


def _committed(settings: Settings) -> TopicPartition:
    consumer = Consumer(
        {"bootstrap.servers": settings.kafka_bootstrap, "group.id": settings.group(GROUP)}
    )
    try:
        [tp] = consumer.committed([TopicPartition(settings.topic(DOCUMENTS_ARRIVED), 0)], 10)
        return tp
    finally:
        consumer.close()


class Running:
    """A runner in a thread, with what it raised."""

    def __init__(self, runner: TransactionalRunner) -> None:
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(runner,), daemon=True)
        self.thread.start()

    def _run(self, runner: TransactionalRunner) -> None:
        try:
            runner.run(self.stop)
        except BaseException as exc:
            self.error = exc

    def finish(self) -> None:
        self.stop.set()
        self.thread.join(60)
        assert not self.thread.is_alive()


def _runner(settings: Settings, stage: Callable[[str, Record], list[Outgoing]], **kw: Any) -> Any:
    return TransactionalRunner(GROUP, settings, [settings.topic(DOCUMENTS_ARRIVED)], stage, **kw)


def _classified(event_type: str, record: Record) -> list[Outgoing]:
    if record["customer_id"] == "C-bug":
        raise KeyError("fields")  # what a schema mismatch in a stage looks like
    return [Outgoing(DOCUMENTS_CLASSIFIED.name, event_type, record)]


def _fixed(event_type: str, record: Record) -> list[Outgoing]:
    return [Outgoing(DOCUMENTS_CLASSIFIED.name, event_type, record)]


def test_a_bug_stops_the_runner_without_draining_the_topic_and_poison_is_dead_lettered_once(
    settings: Settings,
) -> None:
    customers = ["C-1", "garbage", "C-2", "C-bug", *[f"C-{n}" for n in range(3, 40)]]
    _produce(settings, customers)

    buggy = Running(_runner(settings, _classified))
    buggy.thread.join(60)
    assert not buggy.thread.is_alive(), "the runner did not stop on the bug"
    assert isinstance(buggy.error, StageFailed), buggy.error
    assert "documents.arrived[0]@3" in str(buggy.error)
    assert _committed(settings).offset < 0  # nothing of the batch committed
    assert read_topic(settings, DOCUMENTS_ARRIVED.dead_letter) == []  # nothing drained

    fixed = Running(_runner(settings, _fixed))
    try:
        wait_for(lambda: _committed(settings).offset == len(customers), 60, "offsets committed")
    finally:
        fixed.finish()
    assert fixed.error is None
    dead = read_topic(settings, DOCUMENTS_ARRIVED.dead_letter)
    assert len(dead) == 1
    _, letter = registry().decode(dead[0])
    assert letter["source_offset"] == 1 and letter["original_value"] == b"\x00\x01 not avro"
    assert len(read_topic(settings, DOCUMENTS_CLASSIFIED)) == len(customers) - 1


def test_the_partitions_last_decision_time_is_committed_with_its_offsets(
    settings: Settings,
) -> None:
    _produce(settings, [f"C-{n}" for n in range(10)])
    running = Running(_runner(settings, _fixed, stamp_in_input_order=True))
    try:
        wait_for(lambda: _committed(settings).offset == 10, 60, "offsets committed")
    finally:
        running.finish()
    outputs = [registry().decode(v)[1] for v in read_topic(settings, DOCUMENTS_CLASSIFIED)]
    last: datetime = max(o["envelope"]["occurred_at"] for o in outputs)
    assert clock_of_metadata(_committed(settings).metadata) == last
