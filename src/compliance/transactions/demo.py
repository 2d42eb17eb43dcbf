"""The transaction part of ``make run``: a short stream with planted patterns
(``samples/transactions/canonical_demo.csv``) through the screener, and its alerts as the
audit trail in PostgreSQL recorded them."""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from sqlalchemy import Engine, select

from compliance.audit.tables import audit_events
from compliance.codec import Record, registry
from compliance.config import PROJECT_ROOT, Settings
from compliance.publisher import Publisher
from compliance.topics import COMPLIANCE_CHECKS, COMPLIANCE_EXCEPTIONS
from compliance.transactions.sources import read_csv

STREAM = PROJECT_ROOT / "samples" / "transactions" / "canonical_demo.csv"


def _audited(engine: Engine, settings: Settings, ids: Sequence[str]) -> list[Any]:
    topics = [settings.topic(COMPLIANCE_CHECKS), settings.topic(COMPLIANCE_EXCEPTIONS)]
    query = select(audit_events.c.event_type, audit_events.c.payload).where(
        audit_events.c.topic.in_(topics), audit_events.c.correlation_id.in_(list(ids))
    )
    with engine.connect() as conn:
        return list(conn.execute(query))


def run_transaction_demo(
    engine: Engine,
    settings: Settings,
    timeout_s: float,
    procs: Sequence[subprocess.Popen[bytes]] = (),
    stream: Path = STREAM,
) -> None:
    """Publish the stream, wait (at most ``timeout_s``) until every payment's check result
    is in the audit trail, then print the alerts."""
    payments = list(read_csv(stream))
    with Publisher(settings) as publisher:
        for tx in payments:
            publisher.publish_transaction(tx, source_system="demo")
    ids = [tx.transaction_id for tx in payments]
    deadline = time.monotonic() + timeout_s
    while True:
        rows = _audited(engine, settings, ids)
        checked = {r.payload["document_id"] for r in rows if r.event_type == "CheckResult"}
        if checked >= set(ids):
            break
        if any(p.poll() is not None for p in procs) or time.monotonic() > deadline:
            raise TimeoutError(
                f"transactions not screened within {timeout_s:g} s: "
                + ", ".join(sorted(set(ids) - checked))
            )
        time.sleep(0.5)
    alerts = _alerts_on_topic(settings, set(ids), timeout_s)
    print(f"\n{len(payments)} demo payments screened and audited; {len(alerts)} alert(s):")
    for alert in sorted(alerts, key=lambda a: (a["rule_id"], a["details"]["transactions"])):
        print(
            f"  {alert['severity']:8} {alert['rule_id']:36} "
            f"[{alert['details']['transactions']}] {alert['reason'][:110]}"
        )


def _alerts_on_topic(settings: Settings, ids: set[str], timeout_s: float) -> list[Record]:
    """The screener's alerts on these payments, read from compliance.exceptions (the audit
    trail keeps their reasons sealed), from the start of the topic to its current end."""
    topic = settings.topic(COMPLIANCE_EXCEPTIONS)
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap,
            "group.id": f"demo-{uuid.uuid4()}",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
        }
    )
    try:
        parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        ends = {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in parts
        }
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
        found: list[Record] = []
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            positions = consumer.position([TopicPartition(topic, p) for p in parts])
            if all(tp.offset >= ends[tp.partition] for tp in positions):
                break
            msg = consumer.poll(0.5)
            if msg is None or msg.error():
                continue
            _, record = registry().decode(msg.value())
            if record["envelope"]["correlation_id"] in ids:
                found.append(record)
        return found
    finally:
        consumer.close()
