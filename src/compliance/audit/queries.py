"""Read-side queries on the audit trail, for people and for the demo.

Personal fields are sealed in the table; readers open them with the subject's key (and see
``[erased]`` once the subject was erased). Readers never create keys.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, or_, select

from compliance.audit.personal_data import reveal
from compliance.audit.subject_keys import existing_keys
from compliance.audit.tables import audit_event_conflicts, audit_event_ids, audit_events


@dataclass
class DocumentTrail:
    document_id: str
    filename: str | None = None
    document_type: str | None = None
    checks: dict[str, str] = field(default_factory=dict)  # rule id -> outcome
    exceptions: list[str] = field(default_factory=list)  # reasons
    exception_kinds: list[str] = field(default_factory=list)
    unreadable: bool = False


@dataclass(frozen=True)
class TrailEvent:
    """One event of a decision trail, with what decided it."""

    occurred_at: datetime
    event_type: str
    event_id: str
    topic: str
    partition: int
    offset: int
    producer: str
    ruleset_version: str | None
    model: str | None
    payload: dict[str, Any]


def trails(
    engine: Engine, document_ids: Sequence[str], topics: Sequence[str]
) -> list[DocumentTrail]:
    """What the audit trail holds for each document, from the given topics, by event type."""
    found = {doc_id: DocumentTrail(doc_id) for doc_id in document_ids}
    query = select(
        audit_events.c.event_id,
        audit_events.c.event_type,
        audit_events.c.subject_id,
        audit_events.c.payload,
    ).where(
        audit_events.c.correlation_id.in_(list(document_ids)),
        audit_events.c.topic.in_(list(topics)),
    )
    with engine.connect() as conn:
        rows = list(conn.execute(query))
        keys = existing_keys(conn, {r.subject_id for r in rows if r.subject_id})
    for event_id, event_type, subject_id, sealed in rows:
        payload = reveal(str(event_id), sealed, keys.get(subject_id) if subject_id else None)
        trail = found[payload["envelope"]["correlation_id"]]
        if event_type == "DocumentArrived":
            trail.filename = payload["filename"]
        elif event_type == "DocumentClassified":
            trail.document_type = payload["document_type"]
        elif event_type == "CheckResult":
            trail.checks[payload["rule_id"]] = payload["outcome"]
        elif event_type == "ComplianceException":
            trail.exceptions.append(payload["reason"])
            trail.exception_kinds.append(payload["kind"])
            trail.unreadable |= payload["kind"] == "document_unreadable"
    return [found[doc_id] for doc_id in document_ids]


def decision_trail(engine: Engine, subject: str) -> list[TrailEvent]:
    """Every event about a document, customer or transaction (its correlation or subject
    id), in the order they happened, personal fields opened where the key still exists."""
    c = audit_events.c
    query = (
        select(
            c.event_id,
            c.event_type,
            c.topic,
            c.partition,
            c.offset,
            c.subject_id,
            c.occurred_at,
            c.payload,
        )
        .where(or_(c.correlation_id == subject, c.subject_id == subject))
        .order_by(c.occurred_at, c.recorded_at, c.topic, c.partition, c.offset)
    )
    with engine.connect() as conn:
        rows = list(conn.execute(query))
        keys = existing_keys(conn, {r.subject_id for r in rows if r.subject_id})
    events = []
    for r in rows:
        payload = reveal(str(r.event_id), r.payload, keys.get(r.subject_id))
        envelope = payload.get("envelope", {})
        producer = envelope.get("producer") or {}
        events.append(
            TrailEvent(
                occurred_at=r.occurred_at,
                event_type=r.event_type,
                event_id=str(r.event_id),
                topic=r.topic,
                partition=r.partition,
                offset=r.offset,
                producer=f"{producer.get('name', '?')} {producer.get('version', '')}".strip(),
                ruleset_version=envelope.get("ruleset_version"),
                model=envelope.get("model"),
                payload=payload,
            )
        )
    return events


EXPORT_COLUMNS = (
    "event_id",
    "event_type",
    "occurred_at",
    "recorded_at",
    "topic",
    "partition",
    "offset",
    "chain_seq",
    "correlation_id",
    "causation_id",
    "subject_id",
    "row_hash",
    "payload",
)


def export_rows(
    engine: Engine, since: datetime, until: datetime, batch: int = 2000
) -> Iterator[dict[str, Any]]:
    """Events that occurred in [since, until), in order, personal fields opened where the key
    still exists; streamed (bounded memory whatever the range)."""
    c = audit_events.c
    query = (
        select(
            c.event_id,
            c.event_type,
            c.occurred_at,
            c.recorded_at,
            c.topic,
            c.partition,
            c.offset,
            c.chain_seq,
            c.correlation_id,
            c.causation_id,
            c.subject_id,
            c.row_hash,
            c.payload,
        )
        .where(c.occurred_at >= since, c.occurred_at < until)
        .order_by(c.occurred_at, c.topic, c.partition, c.chain_seq)
        .execution_options(yield_per=batch)
    )
    with engine.connect() as conn, engine.connect() as key_conn:
        for chunk in conn.execute(query).partitions():
            keys = existing_keys(key_conn, {r.subject_id for r in chunk if r.subject_id})
            for r in chunk:
                row = dict(r._mapping)
                row["event_id"] = str(r.event_id)
                row["row_hash"] = bytes(r.row_hash).hex()
                row["payload"] = reveal(row["event_id"], r.payload, keys.get(r.subject_id))
                yield row


def counts_by_type(engine: Engine, topics: Sequence[str]) -> dict[str, int]:
    """Events recorded from the given topics, by event type."""
    query = (
        select(audit_events.c.event_type, func.count())
        .where(audit_events.c.topic.in_(list(topics)))
        .group_by(audit_events.c.event_type)
    )
    with engine.connect() as conn:
        return {event_type: count for event_type, count in conn.execute(query)}


def conflicts_by_topic(engine: Engine, topics: Sequence[str]) -> dict[str, int]:
    """Event ids seen again with other content, by topic of the later version (each version
    is a row of its own; ``audit_event_conflicts``)."""
    query = (
        select(audit_event_conflicts.c.topic, func.count())
        .where(audit_event_conflicts.c.topic.in_(list(topics)))
        .group_by(audit_event_conflicts.c.topic)
    )
    with engine.connect() as conn:
        return {topic: count for topic, count in conn.execute(query)}


def duplicate_event_ids(engine: Engine) -> int:
    """Events recorded more than once, beyond the versions recorded as conflicts
    (``audit_event_ids`` makes this 0; verified, not assumed)."""
    rows = (
        select(audit_events.c.event_id, func.count().label("n"))
        .group_by(audit_events.c.event_id)
        .having(func.count() > 1)
        .subquery()
    )
    versions = (
        select(audit_event_conflicts.c.event_id, func.count().label("n"))
        .group_by(audit_event_conflicts.c.event_id)
        .subquery()
    )
    query = (
        select(func.count())
        .select_from(rows.outerjoin(versions, rows.c.event_id == versions.c.event_id))
        .where(rows.c.n > 1 + func.coalesce(versions.c.n, 0))
    )
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def unindexed_event_ids(engine: Engine) -> int:
    """Rows whose event id is missing from ``audit_event_ids`` (0 unless inserted by hand)."""
    query = (
        select(func.count())
        .select_from(
            audit_events.outerjoin(
                audit_event_ids, audit_events.c.event_id == audit_event_ids.c.event_id
            )
        )
        .where(audit_event_ids.c.event_id.is_(None))
    )
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())
