"""Scale-out through the real broker and PostgreSQL: two copies of each processor in one
consumer group share the partitions; one copy of each, killed with -9 mid-run, hands its
partitions to the other, and nothing is lost and nothing is audited or screened twice.

The copies are ``compliance run <name>`` processes with instance ids of their own (hence
transactional ids of their own). Who owns which partition is read from the broker
(describe_consumer_groups), that both copies did work from the group's committed offsets,
completeness from the audit table and the topics; never from a sleep.
A killed member gives its partitions up when its session expires: 10 s for the document
stages (KIP-848 groups; the test broker's group.consumer.session.timeout.ms), 15 s for the
transaction screener (Quix Streams' consumer, classic protocol, the screener's own session).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Generic, TypeVar

import pytest
from confluent_kafka import ConsumerGroupTopicPartitions
from confluent_kafka.admin import AdminClient
from sqlalchemy import Engine

from compliance import kafka_io
from compliance.codec import registry
from compliance.config import PROJECT_ROOT, Settings
from compliance.publisher import Published, Publisher
from compliance.topics import (
    ALL_TOPICS,
    COMPLIANCE_CHECKS,
    DOCUMENTS_ARRIVED,
    DOCUMENTS_CLASSIFIED,
    TRANSACTIONS_SUBMITTED,
)
from compliance.transactions.model import Transaction

from .conftest import Processes, read_topic, wait_for
from .test_pipeline import all_complete, audited_rows, event_ids_on_topics

pytestmark = pytest.mark.integration
SAMPLES = PROJECT_ROOT / "samples" / "documents"
COPIES = ("a", "b")
SCREENER = "transaction-screener"
# Each stage's consumer group and the input topic both of its copies must share.
DOCUMENT_STAGES = {
    "classifier": DOCUMENTS_ARRIVED.name,
    "checker": DOCUMENTS_CLASSIFIED.name,
    "audit-sink": None,  # every topic: any partition will do
}
Owned = dict[str, set[tuple[str, int]]]  # member id -> (topic, partition)
T = TypeVar("T")


def owners(admin: AdminClient, group: str) -> Owned:
    described = admin.describe_consumer_groups([group])[group].result(timeout=10)
    return {
        m.member_id: {(tp.topic, tp.partition) for tp in m.assignment.topic_partitions}
        for m in described.members
    }


def share(owned: Owned, topic: str | None) -> bool:
    """Two members, each owning partitions (of ``topic`` when given)."""
    return len(owned) == 2 and all(
        any(topic is None or t == topic for t, _ in parts) for parts in owned.values()
    )


def committed(admin: AdminClient, group: str) -> dict[tuple[str, int], int]:
    found = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])
    result = found[group].result(timeout=10)
    return {(tp.topic, tp.partition): tp.offset for tp in result.topic_partitions or []}


def each_member_committed(admin: AdminClient, group: str, topic: str | None) -> bool:
    """Both members own a partition (of ``topic`` when given) whose offset the group has
    committed past its start: both copies have done work."""
    owned, offsets = owners(admin, group), committed(admin, group)
    return len(owned) == 2 and all(
        any(offsets.get(tp, -1) > 0 for tp in parts if topic is None or tp[0] == topic)
        for parts in owned.values()
    )


def taken_over(owned: Owned, before: Owned) -> bool:
    """One member left, owning every partition the two owned before."""
    every = set().union(*before.values())
    return len(owned) == 1 and every <= next(iter(owned.values()))


class Feeder(threading.Thread, Generic[T]):
    """Publishes chunk after chunk at a steady pace until told to stop or out of chunks, so
    the copies are killed with work in hand and more arrives while their partitions move."""

    def __init__(self, publish: Callable[[int], list[T]], chunks: int, interval_s: float) -> None:
        super().__init__(daemon=True)
        self.publish, self.chunks, self.interval_s = publish, chunks, interval_s
        self.published: list[T] = []
        self.error: Exception | None = None
        self.done = 0
        self.last = chunks

    def stop_after(self, chunks: int) -> None:
        """Publish ``chunks`` more, then stop."""
        self.last = min(self.last, self.done + chunks)

    def run(self) -> None:
        try:
            while self.done < self.last:
                self.published += self.publish(self.done)
                self.done += 1
                time.sleep(self.interval_s)  # the pace of the feed
        except Exception as exc:  # handed to the test by finish()
            self.error = exc

    def finish(self) -> list[T]:
        """Wait for the chunks still to publish; what was published."""
        self.join(60)
        assert not self.is_alive(), "the feeder did not stop"
        if self.error is not None:
            raise self.error
        return self.published


def text_documents(folder: Path, copies: int) -> list[list[Path]]:
    """``copies`` chunks of distinct documents, one of each text sample per chunk."""
    samples = sorted(SAMPLES.glob("*.txt"))
    chunks = []
    for i in range(copies):
        chunk = []
        for sample in samples:
            target = folder / f"{sample.stem}-{i}.txt"
            target.write_text(sample.read_text(encoding="utf-8") + f"\nReference: {i}\n")
            chunk.append(target)
        chunks.append(chunk)
    return chunks


def document_feeder(settings: Settings, folder: Path) -> Feeder[Published]:
    """A chunk of documents every half second for one of twelve customers (the key): the
    documents spread over the partitions."""
    chunks = text_documents(folder, copies=40)

    def publish(i: int) -> list[Published]:
        with Publisher(settings) as publisher:
            published: list[Published] = publisher.publish_files(
                chunks[i], source_system=settings.topic_prefix, customer_id=f"C-{i % 12}"
            )
        return published

    return Feeder(publish, len(chunks), interval_s=0.5)


def test_two_copies_of_each_document_stage_share_the_work_and_a_kill_9_loses_and_doubles_nothing(
    settings: Settings, processes: Processes, engine: Engine, tmp_path: Path
) -> None:
    admin = kafka_io.admin(settings)
    groups = {name: settings.group(name) for name in DOCUMENT_STAGES}
    for name in DOCUMENT_STAGES:
        for copy in COPIES:
            # Small batches: many transactions, so the kill lands between and inside them.
            processes.start(
                name, copy, COMPLIANCE_BATCH_SIZE="10", COMPLIANCE_AUDIT_BATCH_SIZE="20"
            )

    def every_stage_shared() -> bool:
        return all(
            share(owners(admin, groups[name]), topic and settings.topic(topic))
            for name, topic in DOCUMENT_STAGES.items()
        )

    wait_for(every_stage_shared, 90, "both copies of every stage assigned partitions", processes)
    before = {name: owners(admin, group) for name, group in groups.items()}
    feeder = document_feeder(settings, tmp_path)
    feeder.start()

    def both_copies_of_every_stage_worked() -> bool:
        return all(
            each_member_committed(admin, groups[name], topic and settings.topic(topic))
            for name, topic in DOCUMENT_STAGES.items()
        )

    wait_for(both_copies_of_every_stage_worked, 60, "both copies of every stage at work", processes)
    assert feeder.is_alive(), "the documents ran out before the kill: it would not be mid-run"
    for name in DOCUMENT_STAGES:
        processes.kill(f"{name}-a")
    feeder.stop_after(4)  # more documents while the partitions move

    def every_stage_taken_over() -> bool:
        return all(taken_over(owners(admin, g), before[n]) for n, g in groups.items())

    wait_for(every_stage_taken_over, 45, "the survivors own every partition", processes)
    published = feeder.finish()
    wait_for(
        lambda: all_complete(engine, settings, published),
        90,
        "every document decided and audited",
        processes,
    )

    rows = audited_rows(engine, settings)
    per_event = Counter(event_id for event_id, _ in rows)
    assert [e for e, n in per_event.items() if n > 1] == [], "events audited twice"
    arrived = {p.event_id for p in published}
    assert {e: per_event[e] for e in arrived} == dict.fromkeys(arrived, 1)
    on_topics = event_ids_on_topics(settings, [t.name for t in ALL_TOPICS])
    assert len(on_topics) == len(set(on_topics)), "a processor committed an event twice"
    assert set(per_event) == set(on_topics), "an event on the topics was not audited"


def payment(i: int) -> Transaction:
    return Transaction(
        transaction_id=f"pay-{i}",
        booked_at=datetime(2026, 3, 2, 9, 0, tzinfo=UTC) + timedelta(minutes=i),
        amount=Decimal("120.00") + i,
        currency="EUR",
        direction="out",
        account_id=f"ACC-{i % 40:03d}",
        channel="sepa",
        account_owner=f"C-{i % 40}",
        counterparty_name="Nordlys Handel AS",
        counterparty_account="NO9386011117947",
        counterparty_country="NO",
        reference=f"invoice {i}",
    )


def payment_feeder(settings: Settings) -> Feeder[str]:
    """25 payments on 40 accounts (the key) every quarter of a second, 1,500 at most."""

    def publish(chunk: int) -> list[str]:
        payments = [payment(i) for i in range(chunk * 25, (chunk + 1) * 25)]
        with Publisher(settings) as publisher:
            for tx in payments:
                publisher.publish_transaction(tx, source_system="core-banking")
        return [tx.transaction_id for tx in payments]

    return Feeder(publish, chunks=60, interval_s=0.25)


def screened(settings: Settings) -> Counter[str]:
    """Committed check results (read_committed) per transaction id."""
    codec = registry()
    return Counter(
        codec.decode(value)[1]["document_id"]
        for value in read_topic(settings, COMPLIANCE_CHECKS.name, timeout_s=30)
    )


def test_two_screener_copies_share_the_partitions_and_a_kill_9_screens_every_payment_once(
    settings: Settings, processes: Processes, tmp_path: Path
) -> None:
    admin = kafka_io.admin(settings)
    group = settings.group(SCREENER)
    for copy in COPIES:
        state = str(tmp_path / f"state-{copy}")
        processes.start(SCREENER, copy, COMPLIANCE_TRANSACTIONS_STATE_DIR=state)
    wait_for(
        lambda: share(owners(admin, group), settings.topic(TRANSACTIONS_SUBMITTED)),
        90,
        "both screeners assigned partitions",
        processes,
    )
    before = owners(admin, group)
    feeder = payment_feeder(settings)
    feeder.start()
    wait_for(
        lambda: each_member_committed(admin, group, settings.topic(TRANSACTIONS_SUBMITTED)),
        60,
        "both screeners at work",
        processes,
    )
    assert feeder.is_alive(), "the payments ran out before the kill: it would not be mid-run"
    processes.kill(f"{SCREENER}-a")
    feeder.stop_after(8)  # more payments while the partitions move
    # The screener's consumer (Quix Streams: the classic group protocol) holds a killed
    # member's partitions until its session expires: the screener's 15 s session.timeout.ms
    # (librdkafka's default would be 45 s). The bound leaves room for a loaded machine.
    wait_for(
        lambda: taken_over(owners(admin, group), before), 60, "the survivor owns all", processes
    )

    ids = set(feeder.finish())
    wait_for(lambda: ids <= set(screened(settings)), 90, "every payment screened", processes)
    assert screened(settings) == Counter(dict.fromkeys(ids, 1))
