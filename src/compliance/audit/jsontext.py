"""Events as compact UTF-8 JSON, in one native pass (orjson): Avro values (instants, bytes,
UUIDs) are spelled as ``compliance.events.to_json_safe`` spells them, without building a copy
of the record first. This is the audit sink's hot path: one payload per event."""

from __future__ import annotations

import base64
import uuid
from datetime import datetime
from typing import Any

import orjson


def _avro_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return {"$base64": base64.b64encode(value).decode("ascii")}
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def dumps(value: Any) -> bytes:
    return orjson.dumps(value, default=_avro_value, option=orjson.OPT_PASSTHROUGH_DATETIME)
