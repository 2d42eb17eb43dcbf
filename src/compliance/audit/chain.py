"""The hash chain: what a row's hash covers, and how it links to the row before it.

Each (topic, partition) is one chain, so parallel sinks (each owning some partitions) extend
disjoint chains. Row ``n`` of a chain stores::

    prev_hash = row_hash of row n-1 (32 zero bytes for the first row)
    row_hash  = SHA-256(prev_hash || SHA-256(canonical content of row n))

The canonical content is every stored column except the two hashes::

    "<chain_seq>\\n<recorded_at>\\n" + JSON array of the event's columns + "\\n" + payload

with the payload as the exact JSON stored (the column is ``json``, kept verbatim) and
instants spelled one way (UTC, microseconds). The part that does not depend on the row's
place in its chain is computed once per row (``fixed_content``), before the chain is locked.
Changing any byte of a row, moving it in its chain, or removing one breaks a link.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson

GENESIS = bytes(32)
_HEADER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False)


@dataclass(frozen=True)
class EventColumns:
    """The columns of a row that do not depend on its place in the chain."""

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
    raw_value: bytes | None
    payload_json: bytes  # exactly as stored


def timestamp_text(value: datetime) -> str:
    """One spelling of an instant: UTC, microseconds (what PostgreSQL keeps)."""
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.isoformat(timespec="microseconds")


def header_json(columns: list[object]) -> bytes:
    """Compact JSON, non-ASCII kept as UTF-8: orjson spells it byte for byte as
    ``_HEADER`` does (a unit test holds them equal); anything orjson refuses (e.g. integers
    beyond 64 bits) takes the standard encoder, which the chain was defined with."""
    try:
        return orjson.dumps(columns)
    except TypeError:
        return _HEADER.encode(columns).encode()


def fixed_content(row: EventColumns, occurred_text: str | None = None) -> bytes:
    """The hashed content that does not depend on the row's place in its chain;
    ``occurred_text`` is ``timestamp_text(row.occurred_at)`` when the caller has it already."""
    header = header_json(
        [
            row.event_id,
            row.event_type,
            row.topic,
            row.partition,
            row.offset,
            row.kafka_key,
            row.correlation_id,
            row.causation_id,
            row.subject_id,
            occurred_text or timestamp_text(row.occurred_at),
            row.schema_fingerprint,
            row.raw_value.hex() if row.raw_value is not None else None,
        ]
    )
    return header + b"\n" + row.payload_json


def content_digest(fixed: bytes, chain_seq: int, recorded_at_text: str) -> bytes:
    digest = hashlib.sha256(f"{chain_seq}\n{recorded_at_text}\n".encode())
    digest.update(fixed)
    return digest.digest()


def link(prev_hash: bytes, digest: bytes) -> bytes:
    return hashlib.sha256(prev_hash + digest).digest()


def row_hash(prev_hash: bytes, fixed: bytes, chain_seq: int, recorded_at: datetime) -> bytes:
    return link(prev_hash, content_digest(fixed, chain_seq, timestamp_text(recorded_at)))
