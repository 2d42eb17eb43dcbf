"""Reading a payment off ``transactions.submitted``, once per record and fast.

The screener reads every payment exactly as ``compliance.codec`` would (the same header,
fingerprint, trailing-bytes and bounds checks, the same record), with one shortcut for the
common case, a record written with the current ``TransactionSubmitted`` schema and no
personal fields to open: fastavro reads the body with the writer's schema alone (no schema
resolution), its two timestamps as integers, which are turned into the same UTC datetimes
here at a fraction of the cost. Anything else (an earlier schema version, sealed fields, a
record that is not ours) takes the codec's own path.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

from fastavro import schemaless_reader
from fastavro.schema import parse_schema

from compliance.bounds import MAX_ID_BYTES, MAX_NAME_BYTES, check_bounds
from compliance.codec import HEADER_LEN, MAGIC, Record, SchemaRegistry
from compliance.errors import PoisonMessage

EVENT_TYPE = "TransactionSubmitted"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SHORT = min(MAX_ID_BYTES, MAX_NAME_BYTES) // 4


def _without_logical_types(schema: Any) -> Any:
    """The schema as the wire sees it: logical types read as their underlying type."""
    if isinstance(schema, dict):
        return {
            k: _without_logical_types(v)
            for k, v in schema.items()
            if k != "logicalType" and not k.startswith("__")
        }
    if isinstance(schema, list):
        return [_without_logical_types(v) for v in schema]
    return schema


class TransactionReader:
    """``reader(data)``: the ``TransactionSubmitted`` record in ``data``; ``PoisonMessage``
    saying why it cannot be read."""

    def __init__(self, codec: SchemaRegistry) -> None:
        schema = codec.by_type[EVENT_TYPE]
        self._codec = codec
        self._header = MAGIC + schema.fingerprint
        self._fast = schema.personal is None or codec.keyring is None
        self._schema = parse_schema(_without_logical_types(schema.parsed))
        self._ids = tuple(f["name"] for f in schema.parsed["fields"] if f["name"].endswith("_id"))

    def _check_bounds(self, record: Record) -> None:
        """``check_bounds``, called only when a value could be past a bound: one holding a
        NUL, or longer than a quarter of the smallest bound (a UTF-8 character is at most 4
        bytes, so a shorter one is within every bound)."""
        envelope = record["envelope"]
        producer = envelope["producer"]
        values = [
            envelope["event_id"],
            envelope["event_type"],
            envelope["correlation_id"],
            envelope["causation_id"],
            envelope["subject_id"],
            envelope["ruleset_version"],
            envelope["model"],
            producer["name"],
            producer["version"],
        ]
        values += [record[name] for name in self._ids]
        for value in values:
            if value is not None and (len(value) > _SHORT or "\x00" in value):
                check_bounds(EVENT_TYPE, record)
                return

    def __call__(self, data: bytes | None) -> Record:
        if not self._fast or not data or data[:HEADER_LEN] != self._header:
            event_type, slow = self._codec.decode(data)
            if event_type != EVENT_TYPE:
                raise PoisonMessage(f"{event_type} does not belong on transactions.submitted")
            return slow
        buffer = io.BytesIO(data)
        buffer.seek(HEADER_LEN)
        try:
            decoded = schemaless_reader(buffer, self._schema, None)
        except Exception as exc:  # fastavro raises several types on corrupt bodies
            raise PoisonMessage(f"corrupt {EVENT_TYPE} body: {exc}") from exc
        if buffer.tell() != len(data):
            raise PoisonMessage(f"{len(data) - buffer.tell()} trailing bytes after the body")
        if not isinstance(decoded, dict):
            raise PoisonMessage(f"{EVENT_TYPE} body is not a record")
        record: Record = decoded
        self._check_bounds(record)
        envelope = record["envelope"]
        envelope["occurred_at"] = _EPOCH + timedelta(milliseconds=envelope["occurred_at"])
        record["booked_at"] = _EPOCH + timedelta(milliseconds=record["booked_at"])
        return record
