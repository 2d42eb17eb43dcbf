"""Event construction: the shared envelope and deterministic event ids.

An event id is a UUIDv5 of the stage that produced the event, the id of the event that caused
it, and a discriminator (for a stage that emits several events per input, e.g. one per rule).
Re-processing an input after a crash therefore yields the same ids, and the idempotent audit
sink records each event once.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from datetime import UTC, datetime
from typing import Any

from compliance import __version__
from compliance.codec import Record

EVENT_NAMESPACE = uuid.UUID("6f1c1f4e-3c4b-5d8e-9a7b-2c1d0e9f8a71")
_NAMESPACE_BYTES = EVENT_NAMESPACE.bytes


def derive_event_id(stage: str, cause: str, discriminator: str = "") -> str:
    """Same stage + same cause + same discriminator = same id, on any machine, forever.

    ``str(uuid.uuid5(EVENT_NAMESPACE, name))`` computed directly (RFC 4122 name-based, SHA-1:
    version 5, variant 10): a stage makes one id per output, and building a ``UUID`` object
    to print it cost three times as much as the hash."""
    name = f"{stage}\x1f{cause}\x1f{discriminator}".encode()
    raw = bytearray(hashlib.sha1(_NAMESPACE_BYTES + name, usedforsecurity=False).digest()[:16])
    raw[6] = (raw[6] & 0x0F) | 0x50
    raw[8] = (raw[8] & 0x3F) | 0x80
    x = raw.hex()
    return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"


def now() -> datetime:
    return datetime.now(UTC)


def envelope(
    *,
    event_type: str,
    stage: str,
    cause: str,
    discriminator: str = "",
    correlation_id: str,
    subject_id: str,
    causation_id: str | None,
    ruleset_version: str | None = None,
    model: str | None = None,
    occurred_at: datetime | None = None,
) -> Record:
    return {
        "event_id": derive_event_id(stage, cause, discriminator),
        "event_type": event_type,
        "occurred_at": occurred_at or now(),
        "correlation_id": correlation_id,
        "causation_id": causation_id,
        "subject_id": subject_id,
        "producer": {"name": stage, "version": __version__},
        "ruleset_version": ruleset_version,
        "model": model,
    }


def caused_by(
    cause: Record,
    *,
    event_type: str,
    stage: str,
    discriminator: str = "",
    ruleset_version: str | None = None,
    model: str | None = None,
) -> Record:
    """The envelope of an event caused by ``cause``: same correlation and subject."""
    parent = cause["envelope"]
    return envelope(
        event_type=event_type,
        stage=stage,
        cause=parent["event_id"],
        discriminator=discriminator,
        correlation_id=parent["correlation_id"],
        subject_id=parent["subject_id"],
        causation_id=parent["event_id"],
        ruleset_version=ruleset_version,
        model=model,
    )


def subject_key(record: Record) -> bytes:
    subject: str = record["envelope"]["subject_id"]
    return subject.encode("utf-8")


def to_json_safe(value: Any) -> Any:
    """Avro record -> JSON-compatible value (for the audit trail's JSONB payload)."""
    if isinstance(value, dict):
        return {k: to_json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json_safe(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return {"$base64": base64.b64encode(value).decode("ascii")}
    if isinstance(value, uuid.UUID):
        return str(value)
    return value
