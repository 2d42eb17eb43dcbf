"""Read-side queries on the audit trail, for people and for the demo."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import Engine, func, select

from compliance.audit.store import audit_events


@dataclass
class DocumentTrail:
    document_id: str
    filename: str | None = None
    document_type: str | None = None
    checks: dict[str, str] = field(default_factory=dict)  # rule id -> outcome
    exceptions: list[str] = field(default_factory=list)  # reasons
    unreadable: bool = False


def trails(
    engine: Engine, document_ids: Sequence[str], topics: Sequence[str]
) -> list[DocumentTrail]:
    """What the audit trail holds for each document, from the given topics, by event type."""
    found = {doc_id: DocumentTrail(doc_id) for doc_id in document_ids}
    query = select(audit_events.c.event_type, audit_events.c.payload).where(
        audit_events.c.correlation_id.in_(list(document_ids)),
        audit_events.c.topic.in_(list(topics)),
    )
    with engine.connect() as conn:
        for event_type, payload in conn.execute(query):
            trail = found[payload["envelope"]["correlation_id"]]
            if event_type == "DocumentArrived":
                trail.filename = payload["filename"]
            elif event_type == "DocumentClassified":
                trail.document_type = payload["document_type"]
            elif event_type == "CheckResult":
                trail.checks[payload["rule_id"]] = payload["outcome"]
            elif event_type == "ComplianceException":
                trail.exceptions.append(payload["reason"])
                trail.unreadable |= payload["kind"] == "document_unreadable"
    return [found[doc_id] for doc_id in document_ids]


def counts_by_type(engine: Engine, topics: Sequence[str]) -> dict[str, int]:
    """Events recorded from the given topics, by event type."""
    query = (
        select(audit_events.c.event_type, func.count())
        .where(audit_events.c.topic.in_(list(topics)))
        .group_by(audit_events.c.event_type)
    )
    with engine.connect() as conn:
        return {event_type: count for event_type, count in conn.execute(query)}


def duplicate_event_ids(engine: Engine) -> int:
    """Events recorded more than once (the unique index makes this 0; verified, not assumed)."""
    sub = (
        select(audit_events.c.event_id)
        .group_by(audit_events.c.event_id)
        .having(func.count() > 1)
        .subquery()
    )
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(sub)).scalar_one())
