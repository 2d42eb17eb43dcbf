"""Building the exception events a compliance officer reviews.

Each exception is routed when it is raised (``compliance.exception_routing``): it carries its
category, the time an officer must have acted by (its SLA), and references to the evidence
behind it (the event that caused it, the document, and whatever the caller names).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from compliance.codec import Record
from compliance.events import caused_by
from compliance.exception_routing import current_policy
from compliance.outgoing import Outgoing
from compliance.topics import COMPLIANCE_EXCEPTIONS

Evidence = tuple[str, str]  # (kind: event, document, check_result or transaction; id)


def exception_event(
    cause: Record,
    *,
    stage: str,
    kind: str,
    severity: str,
    reason: str,
    discriminator: str = "",
    rule_id: str | None = None,
    rule_version: str | None = None,
    ruleset_version: str | None = None,
    model: str | None = None,
    details: Mapping[str, str | None] | None = None,
    evidence: Iterable[Evidence] = (),
) -> Outgoing:
    envelope = caused_by(
        cause,
        event_type="ComplianceException",
        stage=stage,
        discriminator=f"exception:{discriminator}",
        ruleset_version=ruleset_version,
        model=model,
    )
    policy = current_policy()
    category = policy.category(kind, rule_id)
    refs = [("event", cause["envelope"]["event_id"])]
    if cause.get("document_id"):
        refs.append(("document", cause["document_id"]))
    refs.extend(ref for ref in evidence if ref not in refs)
    record = {
        "envelope": envelope,
        "document_id": cause.get("document_id"),
        "customer_id": cause.get("customer_id"),
        "kind": kind,
        "severity": severity,
        "rule_id": rule_id,
        "rule_version": rule_version,
        "reason": reason,
        "details": details or {},
        "category": category,
        "sla_due_at": _to_millis(policy.due(category, severity, envelope["occurred_at"])),
        "evidence": [{"kind": k, "ref": r} for k, r in refs],
    }
    return Outgoing(COMPLIANCE_EXCEPTIONS.name, "ComplianceException", record)


def _to_millis(at: datetime) -> datetime:
    """What the wire carries (Avro timestamp-millis), so the record equals its decoding."""
    return at.replace(microsecond=at.microsecond // 1000 * 1000)
