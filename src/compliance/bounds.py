"""Upper bounds of the identifiers every event carries, in one place, checked on decode.

PostgreSQL refuses an index entry over about 2,700 bytes (SQLSTATE 54000), and the audit trail
and the checker's state index several of these strings (correlation id, subject id, customer
id). A value past its bound is a content error: the record is dead-lettered with the reason,
it never reaches a store that would refuse it. Bounds are in UTF-8 bytes, well under that
limit:

- ``MAX_ID_BYTES`` (512) for the envelope's ``event_id``, ``correlation_id``,
  ``causation_id`` and ``subject_id``, and for every top-level identifier of an event (a
  string field named ``*_id``: ``document_id``, ``customer_id``, ``consent_id``, ...);
- ``MAX_NAME_BYTES`` (256) for the envelope's ``event_type``, ``producer`` name and version,
  ``ruleset_version`` and ``model``.

A Kafka key longer than ``MAX_ID_BYTES`` is replaced by its SHA-256 where it is kept (dead
letters), never cut.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from compliance.errors import FieldOutOfBounds

MAX_ID_BYTES = 512
MAX_NAME_BYTES = 256

# (key, field named in the error, bound); the labels spelt once, not per event.
_ENVELOPE_BOUNDS = tuple(
    (name, f"envelope.{name}", bound)
    for name, bound in (
        ("event_id", MAX_ID_BYTES),
        ("correlation_id", MAX_ID_BYTES),
        ("causation_id", MAX_ID_BYTES),
        ("subject_id", MAX_ID_BYTES),
        ("event_type", MAX_NAME_BYTES),
        ("ruleset_version", MAX_NAME_BYTES),
        ("model", MAX_NAME_BYTES),
    )
)
_PRODUCER_BOUNDS = tuple(
    (name, f"envelope.producer.{name}", bound)
    for name, bound in (("name", MAX_NAME_BYTES), ("version", MAX_NAME_BYTES))
)


def utf8_length(value: str) -> int:
    """Bytes of ``value`` in UTF-8."""
    return len(value) if value.isascii() else len(value.encode("utf-8", "surrogatepass"))


def check_bounds(event_type: str, record: Mapping[str, Any]) -> None:
    """Raise ``FieldOutOfBounds`` naming the first field past its bound (never its value).

    Called on every event decoded, so the common case is kept cheap: a string within a
    quarter of its bound (a UTF-8 character is at most 4 bytes) and holding no NUL is within
    it, and only a value failing that quick test is measured in bytes."""
    envelope = record.get("envelope")
    if isinstance(envelope, Mapping):
        for name, field, bound in _ENVELOPE_BOUNDS:
            value = envelope.get(name)
            if isinstance(value, str) and (len(value) > bound >> 2 or "\x00" in value):
                _check(event_type, field, value, bound)
        producer = envelope.get("producer")
        if isinstance(producer, Mapping):
            for name, field, bound in _PRODUCER_BOUNDS:
                value = producer.get(name)
                if isinstance(value, str) and (len(value) > bound >> 2 or "\x00" in value):
                    _check(event_type, field, value, bound)
    for name, value in record.items():
        if (
            name.endswith("_id")
            and isinstance(value, str)
            and (len(value) > MAX_ID_BYTES >> 2 or "\x00" in value)
        ):
            _check(event_type, name, value, MAX_ID_BYTES)


def _check(event_type: str, field: str, value: str, bound: int) -> None:
    if "\x00" in value:  # PostgreSQL can store no NUL in text
        raise FieldOutOfBounds(f"{event_type}: {field} holds a NUL character")
    size = utf8_length(value)
    if size > bound:
        raise FieldOutOfBounds(f"{event_type}: {field} is {size} bytes, over its bound of {bound}")
