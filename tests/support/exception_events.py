"""Exception events for the notifier's tests and benchmark, built the way the checker builds
them (``compliance.exceptions.exception_event``), from a made-up classified document."""

from __future__ import annotations

import uuid
from typing import Any

from compliance.codec import Record
from compliance.events import envelope
from compliance.exceptions import exception_event

DOCUMENT_NUMBER = "X71K42Q90"
HOLDER = "INGRID HALVORSEN"


def classified(customer_id: str, document_id: str | None = None) -> Record:
    document_id = document_id or f"doc-{uuid.uuid4().hex[:12]}"
    return {
        "envelope": envelope(
            event_type="DocumentClassified",
            stage="classifier",
            cause=document_id,
            correlation_id=document_id,
            subject_id=customer_id,
            causation_id=None,
        ),
        "document_id": document_id,
        "customer_id": customer_id,
    }


def rule_exception(
    customer_id: str,
    *,
    severity: str = "high",
    rule_id: str = "identity.document-number",
    document_id: str | None = None,
    **overrides: Any,
) -> Record:
    """A failed-rule exception whose reason quotes a document number and the holder's name."""
    out = exception_event(
        classified(customer_id, document_id),
        stage="checker",
        kind="rule_failed",
        severity=severity,
        reason=f"document number {DOCUMENT_NUMBER} of {HOLDER} differs from X71K42Q91 in the MRZ",
        discriminator=rule_id,
        rule_id=rule_id,
        details={"document_number": DOCUMENT_NUMBER, "full_name": HOLDER},
    )
    record = out.record
    record.update(overrides)
    return record
