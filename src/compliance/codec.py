"""Avro single-object encoding of events, with the schemas in ``schemas/``.

Each message is ``0xC3 0x01`` + the 8-byte CRC-64-AVRO fingerprint of the writer's schema +
the Avro body, so a consumer can tell which schema wrote it without a side channel. Anything
else fails to decode with ``PoisonMessage`` and a reason; so does a record whose identifiers
are longer than their bounds (``compliance.bounds``), for every consumer that decodes.

Fields marked ``"personal": true`` in a schema are sealed with their subject's key on encode
and opened on decode when the codec has a keyring (``with_keyring``; ``compliance.sealing``);
without one, encode writes the values as given and decode leaves sealed values sealed.
"""

from __future__ import annotations

import copy
import io
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

import fastavro
from fastavro.schema import fingerprint, parse_schema, to_parsing_canonical_form

from compliance.bounds import check_bounds
from compliance.errors import PoisonMessage
from compliance.sealing import Keyring, SubjectErased, Transform, opener, personal_plan, sealer

MAGIC = b"\xc3\x01"
HEADER_LEN = len(MAGIC) + 8
ENVELOPE_FILE = "envelope.avsc"

Record = dict[str, Any]


@dataclass(frozen=True)
class EventSchema:
    name: str  # full Avro name, e.g. "compliance.DocumentArrived"
    file: str
    parsed: Any
    fingerprint: bytes
    personal: Transform | None = None  # seals/opens the fields marked personal
    # The name without its namespace, e.g. "DocumentArrived"; kept, not derived per event.
    event_type: str = field(init=False)
    header: bytes = field(init=False)  # what every message it writes starts with

    def __post_init__(self) -> None:
        object.__setattr__(self, "event_type", self.name.rsplit(".", 1)[-1])
        object.__setattr__(self, "header", MAGIC + self.fingerprint)


def _inline(schema: Any, definitions: dict[str, Any]) -> Any:
    """The schema with the shared named types (the envelope) written out where they are used,
    so the schema, its canonical form and its fingerprint describe every byte it writes."""
    if isinstance(schema, str):
        return definitions.get(schema, schema)
    if isinstance(schema, list):
        return [_inline(branch, definitions) for branch in schema]
    if isinstance(schema, dict):
        return {
            key: _inline(value, definitions)
            if key in ("type", "fields", "items", "values")
            else value
            for key, value in schema.items()
        }
    return schema


def _event_schema(file: str, text: str, definitions: dict[str, Any]) -> EventSchema:
    parsed = parse_schema(_inline(json.loads(text), definitions))
    if not isinstance(parsed, dict):
        raise ValueError(f"{file}: an event schema must be a record")
    canonical = to_parsing_canonical_form(parsed)
    return EventSchema(
        name=parsed["name"],
        file=file,
        parsed=parsed,
        fingerprint=bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO")),
        personal=personal_plan(parsed),
    )


class SchemaRegistry:
    """The event schemas bundled with the product, by event type and by fingerprint.

    ``sources`` holds the current schemas; ``history`` holds earlier versions of them, which
    messages still in the topics may have been written with: those decode into the current
    shape by Avro schema resolution.
    """

    keyring: Keyring | None = None

    def __init__(self, sources: Mapping[str, str], history: Mapping[str, str] | None = None):
        envelope = json.loads(sources[ENVELOPE_FILE])
        definitions = {f"{envelope['namespace']}.{envelope['name']}": envelope}
        self.by_type: dict[str, EventSchema] = {}
        self.by_fingerprint: dict[bytes, EventSchema] = {}
        self._writers: dict[bytes, tuple[Any, EventSchema]] = {}
        for file, text in sorted(sources.items()):
            if file == ENVELOPE_FILE:
                continue
            schema = _event_schema(file, text, definitions)
            self.by_type[schema.event_type] = schema
            self.by_fingerprint[schema.fingerprint] = schema
            self._writers[schema.fingerprint] = (schema.parsed, schema)
        for file, text in sorted((history or {}).items()):
            old = _event_schema(file, text, definitions)
            self._writers.setdefault(old.fingerprint, (old.parsed, self.by_type[old.event_type]))

    def with_keyring(self, keyring: Keyring) -> SchemaRegistry:
        """This registry, sealing personal fields on encode and opening them on decode."""
        sealing = copy.copy(self)
        sealing.keyring = keyring
        return sealing

    def prefetch_keys(self, subjects: Iterable[str]) -> None:
        """Read (or create) the keys of a batch's subjects at once; nothing without a keyring."""
        if self.keyring is not None:
            self.keyring.prefetch(subjects)

    def encode(self, event_type: str, record: Record) -> bytes:
        schema = self.by_type[event_type]
        record = self._sealed(schema, record)
        buffer = io.BytesIO()
        buffer.write(schema.header)
        fastavro.schemaless_writer(buffer, schema.parsed, record, strict_allow_default=True)
        return buffer.getvalue()

    def decode(self, data: bytes | None) -> tuple[str, Record]:
        """Return (event_type, record); raise PoisonMessage saying why it cannot be read."""
        if not data:
            raise PoisonMessage("empty message: no Avro single-object header")
        if data[:2] != MAGIC or len(data) < HEADER_LEN:
            raise PoisonMessage("not Avro single-object encoded (missing 0xC3 0x01 header)")
        known = self._writers.get(data[2:HEADER_LEN])
        if known is None:
            raise PoisonMessage(f"unknown writer schema fingerprint {data[2:HEADER_LEN].hex()}")
        writer, schema = known
        buffer = io.BytesIO(data)
        buffer.seek(HEADER_LEN)
        try:
            record = fastavro.schemaless_reader(buffer, writer, schema.parsed)
        except Exception as exc:  # fastavro raises several types on corrupt bodies
            raise PoisonMessage(f"corrupt {schema.event_type} body: {exc}") from exc
        if buffer.tell() != len(data):
            raise PoisonMessage(f"{len(data) - buffer.tell()} trailing bytes after the body")
        if not isinstance(record, dict):
            raise PoisonMessage(f"{schema.event_type} body is not a record")
        check_bounds(schema.event_type, record)
        return schema.event_type, self._opened(schema, record)

    # The sealing step: personal fields on their way in and out (``compliance.sealing``).

    def _sealed(self, schema: EventSchema, record: Record) -> Record:
        """``record`` with its personal values sealed with the subject's key (``[erased]`` for
        an erased subject); the caller's record is left as it was."""
        if self.keyring is None or schema.personal is None:
            return record
        key = self.keyring.sealing_key(record["envelope"]["subject_id"])
        sealed: Record = schema.personal(record, sealer(key))
        return sealed

    def _opened(self, schema: EventSchema, record: Record) -> Record:
        """``record`` with its sealed values opened. The subject erased: returned as it is,
        still sealed (the stage decides what an erased subject's record gets); a sealed value
        that does not open with the subject's key makes the record poison."""
        if self.keyring is None or schema.personal is None:
            return record
        try:
            opened: Record = schema.personal(
                record, opener(record["envelope"]["subject_id"], self.keyring)
            )
        except SubjectErased:
            return record
        return opened


def bundled_schema_sources(subfolder: str = "") -> dict[str, str]:
    """The ``.avsc`` files in ``schemas/`` (or in one of its sub-folders, e.g. ``history``)."""
    folder = resources.files("compliance.schemas")
    if subfolder:
        folder = folder / subfolder
        if not folder.is_dir():
            return {}
    return {
        item.name: item.read_text(encoding="utf-8")
        for item in folder.iterdir()
        if item.name.endswith(".avsc")
    }


@lru_cache(maxsize=1)
def registry() -> SchemaRegistry:
    """Current schemas, plus earlier versions kept in ``schemas/history/`` (named
    ``<name>.v<N>.avsc``) so that records they wrote still decode after a schema change."""
    return SchemaRegistry(bundled_schema_sources(), bundled_schema_sources("history"))
