"""Backward compatibility of the event schemas: what v1 writers produced stays readable.

``schema_baselines/v1/`` is a frozen copy of ``schemas/*.avsc`` as released in v1 (never edit
it; add a v2 folder when a new baseline is released). Records are generated from the baseline
schema itself, so the check does not depend on today's event-building code.
"""

from __future__ import annotations

import copy
import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import fastavro
import pytest
from fastavro.read import SchemaResolutionError
from fastavro.schema import parse_schema

from compliance.codec import ENVELOPE_FILE, SchemaRegistry, bundled_schema_sources, registry

BASELINE = Path(__file__).resolve().parent / "schema_baselines" / "v1"
PRIMITIVE_EXAMPLES: dict[str, Any] = {
    "null": None,
    "boolean": True,
    "int": 7,
    "long": 2**40 + 1,
    "float": 0.5,
    "double": 0.25,
    "bytes": b"\x00\xc3v1",
}
TIMESTAMP = datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)  # millisecond precision


def baseline_sources() -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(BASELINE.glob("*.avsc"))}


def baseline_event_files() -> list[str]:
    return [name for name in baseline_sources() if name != ENVELOPE_FILE] or ["<no baseline>"]


def parse_with_envelope(envelope_json: Any, event_json: Any) -> Any:
    named: dict[str, Any] = {}
    parse_schema(envelope_json, named_schemas=named)
    return parse_schema(event_json, named_schemas=named)


def example(schema: Any, names: dict[str, Any], *, fill: bool, path: str = "value") -> Any:
    """A record valid for ``schema``: with every optional value set (``fill``) or left null."""
    if isinstance(schema, str):
        if schema == "string":
            return f"{path}-v1"
        if schema in PRIMITIVE_EXAMPLES:
            return PRIMITIVE_EXAMPLES[schema]
        return example(names[schema], names, fill=fill, path=path)
    if isinstance(schema, list):
        if not fill and "null" in schema:
            return None
        branch = next(b for b in schema if b != "null")
        return example(branch, names, fill=fill, path=path)
    kind = schema["type"]
    if schema.get("logicalType") == "timestamp-millis":
        return TIMESTAMP
    if kind == "record":
        namespace = schema.get("namespace", "compliance")
        names[f"{namespace}.{schema['name']}"] = schema
        names[schema["name"]] = schema
        return {
            f["name"]: example(f["type"], names, fill=fill, path=f["name"])
            for f in schema["fields"]
        }
    if kind == "array":
        return [example(schema["items"], names, fill=fill, path=path)] if fill else []
    if kind == "map":
        return {"key": example(schema["values"], names, fill=fill, path=path)} if fill else {}
    if kind == "enum":
        return schema["symbols"][0]
    if kind == "fixed":
        return bytes(schema["size"])
    return example(kind, names, fill=fill, path=path)


def baseline_record(event_file: str, *, fill: bool) -> tuple[Any, dict[str, Any]]:
    """(parsed v1 writer schema, a record written by a v1 producer)."""
    sources = {name: json.loads(text) for name, text in baseline_sources().items()}
    names: dict[str, Any] = {}
    example(sources[ENVELOPE_FILE], names, fill=fill)  # registers compliance.Envelope
    record = example(sources[event_file], names, fill=fill)
    return parse_with_envelope(sources[ENVELOPE_FILE], sources[event_file]), record


def read_with(writer: Any, reader: Any, record: dict[str, Any]) -> dict[str, Any]:
    """Write ``record`` as ``writer``; read it back with schema resolution to ``reader``."""
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, writer, record)
    buffer.seek(0)
    decoded = fastavro.schemaless_reader(buffer, writer, reader)
    assert buffer.tell() == len(buffer.getvalue()), "reader stopped before the end of the body"
    assert isinstance(decoded, dict)
    return decoded


def assert_same_where_both_have_it(written: Any, read: Any, path: str = "record") -> None:
    """Fields the reader still has must read back as written (new fields take defaults)."""
    if isinstance(written, dict) and isinstance(read, dict):
        for key in written.keys() & read.keys():
            assert_same_where_both_have_it(written[key], read[key], f"{path}.{key}")
    else:
        assert read == written, f"{path} read as {read!r}, written as {written!r}"


def event_name(event_file: str) -> str:
    return str(json.loads(baseline_sources()[event_file])["name"])


def test_the_v1_baseline_is_present_and_every_v1_event_type_still_exists() -> None:
    assert (BASELINE / ENVELOPE_FILE).is_file(), f"frozen baseline missing in {BASELINE}"
    v1_types = {event_name(f) for f in baseline_event_files()}
    assert v1_types, "no v1 event schemas in the baseline"
    assert v1_types <= set(registry().by_type), "an event type v1 wrote was removed"


@pytest.mark.parametrize("fill", [True, False], ids=["all-optional-set", "optional-null"])
@pytest.mark.parametrize("event_file", baseline_event_files())
def test_record_written_with_the_v1_schema_reads_with_the_current_schema(
    event_file: str, fill: bool
) -> None:
    writer, record = baseline_record(event_file, fill=fill)
    current = registry().by_type[event_name(event_file)].parsed
    assert_same_where_both_have_it(record, read_with(writer, current, record))


@pytest.mark.parametrize("event_file", baseline_event_files())
def test_message_from_a_v1_producer_decodes_with_the_current_codec(event_file: str) -> None:
    """End to end through the codec: a consumer meets v1 messages still held by the topic."""
    _, record = baseline_record(event_file, fill=True)
    v1_codec = SchemaRegistry(baseline_sources())
    message = v1_codec.encode(event_name(event_file), record)
    event_type, decoded = registry().decode(message)
    assert event_type == event_name(event_file)
    assert_same_where_both_have_it(record, decoded)


# --- the check bites: incompatible changes, built here, are detected by the same helper -------


def _current_json() -> dict[str, Any]:
    return {name: json.loads(text) for name, text in bundled_schema_sources().items()}


def _changed_reader(change: str) -> tuple[Any, Any, dict[str, Any]]:
    """(v1 writer, a reader with ``change`` applied to the current CheckResult, v1 record)."""
    sources = _current_json()
    envelope, event = (
        copy.deepcopy(sources[ENVELOPE_FILE]),
        copy.deepcopy(sources["check_result.avsc"]),
    )
    fields = {f["name"]: f for f in event["fields"]}
    if change == "new event field without default":
        event["fields"].append({"name": "jurisdiction", "type": "string"})
    elif change == "new envelope field without default":
        envelope["fields"].append({"name": "tenant", "type": "string"})
    elif change == "field type changed":
        fields["document_id"]["type"] = "long"
    elif change == "nullable field made required":
        fields["customer_id"]["type"] = "string"
        del fields["customer_id"]["default"]
    elif change == "new event field with default":  # compatible: the control case
        event["fields"].append({"name": "jurisdiction", "type": "string", "default": "EU"})
    else:
        raise AssertionError(change)
    writer, record = baseline_record("check_result.avsc", fill=False)
    return writer, parse_with_envelope(envelope, event), record


@pytest.mark.parametrize(
    "change",
    [
        "new event field without default",
        "new envelope field without default",
        "field type changed",
        "nullable field made required",
    ],
)
def test_the_compatibility_check_detects_an_incompatible_change(change: str) -> None:
    writer, reader, record = _changed_reader(change)
    with pytest.raises(SchemaResolutionError):
        read_with(writer, reader, record)


def test_the_compatibility_check_accepts_a_new_field_with_a_default() -> None:
    writer, reader, record = _changed_reader("new event field with default")
    decoded = read_with(writer, reader, record)
    assert decoded["jurisdiction"] == "EU"
    assert_same_where_both_have_it(record, decoded)
