"""An event as the audit trail records it, before it is sealed, chained and written."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple


class AuditRow(NamedTuple):
    """A plain tuple: the sink makes one per event, tens of thousands a second."""

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
