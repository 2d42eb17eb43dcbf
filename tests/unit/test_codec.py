"""The Avro single-object codec: every event type round-trips, the header is the one the Avro
specification defines, and anything else is rejected as PoisonMessage with a reason."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from copy import deepcopy
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import fastavro
import pytest

from compliance.bounds import MAX_ID_BYTES, MAX_NAME_BYTES
from compliance.codec import HEADER_LEN, SchemaRegistry, bundled_schema_sources, registry
from compliance.errors import FieldOutOfBounds, PoisonMessage
from compliance.events import caused_by, envelope
from compliance.publisher import arrival_event

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "documents"
FIXED_NOW = datetime(2026, 11, 2, 9, 30, 0, 123000, tzinfo=UTC)

# --- the reference CRC-64-AVRO and Parsing Canonical Form, written from the Avro spec -------

EMPTY = 0xC15D213AA4D7A795


def _fp_table() -> list[int]:
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (EMPTY & -(fp & 1))
        table.append(fp)
    return table


FP_TABLE = _fp_table()


def crc64_avro(data: bytes) -> int:
    """The 64-bit Rabin fingerprint of the Avro spec ("Schema Fingerprints")."""
    fp = EMPTY
    for byte in data:
        fp = (fp >> 8) ^ FP_TABLE[(fp ^ byte) & 0xFF]
    return fp


PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})


def _fullname(name: str, namespace: str) -> str:
    return name if "." in name or not namespace else f"{namespace}.{name}"


def _canonical(schema: Any, definitions: dict[str, Any], namespace: str, seen: set[str]) -> Any:
    """Spec transforms PRIMITIVES, FULLNAMES, STRIP and ORDER; a named type is written in full
    where it first occurs and by its full name afterwards. ``definitions`` holds named types
    defined in other files (the envelope), which are part of the writer's schema."""
    if isinstance(schema, str):
        if schema in PRIMITIVES:
            return schema
        fullname = _fullname(schema, namespace)
        if fullname in seen:
            return fullname
        return _canonical(definitions[fullname], definitions, namespace, seen)
    if isinstance(schema, list):
        return [_canonical(branch, definitions, namespace, seen) for branch in schema]
    kind = schema["type"]
    if kind in ("record", "enum", "fixed"):
        fullname = _fullname(schema["name"], schema.get("namespace", namespace))
        seen.add(fullname)
        inner = fullname.rpartition(".")[0]
        out: dict[str, Any] = {"name": fullname, "type": kind}
        if kind == "record":
            out["fields"] = [
                {"name": f["name"], "type": _canonical(f["type"], definitions, inner, seen)}
                for f in schema["fields"]
            ]
        elif kind == "enum":
            out["symbols"] = schema["symbols"]
        else:
            out["size"] = schema["size"]
        return out
    if kind == "array":
        return {"type": "array", "items": _canonical(schema["items"], definitions, namespace, seen)}
    if kind == "map":
        return {"type": "map", "values": _canonical(schema["values"], definitions, namespace, seen)}
    return _canonical(kind, definitions, namespace, seen)  # {"type": "long", "logicalType": ...}


def parsing_canonical_form(schema: Any, definitions: dict[str, Any] | None = None) -> str:
    canonical = _canonical(schema, definitions or {}, "", set())
    return json.dumps(canonical, separators=(",", ":"), ensure_ascii=False)


def single_object_header(schema_json: Any, definitions: dict[str, Any]) -> bytes:
    fingerprint = crc64_avro(parsing_canonical_form(schema_json, definitions).encode("utf-8"))
    return b"\xc3\x01" + fingerprint.to_bytes(8, "little")


def _sources_json() -> dict[str, Any]:
    return {name: json.loads(text) for name, text in bundled_schema_sources().items()}


def _envelope_definitions(sources: dict[str, Any]) -> dict[str, Any]:
    env = sources["envelope.avsc"]
    return {_fullname(env["name"], env["namespace"]): env}


# --- realistic records, one builder per event type ------------------------------------------


def _arrival() -> dict[str, Any]:
    record = arrival_event(
        SAMPLES / "passport_halvorsen.txt",
        source_system="onboarding-portal",
        customer_id="C-1001",
        declared_type="passport",
        inline_max_bytes=64 * 1024,  # inline, so the bytes branch is exercised
    )
    record["metadata"] = {"channel": "mobile", "branch": "OSL-01"}
    return record


def _classified() -> dict[str, Any]:
    arrival = _arrival()
    return {
        "envelope": caused_by(
            arrival, event_type="DocumentClassified", stage="classifier", model="local-rules/1"
        ),
        "document_id": arrival["document_id"],
        "customer_id": arrival["customer_id"],
        "document_type": "passport",
        "confidence": 0.98,
        "fields": [
            {"name": "full_name", "value": "INGRID MARIE HALVORSEN", "confidence": 0.99},
            {"name": "expiry_date", "value": "2034-09-21", "confidence": 0.99},
            {"name": "issuer", "value": None, "confidence": 0.1},
        ],
        "extraction_method": "text",
        "text_sha256": "ab" * 32,
        "document_sha256": arrival["sha256"],
        "prompt_version": "kyc-extract/1",
        "input_tokens": 1834,
        "output_tokens": 212,
        "cost_usd": 0.00868,
        "from_cache": False,
        "declared_type": "passport",
    }


def _check_result() -> dict[str, Any]:
    document = _classified()
    return {
        "envelope": caused_by(
            document,
            event_type="CheckResult",
            stage="checker",
            discriminator="identity.not-expired",
            ruleset_version="sha256:0123456789abcdef",
        ),
        "document_id": document["document_id"],
        "customer_id": None,
        "document_type": "passport",
        "rule_id": "identity.not-expired",
        "rule_version": "1#deadbeef",
        "outcome": "pass",
        "severity": "medium",
        "inputs": {"expiry_date": "2034-09-21", "as_of": "2026-11-02", "missing": None},
        "explanation": "the document is valid until 2034-09-21",
    }


def _exception() -> dict[str, Any]:
    document = _classified()
    return {
        "envelope": caused_by(
            document,
            event_type="ComplianceException",
            stage="checker",
            discriminator="exception:aml.sanctions-name-screen",
            ruleset_version="sha256:0123456789abcdef",
        ),
        "document_id": document["document_id"],
        "customer_id": "C-1004",
        "kind": "needs_review",
        "severity": "critical",
        "rule_id": "aml.sanctions-name-screen",
        "rule_version": "1#cafef00d",
        "reason": "Possible sanctions match: name matches 'ABU ZUBAYDAH'",
        "details": {"matched_name": "ABU ZUBAYDAH", "score": "100.0", "note": None},
        "category": "sanctions",
        "sla_due_at": datetime(2026, 12, 5, 21, 30, 0, 125000, tzinfo=UTC),
        "evidence": [
            {"kind": "event", "ref": document["envelope"]["event_id"]},
            {"kind": "document", "ref": document["document_id"]},
        ],
    }


def _dead_letter() -> dict[str, Any]:
    source = "documents.arrived/3/1207"
    return {
        "envelope": envelope(
            event_type="DeadLetter",
            stage="dead-letter",
            cause=source,
            correlation_id=source,
            subject_id="C-1001",
            causation_id=None,
            occurred_at=FIXED_NOW,
        ),
        "source_topic": "documents.arrived",
        "source_partition": 3,
        "source_offset": 2**40 + 7,  # a long, beyond 32 bits
        "source_key": b"C-1001",
        "original_value": b"\x00\xffnot avro\xc3",
        "error_class": "PoisonMessage",
        "error": "not Avro single-object encoded (missing 0xC3 0x01 header)",
        "failed_in": "classifier",
    }


def _example(schema: Any) -> Any:
    """A value for every field of an Avro schema, taking the last branch of each union (the
    non-null one in ``["null", T]``), so that every field carries data through the codec."""
    if isinstance(schema, list):
        return _example(schema[-1])
    if isinstance(schema, str):
        return {
            "string": "text",
            "long": 2**40 + 1,
            "int": 7,
            "double": 0.5,
            "boolean": True,
            "bytes": b"\x00\xff",
            "null": None,
        }[schema]
    kind = schema["type"]
    if kind == "record":
        return {f["name"]: _example(f["type"]) for f in schema["fields"]}
    if kind == "array":
        return [_example(schema["items"])]
    if kind == "map":
        return {"key": _example(schema["values"])}
    if kind == "enum":
        return schema["symbols"][0]
    if schema.get("logicalType") == "timestamp-millis":
        return FIXED_NOW
    return _example(kind)


def _from_schema(event_type: str) -> Callable[[], dict[str, Any]]:
    def build() -> dict[str, Any]:
        record: dict[str, Any] = _example(registry().by_type[event_type].parsed)
        record["envelope"] = envelope(
            event_type=event_type,
            stage="test",
            cause=event_type,
            correlation_id="C-1",
            subject_id="C-1",
            causation_id=None,
            occurred_at=FIXED_NOW,
        )
        return record

    return build


HAND_BUILT: dict[str, Callable[[], dict[str, Any]]] = {
    "DocumentArrived": _arrival,
    "DocumentClassified": _classified,
    "CheckResult": _check_result,
    "ComplianceException": _exception,
    "DeadLetter": _dead_letter,
}
# Event types without a hand-built record (added by later features) get one generated from
# their schema, so no schema in the registry escapes the round-trip tests.
BUILDERS: dict[str, Callable[[], dict[str, Any]]] = {
    event_type: HAND_BUILT.get(event_type) or _from_schema(event_type)
    for event_type in registry().by_type
}


def _at_millis(record: dict[str, Any]) -> dict[str, Any]:
    """Avro timestamp-millis keeps milliseconds: what the wire can carry of ``record``."""
    at: datetime = record["envelope"]["occurred_at"]
    envelope_ms = dict(
        record["envelope"], occurred_at=at.replace(microsecond=at.microsecond // 1000 * 1000)
    )
    return dict(record, envelope=envelope_ms)


# --- tests ------------------------------------------------------------------------------------


def test_the_core_event_types_have_hand_built_records() -> None:
    assert set(HAND_BUILT) <= set(registry().by_type)
    assert len(BUILDERS) >= len(HAND_BUILT)


@pytest.mark.parametrize("event_type", sorted(BUILDERS))
def test_every_event_type_round_trips_through_encode_and_decode(event_type: str) -> None:
    record = BUILDERS[event_type]()
    decoded_type, decoded = registry().decode(registry().encode(event_type, record))
    assert decoded_type == event_type
    assert decoded == _at_millis(record)


@pytest.mark.parametrize("event_type", sorted(BUILDERS))
def test_encoded_message_is_marker_then_registry_fingerprint_then_plain_avro_body(
    event_type: str,
) -> None:
    schema = registry().by_type[event_type]
    data = registry().encode(event_type, BUILDERS[event_type]())
    assert data[:2] == b"\xc3\x01"
    assert data[2:HEADER_LEN] == schema.fingerprint
    assert len(schema.fingerprint) == 8
    body = io.BytesIO(data[HEADER_LEN:])
    assert fastavro.schemaless_reader(body, schema.parsed, None)["envelope"]["event_type"] == (
        event_type
    )
    assert body.tell() == len(data) - HEADER_LEN


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('"null"', 7195948357588979594),
        ('"int"', 8247732601305521295),
        ('"long"', -3434872931120570953),
        ('"string"', -8142146995180207161),
        ('{"fields":[], "type":"record", "name":"foo"}', -4824392279771201922),
    ],
)
def test_reference_crc64_avro_matches_the_avro_spec_test_vectors(text: str, expected: int) -> None:
    # Vectors from apache/avro share/test/data/schema-tests.txt (signed 64-bit integers).
    canonical = parsing_canonical_form(json.loads(text))
    assert crc64_avro(canonical.encode()) == expected % 2**64


@pytest.mark.parametrize("event_type", sorted(BUILDERS))
def test_header_fingerprint_is_crc64_avro_of_the_writer_schemas_full_canonical_form(
    event_type: str,
) -> None:
    """The writer's schema includes the envelope it references: the fingerprint must cover it
    (Avro spec: the Parsing Canonical Form of the complete schema)."""
    sources = _sources_json()
    schema_json = sources[registry().by_type[event_type].file]
    expected = single_object_header(schema_json, _envelope_definitions(sources))
    actual = registry().encode(event_type, BUILDERS[event_type]())[:HEADER_LEN]
    assert actual.hex() == expected.hex(), (
        "fingerprint does not cover the whole writer schema (envelope included)"
    )


def test_changing_the_envelope_schema_changes_every_event_fingerprint() -> None:
    sources = bundled_schema_sources()
    changed = json.loads(sources["envelope.avsc"])
    changed["fields"].append({"name": "tenant", "type": ["null", "string"], "default": None})
    before = SchemaRegistry(sources)
    after = SchemaRegistry(dict(sources, **{"envelope.avsc": json.dumps(changed)}))
    unchanged = [
        t for t in before.by_type if before.by_type[t].fingerprint == after.by_type[t].fingerprint
    ]
    assert unchanged == [], "a different envelope must give a different writer fingerprint"


def test_decode_rejects_empty_bytes_and_none() -> None:
    for data in (b"", None):
        with pytest.raises(PoisonMessage, match="empty message"):
            registry().decode(data)


@pytest.mark.parametrize(
    "data",
    [
        b'{"event_type": "DocumentArrived"}',
        b"\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b",
        b"\xc3",
        b"\xc3\x01\x00\x01\x02",  # marker, but no room for a fingerprint
        b"\x01\xc3" + bytes(20),
    ],
    ids=["json", "binary", "half-marker", "short-header", "swapped-marker"],
)
def test_decode_rejects_garbage_without_the_single_object_marker(data: bytes) -> None:
    with pytest.raises(PoisonMessage, match=r"not Avro single-object encoded"):
        registry().decode(data)


def test_decode_rejects_an_unknown_fingerprint_and_names_it() -> None:
    data = registry().encode("CheckResult", _check_result())
    forged = data[:2] + bytes.fromhex("0011223344556677") + data[HEADER_LEN:]
    with pytest.raises(PoisonMessage, match="unknown writer schema fingerprint 0011223344556677"):
        registry().decode(forged)


@pytest.mark.parametrize("event_type", sorted(BUILDERS))
def test_decode_rejects_every_truncation_of_the_body(event_type: str) -> None:
    data = registry().encode(event_type, BUILDERS[event_type]())
    for length in range(HEADER_LEN, len(data)):
        with pytest.raises(PoisonMessage, match=f"corrupt {event_type} body") as info:
            registry().decode(data[:length])
        assert str(info.value)


@pytest.mark.parametrize("extra", [b"\x00", b"trailing garbage"])
def test_decode_rejects_trailing_bytes_after_the_body_and_counts_them(extra: bytes) -> None:
    data = registry().encode("ComplianceException", _exception()) + extra
    with pytest.raises(PoisonMessage, match=f"^{len(extra)} trailing bytes after the body$"):
        registry().decode(data)


def test_decode_rejects_a_body_written_for_another_event_type() -> None:
    arrival = registry().encode("DocumentArrived", _arrival())
    classified_fp = registry().by_type["DocumentClassified"].fingerprint
    mislabelled = arrival[:2] + classified_fp + arrival[HEADER_LEN:]
    with pytest.raises(PoisonMessage):
        registry().decode(mislabelled)


def test_a_record_written_with_an_older_schema_in_history_decodes_into_the_current_shape() -> None:
    import io

    import fastavro
    from fastavro.schema import fingerprint, parse_schema, to_parsing_canonical_form

    from compliance.codec import MAGIC, _inline

    sources = bundled_schema_sources()
    current = json.loads(sources["document_arrived.avsc"])
    old = dict(current, fields=[f for f in current["fields"] if f["name"] != "metadata"])
    envelope_json = json.loads(sources["envelope.avsc"])
    parsed_old = parse_schema(_inline(old, {"compliance.Envelope": envelope_json}))
    fp = bytes.fromhex(fingerprint(to_parsing_canonical_form(parsed_old), "CRC-64-AVRO"))
    record = BUILDERS["DocumentArrived"]()
    record.pop("metadata", None)
    buffer = io.BytesIO()
    buffer.write(MAGIC + fp)
    fastavro.schemaless_writer(buffer, parsed_old, record)

    without_history = SchemaRegistry(sources)
    with pytest.raises(PoisonMessage, match="unknown writer schema"):
        without_history.decode(buffer.getvalue())
    with_history = SchemaRegistry(sources, {"document_arrived.v0.avsc": json.dumps(old)})
    event_type, decoded = with_history.decode(buffer.getvalue())
    assert event_type == "DocumentArrived"
    assert decoded["metadata"] == {}  # filled from the current schema's default
    assert decoded["document_id"] == record["document_id"]


def test_ruleset_changes_audited_before_the_lists_version_field_still_decode() -> None:
    """RulesetChanged gained rules_version, lists_version and lists; checkers wrote the
    earlier shape (kept in schemas/history) to compliance.rulesets, and it stays readable."""
    current = bundled_schema_sources()
    earlier = bundled_schema_sources("history")["ruleset_changed.v1.avsc"]
    old_writer = SchemaRegistry(current | {"ruleset_changed.avsc": earlier})
    record = {
        "envelope": envelope(
            event_type="RulesetChanged",
            stage="checker",
            cause="ruleset:a->b",
            correlation_id="b",
            subject_id="ruleset",
            causation_id=None,
            ruleset_version="b",
        ),
        "previous_version": "a",
        "version": "b",
        "accepted": True,
        "error": None,
        "reason": "files changed",
        "rules": {"identity.not-expired": "1#abc"},
        "added": [],
        "removed": [],
        "changed": ["identity.not-expired"],
        "instance_id": "checker-1",
    }
    event_type, decoded = registry().decode(old_writer.encode("RulesetChanged", record))
    assert event_type == "RulesetChanged"
    assert decoded["version"] == "b" and decoded["changed"] == ["identity.not-expired"]
    assert (decoded["rules_version"], decoded["lists_version"], decoded["lists"]) == (
        None,
        None,
        None,
    )


# --- identifier bounds: checked on decode, for every consumer ----------------------------------


def _with(record: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """``record`` with the field at ``path`` (dotted: envelope.producer.name) set."""
    copy = deepcopy(record)
    target = copy
    *parents, leaf = path.split(".")
    for name in parents:
        target = target[name]
    target[leaf] = value
    return copy


BOUNDED = [
    ("envelope.event_id", MAX_ID_BYTES),
    ("envelope.correlation_id", MAX_ID_BYTES),
    ("envelope.causation_id", MAX_ID_BYTES),
    ("envelope.subject_id", MAX_ID_BYTES),
    ("envelope.event_type", MAX_NAME_BYTES),
    ("envelope.producer.name", MAX_NAME_BYTES),
    ("envelope.producer.version", MAX_NAME_BYTES),
    ("envelope.ruleset_version", MAX_NAME_BYTES),
    ("envelope.model", MAX_NAME_BYTES),
    ("document_id", MAX_ID_BYTES),
    ("customer_id", MAX_ID_BYTES),
]


@pytest.mark.parametrize(("path", "bound"), BOUNDED, ids=[p for p, _ in BOUNDED])
def test_a_field_past_its_bound_fails_to_decode_naming_the_field_never_its_value(
    path: str, bound: int
) -> None:
    at_bound = _with(_arrival(), path, "a" * bound)
    registry().decode(registry().encode("DocumentArrived", at_bound))  # accepted
    over = _with(_arrival(), path, "Q" * (bound + 1))
    with pytest.raises(FieldOutOfBounds) as info:
        registry().decode(registry().encode("DocumentArrived", over))
    assert str(info.value) == (
        f"DocumentArrived: {path} is {bound + 1} bytes, over its bound of {bound}"
    )
    assert isinstance(info.value, PoisonMessage)  # a content error: dead-lettered


def test_bounds_count_utf8_bytes_not_characters() -> None:
    wide = "é" * (MAX_ID_BYTES // 2)  # at the bound in bytes, half of it in characters
    registry().decode(
        registry().encode("DocumentArrived", _with(_arrival(), "envelope.subject_id", wide))
    )
    wider = _with(_arrival(), "envelope.subject_id", wide + "é")
    with pytest.raises(FieldOutOfBounds, match=f"is {MAX_ID_BYTES + 2} bytes"):
        registry().decode(registry().encode("DocumentArrived", wider))


def test_a_correlation_id_past_the_postgresql_index_limit_is_refused_at_decode() -> None:
    """The case that stopped the audit trail: a 3 kB correlation id (over the ~2.7 kB a
    btree index entry may hold) is a dead letter, not a database outage retried forever."""
    record = _with(_check_result(), "envelope.correlation_id", "D" * 3000)
    with pytest.raises(FieldOutOfBounds, match=r"envelope\.correlation_id is 3000 bytes"):
        registry().decode(registry().encode("CheckResult", record))


def test_the_bounds_sit_well_under_postgresql_index_entry_limit() -> None:
    assert MAX_ID_BYTES <= 2704 // 4 and MAX_NAME_BYTES <= MAX_ID_BYTES


@pytest.mark.parametrize(("path", "bound"), BOUNDED, ids=[p for p, _ in BOUNDED])
def test_an_identifier_holding_a_nul_fails_to_decode_as_poison(path: str, bound: int) -> None:
    """PostgreSQL stores no NUL in text: such an id would stop every writer that keys on it,
    so it is a content error where it is decoded."""
    with_nul = _with(_arrival(), path, "C-1\x00" + "a" * min(bound - 4, 8))
    with pytest.raises(FieldOutOfBounds, match=f"{path} holds a NUL character"):
        registry().decode(registry().encode("DocumentArrived", with_nul))
