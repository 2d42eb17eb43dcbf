"""The sink's hot path spells every row byte for byte as the chain's reference definitions
(what verify recomputes: ``chain.fixed_content``, ``chain.row_hash``), and its binary COPY
fields hold the values the row is hashed with."""

from __future__ import annotations

import hashlib
import struct
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

from compliance.audit.chain import GENESIS, EventColumns, fixed_content, row_hash, timestamp_text
from compliance.audit.checkpoints import Head
from compliance.audit.copy_binary import HEADER, PG_EPOCH, TRAILER
from compliance.audit.jsontext import dumps
from compliance.audit.rows import AuditRow
from compliance.audit.writer import chain_rows, content_hash_of, prepare

T0 = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


def row(**changes: object) -> AuditRow:
    base = AuditRow(
        event_id="6f1c1a34-6a0e-5d3b-9a57-0c2b7f1e2d10",
        event_type="CheckResult",
        topic="compliance.checks",
        partition=2,
        offset=41,
        kafka_key="C-7",
        correlation_id="doc-1",
        causation_id="0b0c3d0e-2a51-5a6c-8e0f-1d2c3b4a5f60",
        subject_id="C-7",
        occurred_at=T0,
        schema_fingerprint="0011223344556677",
        payload={
            "envelope": {"event_id": "x", "occurred_at": T0, "subject_id": "C-7"},
            "rule_id": "r1",
            "outcome": "pass",
            "explanation": "a \\ back\tslash",
        },
    )
    return base._replace(**changes)


def reference(r: AuditRow, payload_json: bytes) -> bytes:
    """``fixed`` as the reference function spells it for ``r``."""
    columns = EventColumns(
        event_id=r.event_id,
        event_type=r.event_type,
        topic=r.topic,
        partition=r.partition,
        offset=r.offset,
        kafka_key=None if r.kafka_key is None else r.kafka_key.replace("\x00", "\ufffd"),
        correlation_id=(r.correlation_id or "").replace("\x00", "\ufffd"),
        causation_id=r.causation_id,
        subject_id=r.subject_id,
        occurred_at=r.occurred_at,
        schema_fingerprint=r.schema_fingerprint,
        raw_value=r.raw_value,
        payload_json=payload_json,
    )
    return fixed_content(columns)


def fields(data: bytes, present: int = 17) -> tuple[list[bytes | None], bytes]:
    """The fields of the binary COPY row of ``audit_events`` at the start of ``data`` (the
    first ``present`` of them), and what follows."""
    assert struct.unpack_from("!h", data) == (17,)
    at, found = 2, []
    for _ in range(present):
        (size,) = struct.unpack_from("!i", data, at)
        at += 4
        found.append(None if size < 0 else data[at : at + size])
        at += max(size, 0)
    return found, data[at:]


def instant(field: bytes | None) -> datetime:
    assert field is not None
    return PG_EPOCH + timedelta(microseconds=struct.unpack("!q", field)[0])


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"kafka_key": None, "causation_id": None, "subject_id": None, "schema_fingerprint": None},
        {"correlation_id": "doc\twith\ttabs\nand\\lines\r"},
        {"kafka_key": "key\\with\x00nul", "correlation_id": "a\x00b"},
        {"raw_value": b"\x00\xffraw bytes", "event_type": "Undecodable", "payload": {"e": "x"}},
        {"occurred_at": T0.astimezone(timezone(timedelta(hours=-5)))},
        {"topic": "t\\opic"},
    ],
)
def test_a_prepared_row_has_the_reference_bytes(changes: dict[str, object]) -> None:
    r = row(**changes)
    prepared = prepare(r, cipher=None)
    payload_json = prepared.fixed.split(b"\n", 1)[1]
    assert prepared.fixed == reference(r, payload_json)
    assert prepared.occurred_text == timestamp_text(r.occurred_at)
    assert (prepared.topic, prepared.partition, prepared.offset) == (r.topic, 2, r.offset)
    copied, rest = fields(prepared.copy_row, present=13)  # up to chain_seq
    assert rest == b""

    def spelled(value: str | None) -> bytes | None:
        return None if value is None else value.replace("\x00", "\ufffd").encode()

    assert copied == [
        uuid.UUID(r.event_id).bytes,
        r.event_type.encode(),
        r.topic.encode(),
        struct.pack("!i", r.partition),
        struct.pack("!q", r.offset),
        spelled(r.kafka_key),
        spelled(r.correlation_id),
        spelled(r.causation_id),
        spelled(r.subject_id),
        copied[9],
        spelled(r.schema_fingerprint),
        r.raw_value,
        payload_json,
    ]
    assert instant(copied[9]) == r.occurred_at


def test_the_content_hash_leaves_out_only_the_time_the_event_was_produced() -> None:
    r = row()
    later = r.payload["envelope"]["occurred_at"] + timedelta(days=1)
    again = r._replace(
        payload={**r.payload, "envelope": {**r.payload["envelope"], "occurred_at": later}}
    )
    unhashed = {**r.payload, "envelope": {**r.payload["envelope"], "occurred_at": None}}
    expected = hashlib.sha256(b"CheckResult\n" + dumps(unhashed)).digest()
    assert content_hash_of(r) == content_hash_of(again) == expected
    assert prepare(r, None).content_hash == expected
    assert r.payload["envelope"]["occurred_at"] == T0  # the caller's row is left as it was
    assert dumps(r.payload) == dumps(row().payload)  # its keys in their order too
    changed = r._replace(payload={**r.payload, "outcome": "fail"})
    assert content_hash_of(changed) != expected


def test_a_payload_that_cannot_be_spelled_fails_its_hash_and_keeps_its_envelope() -> None:
    """The time is blanked in the caller's envelope while the payload is spelled, and put
    back even when spelling it fails."""
    r = row()
    r = r._replace(payload={**r.payload, "unspellable": object()})
    with pytest.raises(TypeError):
        content_hash_of(r)
    assert r.payload["envelope"]["occurred_at"] == T0


def test_chained_rows_carry_the_hashes_verify_recomputes() -> None:
    rows = [prepare(row(offset=o, partition=o % 2), None) for o in range(6)]
    start = Head("compliance.checks", 1, 7, 40, hashlib.sha256(b"before").digest())
    heads = {
        ("compliance.checks", 0): Head("compliance.checks", 0, 0, -1, GENESIS),
        ("compliance.checks", 1): start,
    }
    data, moved = chain_rows(heads, rows, T0)
    assert data.startswith(HEADER) and data.endswith(TRAILER)
    data = data[len(HEADER) : -len(TRAILER)]
    previous = {0: (0, GENESIS), 1: (7, start.row_hash)}
    for prepared in rows:
        copied, data = fields(data)
        assert len(copied) == 17
        seq, prev = previous[prepared.partition]
        assert struct.unpack("!q", copied[13] or b"") == (seq + 1,)
        assert instant(copied[14]) == T0
        assert copied[15] == prev
        own = row_hash(prev, prepared.fixed, seq + 1, T0)
        assert copied[16] == own
        previous[prepared.partition] = (seq + 1, own)
    assert data == b""
    assert sorted((h.partition, h.chain_seq, h.offset, h.row_hash) for h in moved) == [
        (0, 3, 4, previous[0][1]),
        (1, 10, 5, previous[1][1]),
    ]
