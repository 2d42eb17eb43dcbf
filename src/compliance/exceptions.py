"""Building the exception events a compliance officer reviews."""

from __future__ import annotations

from collections.abc import Mapping

from compliance.codec import Record
from compliance.events import caused_by
from compliance.outgoing import Outgoing
from compliance.topics import COMPLIANCE_EXCEPTIONS


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
) -> Outgoing:
    record = {
        "envelope": caused_by(
            cause,
            event_type="ComplianceException",
            stage=stage,
            discriminator=f"exception:{discriminator}",
            ruleset_version=ruleset_version,
            model=model,
        ),
        "document_id": cause.get("document_id"),
        "customer_id": cause.get("customer_id"),
        "kind": kind,
        "severity": severity,
        "rule_id": rule_id,
        "rule_version": rule_version,
        "reason": reason,
        "details": details or {},
    }
    return Outgoing(COMPLIANCE_EXCEPTIONS.name, "ComplianceException", record)
