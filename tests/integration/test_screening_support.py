"""Helpers shared by the screening integration tests (no tests here): running the CLI as an
officer would, and reading what the shared audit trail recorded on this test's topics."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select

from compliance.audit.store import audit_events
from compliance.config import Settings
from compliance.events import envelope

from .conftest import compliance_cli as cli

__all__ = ["classified_passport", "cli"]


def classified_passport(customer_id: str, name: str, dob: str, nationality: str) -> dict[str, Any]:
    """A DocumentClassified passport of a person, as the classifier would publish it."""
    document_id = f"doc-{uuid.uuid4().hex[:16]}"
    digest = hashlib.sha256(document_id.encode()).hexdigest()
    fields = {"full_name": name, "date_of_birth": dob, "nationality": nationality}
    return {
        "envelope": envelope(
            event_type="DocumentClassified",
            stage="test-classifier",
            cause=document_id,
            correlation_id=document_id,
            subject_id=customer_id,
            causation_id=None,
        ),
        "document_id": document_id,
        "customer_id": customer_id,
        "document_type": "passport",
        "confidence": 0.98,
        "fields": [{"name": k, "value": v, "confidence": 0.97} for k, v in fields.items()],
        "extraction_method": "text",
        "text_sha256": digest,
        "document_sha256": digest,
    }


def audited(engine: Engine, settings: Settings, event_type: str) -> dict[str, dict[str, object]]:
    """event id -> payload of the events of one type audited from this test's topics."""
    query = select(audit_events.c.event_id, audit_events.c.payload).where(
        audit_events.c.topic.startswith(settings.topic_prefix),
        audit_events.c.event_type == event_type,
    )
    with engine.connect() as conn:
        return {str(event_id): payload for event_id, payload in conn.execute(query)}


def rows_with_event_id(engine: Engine, event_id: str) -> int:
    query = select(func.count()).where(audit_events.c.event_id == event_id)
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def write_sdn(folder: Path, people: list[tuple[int, str]]) -> Path:
    """An OFAC sdn.csv (official format, no header) listing ``people`` as individuals."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = [f'{num},"{name}","individual","SDGT"' + ",-0- " * 8 for num, name in people]
    (folder / "sdn.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return folder
