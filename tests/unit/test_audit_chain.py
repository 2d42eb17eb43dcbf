"""The hash chain and its verification, on rows built in memory (no database): each kind of
out-of-band change is named, an intact chain has no finding, checkpoints catch rewrites."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from compliance.audit.chain import (
    GENESIS,
    EventColumns,
    content_digest,
    fixed_content,
    link,
    timestamp_text,
)
from compliance.audit.checkpoints import Head, signature
from compliance.audit.verify import Checkpoint, StoredRow, walk_chain

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
KEY = b"test-signing-key"


def columns(offset: int, payload: bytes | None = None) -> EventColumns:
    return EventColumns(
        event_id=f"00000000-0000-0000-0000-{offset:012d}",
        event_type="CheckResult",
        topic="compliance.checks",
        partition=2,
        offset=offset,
        kafka_key="C-1",
        correlation_id="doc-1",
        causation_id=None,
        subject_id="C-1",
        occurred_at=T0 + timedelta(seconds=offset),
        schema_fingerprint="00ff",
        raw_value=None,
        payload_json=payload or b'{"outcome":"pass","n":%d}' % offset,
    )


def stored(cols: EventColumns, seq: int, prev: bytes) -> StoredRow:
    own = link(prev, content_digest(fixed_content(cols), seq, timestamp_text(T0)))
    return StoredRow(cols, seq, T0, prev, own)


def chain(length: int) -> list[StoredRow]:
    rows, prev = [], GENESIS
    for seq in range(1, length + 1):
        row = stored(columns(offset=seq * 2), seq, prev)
        rows.append(row)
        prev = row.row_hash
    return rows


def head_of(rows: list[StoredRow]) -> Head:
    last = rows[-1]
    return Head(last.columns.topic, 2, last.chain_seq, last.columns.offset, last.row_hash)


def walk(rows: list[StoredRow], head: Head, checkpoints=()):  # type: ignore[no-untyped-def]
    return walk_chain("compliance.checks", 2, rows, head, checkpoints, KEY)


def test_an_intact_chain_has_no_finding() -> None:
    rows = chain(6)
    assert walk(rows, head_of(rows)) == (6, [])


def test_a_modified_row_is_named() -> None:
    rows = chain(6)
    tampered = replace(rows[2], columns=replace(rows[2].columns, payload_json=b'{"outcome":"x"}'))
    _, findings = walk([*rows[:2], tampered, *rows[3:]], head_of(rows))
    assert [(f.kind, f.chain_seq, f.offset) for f in findings] == [("modified", 3, 6)]


def test_a_modified_row_whose_hash_was_recomputed_is_named() -> None:
    rows = chain(6)
    forged = stored(replace(rows[2].columns, kafka_key="C-2"), 3, rows[1].row_hash)
    _, findings = walk([*rows[:2], forged, *rows[3:]], head_of(rows))
    assert [(f.kind, f.chain_seq) for f in findings] == [("modified", 3)]


def test_a_deleted_row_is_named_with_its_position() -> None:
    rows = chain(6)
    _, findings = walk([*rows[:3], *rows[4:]], head_of(rows))
    assert [(f.kind, f.chain_seq) for f in findings] == [("deleted", 4)]
    assert "4..4" in findings[0].detail


def test_rows_deleted_at_the_end_are_named_from_the_head() -> None:
    rows = chain(6)
    _, findings = walk(rows[:4], head_of(rows))
    assert [(f.kind, f.chain_seq) for f in findings] == [("deleted", 5)]


def test_a_row_inserted_at_a_taken_position_is_named() -> None:
    rows = chain(6)
    intruder = stored(columns(offset=99), 3, rows[1].row_hash)
    intruder = replace(intruder, row_hash=bytes(32))  # the intruder cannot know a valid hash
    _, findings = walk([*rows[:3], intruder, *rows[3:]], head_of(rows))
    assert [(f.kind, f.chain_seq, f.offset) for f in findings] == [("inserted", 3, 99)]


def test_a_row_inserted_past_the_head_is_named() -> None:
    rows = chain(6)
    extra = stored(columns(offset=50), 7, rows[-1].row_hash)
    _, findings = walk([*rows, extra], head_of(rows))
    assert [(f.kind, f.chain_seq) for f in findings] == [("inserted", 7)]


def test_a_chain_rewritten_end_to_end_is_caught_by_its_signed_checkpoint() -> None:
    rows = chain(6)
    signed_head = Head("compliance.checks", 2, 4, rows[3].columns.offset, rows[3].row_hash)
    point = Checkpoint(signed_head, T0, signature(KEY, signed_head, T0))
    # Someone changes row 2 and recomputes every hash after it: the links all hold ...
    rewritten, prev = rows[:1], rows[0].row_hash
    for row in rows[1:]:
        cols = replace(row.columns, kafka_key="C-9") if row.chain_seq == 2 else row.columns
        rewritten.append(stored(cols, row.chain_seq, prev))
        prev = rewritten[-1].row_hash
    _, findings = walk(rewritten, head_of(rewritten), [point])
    # ... but row 4 no longer has the hash that was signed.
    assert [(f.kind, f.chain_seq) for f in findings] == [("rewritten", 4)]


def test_rows_deleted_at_the_end_with_the_head_moved_back_are_named_by_their_checkpoint() -> None:
    """The newest rows deleted and the recorded head moved back to the last row left: the
    links and the head agree, but a signed checkpoint names a row that is gone."""
    rows = chain(6)
    signed_head = head_of(rows)
    point = Checkpoint(signed_head, T0, signature(KEY, signed_head, T0))
    kept = rows[:4]
    _, findings = walk(kept, head_of(kept), [point])
    assert [(f.kind, f.chain_seq) for f in findings] == [("deleted", 6)]
    assert "signed by the checkpoint" in findings[0].detail


def test_a_forged_checkpoint_is_named() -> None:
    rows = chain(3)
    head = head_of(rows)
    forged = Checkpoint(head, T0, signature(b"someone else's key", head, T0))
    _, findings = walk(rows, head, [forged])
    assert [f.kind for f in findings] == ["forged"]


def testheader_json_spells_every_character_as_the_standard_encoder_does() -> None:
    from compliance.audit.chain import _HEADER, header_json

    samples = [chr(c) for c in range(0x30)] + ["\\", '"', "\x7f", "é", "\u2028", "😀"]
    for sample in samples:
        columns: list[object] = [f"a{sample}b", 7, None, -1, 2**40]
        assert header_json(columns) == _HEADER.encode(columns).encode()
    assert header_json([2**70]) == b"[1180591620717411303424]"  # beyond orjson: standard
