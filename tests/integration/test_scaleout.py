"""Scale-out through the real broker and PostgreSQL: two copies of each processor in one
consumer group share the partitions; one copy of each, killed with -9 mid-run, hands its
partitions to the other, and nothing is lost and nothing is audited or screened twice.

The copies are ``compliance run <name>`` processes with instance ids of their own (hence
transactional ids of their own). Who owns which partition is read from the broker
(describe_consumer_groups), that both copies did work from the group's committed offsets,
completeness from the audit table and the topics; never from a sleep.
A killed member gives its partitions up when its session expires (10 s on the test broker).
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

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


def text_documents(folder: Path, copies: int, batch: str) -> list[Path]:
    """``copies`` distinct documents per text sample (distinct bytes: distinct ids)."""
    paths = []
    for sample in sorted(SAMPLES.glob("*.txt")):
        for i in range(copies):
            target = folder / f"{sample.stem}-{batch}-{i}.txt"
            target.write_text(sample.read_text(encoding="utf-8") + f"\nReference: {batch} {i}\n")
            paths.append(target)
    return paths


def publish(settings: Settings, paths: list[Path], customers: int = 12) -> list[Published]:
    """For ``customers`` customers (the key): the documents spread over the partitions."""
    published: list[Published] = []
    with Publisher(settings) as publisher:
        for k in range(customers):
            published += publisher.publish_files(
                paths[k::customers], source_system=settings.topic_prefix, customer_id=f"C-{k}"
            )
    return published


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

    first = publish(settings, text_documents(tmp_path, copies=12, batch="first"))

    def both_copies_of_every_stage_worked() -> bool:
        return all(
            each_member_committed(admin, groups[name], topic and settings.topic(topic))
            for name, topic in DOCUMENT_STAGES.items()
        )

    wait_for(both_copies_of_every_stage_worked, 60, "both copies of every stage at work", processes)
    for name in DOCUMENT_STAGES:
        processes.kill(f"{name}-a")
    second = publish(settings, text_documents(tmp_path, copies=6, batch="second"))

    def every_stage_taken_over() -> bool:
        return all(taken_over(owners(admin, g), before[n]) for n, g in groups.items())

    wait_for(every_stage_taken_over, 45, "the survivors own every partition", processes)
    published: list[Published] = first + second
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


def publish_payments(settings: Settings, payments: list[Transaction]) -> None:
    with Publisher(settings) as publisher:
        for tx in payments:
            publisher.publish_transaction(tx, source_system="core-banking")


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

    first = [payment(i) for i in range(500)]
    publish_payments(settings, first)
    wait_for(
        lambda: each_member_committed(admin, group, settings.topic(TRANSACTIONS_SUBMITTED)),
        60,
        "both screeners at work",
        processes,
    )
    processes.kill(f"{SCREENER}-a")
    second = [payment(i) for i in range(500, 650)]
    publish_payments(settings, second)
    wait_for(
        lambda: taken_over(owners(admin, group), before), 45, "the survivor owns all", processes
    )

    ids = {tx.transaction_id for tx in first + second}
    wait_for(lambda: ids <= set(screened(settings)), 90, "every payment screened", processes)
    assert screened(settings) == Counter(dict.fromkeys(ids, 1))
