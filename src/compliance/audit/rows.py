"""An event as the audit trail records it, before it is sealed, chained and written."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class AuditRow:
    event_id: str
    event_type: str
    topic: str
    partition: int
    offset: int
    kafka_key: str | None
    correlation_id: str
    causation_id: str | None
    subject_id: str | None
    occurred_at: datetime
    schema_fingerprint: str | None
    payload: dict[str, Any]
    raw_value: bytes | None = None
