"""Exception events made up for tests, the benchmark and demonstrations of case management:
what a processor would raise, without running one."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta

from compliance.codec import Record
from compliance.events import envelope, now
from compliance.outgoing import Outgoing
from compliance.topics import COMPLIANCE_EXCEPTIONS


def sample_exception(
    customer_id: str,
    *,
    category: str = "kyc",
    rule_id: str | None = "identity.name-present",
    kind: str = "rule_failed",
    severity: str = "medium",
    reason: str = "the rule failed",
    details: Mapping[str, str | None] | None = None,
    document_id: str | None = None,
    sla_due_at: datetime | None = None,
    occurred_at: datetime | None = None,
    cause: str | None = None,
    evidence: list[tuple[str, str]] | None = None,
    subject_id: str | None = None,
) -> Outgoing:
    """A ComplianceException about ``customer_id`` (keyed by it, as the checker's are);
    ``subject_id``: the envelope's subject when it is not the customer (a transaction
    alert's is the account)."""
    at = occurred_at or now()
    at = at.replace(microsecond=at.microsecond // 1000 * 1000)
    document = document_id or f"doc-{uuid.uuid4().hex[:12]}"
    env = envelope(
        event_type="ComplianceException",
        stage="sample",
        cause=cause or str(uuid.uuid4()),
        discriminator="exception",
        correlation_id=document,
        subject_id=subject_id or customer_id,
        causation_id=None,
        occurred_at=at,
    )
    due = sla_due_at or at + timedelta(hours=24)
    record: Record = {
        "envelope": env,
        "document_id": document,
        "customer_id": customer_id,
        "kind": kind,
        "severity": severity,
        "rule_id": rule_id,
        "rule_version": "1" if rule_id else None,
        "reason": reason,
        "details": dict(details or {}),
        "category": category,
        "sla_due_at": due.replace(microsecond=due.microsecond // 1000 * 1000),
        "evidence": [{"kind": k, "ref": r} for k, r in (evidence or [("document", document)])],
    }
    return Outgoing(COMPLIANCE_EXCEPTIONS.name, "ComplianceException", record)
