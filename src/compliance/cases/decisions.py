"""Building ``cases.decisions`` events: one per change of a case.

Event ids are deterministic (``compliance.events.derive_event_id``): the processor's
decisions derive from the exception they take in, so a batch read again after a crash
yields the same events (and the projection, idempotent by event id, applies each once); an
officer's decisions derive from the case's last event, the action, the officer and what
they wrote, so a form submitted twice on the same case state is one decision.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from compliance.codec import Record
from compliance.events import derive_event_id, envelope, now
from compliance.outgoing import Outgoing
from compliance.topics import CASES_DECISIONS

TOPIC = CASES_DECISIONS.name
EVENT_TYPE = "CaseDecision"
PROCESSOR = "cases"  # the actor and stage of the processor's decisions
DESK = "case-desk"  # the stage of officers' decisions

ACTIONS = (
    "opened",
    "exception_added",
    "assigned",
    "review_started",
    "commented",
    "escalated",
    "decision_proposed",
    "decision_approved",
    "decision_rejected",
    "closed",
    "sla_breached",
)
SEVERITY_RANK = {"low": 0, "medium": 1, "high": 2, "critical": 3}
FOUR_EYES = frozenset({"high", "critical"})


def higher_severity(a: str | None, b: str | None) -> str:
    """The higher of two severities (an unknown one ranks lowest)."""
    if a is None:
        return b or "low"
    if b is None:
        return a
    return a if SEVERITY_RANK.get(a, -1) >= SEVERITY_RANK.get(b, -1) else b


def earlier(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


@dataclass(frozen=True)
class CaseState:
    """What a decision is made from: the case as the projection (or the batch) has it."""

    case_id: str
    scope: str
    customer_id: str
    category: str
    severity: str
    status: str
    assignee: str | None
    sla_due_at: datetime | None
    sla_breached: bool
    pending_outcome: str | None
    pending_by: str | None
    last_event_id: str

    @property
    def is_open(self) -> bool:
        return not self.status.startswith("closed")


def decision(
    case: CaseState,
    *,
    action: str,
    actor: str,
    stage: str,
    cause: str,
    discriminator: str,
    status: str | None = None,
    outcome: str | None = None,
    severity: str | None = None,
    assignee: str | None = None,
    title: str | None = None,
    comment: str | None = None,
    sla_due_at: datetime | None = None,
    exception: Record | None = None,
    detail: dict[str, str] | None = None,
    occurred_at: datetime | None = None,
    causation_id: str | None = None,
) -> Outgoing:
    """The event of one change of ``case``; fields not given keep the case's values.
    ``comment`` must be sealed already (``compliance.sealing``)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown case action {action!r}")
    env = envelope(
        event_type=EVENT_TYPE,
        stage=stage,
        cause=cause,
        discriminator=discriminator,
        correlation_id=case.case_id,
        subject_id=case.customer_id,
        causation_id=causation_id,
        occurred_at=_millis(occurred_at or now()),
    )
    record: Record = {
        "envelope": env,
        "case_id": case.case_id,
        "customer_id": case.customer_id,
        "category": case.category,
        "action": action,
        "actor": actor,
        "status": status or case.status,
        "outcome": outcome,
        "severity": severity or case.severity,
        "assignee": assignee if assignee is not None else case.assignee,
        "title": title,
        "comment": comment,
        "sla_due_at": _millis(sla_due_at) if sla_due_at is not None else case.sla_due_at,
        "exception": exception,
        "detail": detail or {},
    }
    return Outgoing(TOPIC, EVENT_TYPE, record)


def desk_discriminator(action: str, actor: str, *parts: str | None) -> str:
    """What makes an officer's decision distinct on one case state: the action, the officer
    and a digest of what they wrote (never the text itself)."""
    digest = hashlib.sha256("\x1f".join(p or "" for p in parts).encode("utf-8")).hexdigest()
    return f"{action}:{actor}:{digest[:32]}"


def processor_event_id(exception_event_id: str, action: str) -> str:
    return derive_event_id(PROCESSOR, exception_event_id, action)


def _millis(at: datetime) -> datetime:
    """What the wire carries (timestamp-millis), so an event equals its decoding."""
    return at.replace(microsecond=at.microsecond // 1000 * 1000)


def to_json(value: Any) -> Any:
    """Records of a decision for a JSONB column (evidence lists, detail maps)."""
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value
