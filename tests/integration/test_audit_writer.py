"""The audit writer against the real PostgreSQL: a batch written through several connections
at once, and a batch whose transactions half commit before a failure, then retried."""

from __future__ import annotations

import random
import string
import uuid
from datetime import timedelta, timezone

import psycopg2.errors
import pytest
from sqlalchemy import Engine, text

from compliance.audit import writer
from compliance.audit.rows import AuditRow
from compliance.audit.verify import verify
from compliance.audit.writer import AuditWriter, Preparer
from compliance.codec import registry
from compliance.errors import RetryableError
from tests import audit_synthetic as synthetic

from .conftest import recorded

pytestmark = pytest.mark.integration
KEY = b"k" * 32


def rows_on_chains(prefix: str, documents: int, partitions: int) -> list[AuditRow]:
    """Synthetic events as the sink would read them, spread over ``partitions`` partitions
    of each of their topics (so the batch holds several chains per topic)."""
    codec = registry()
    rows = []
    for offset, event in enumerate(synthetic.events(prefix, documents)):
        _, record = codec.decode(codec.encode(event.event_type, event.record))
        env = record["envelope"]
        rows.append(
            AuditRow(
                event_id=env["event_id"],
                event_type=event.event_type,
                topic=prefix + event.topic,
                partition=offset % partitions,
                offset=offset,
                kafka_key=env["subject_id"],
                correlation_id=env["correlation_id"],
                causation_id=env["causation_id"],
                subject_id=env["subject_id"],
                occurred_at=env["occurred_at"],
                schema_fingerprint=None,
                payload=record,
            )
        )
    return rows


def test_a_batch_written_through_several_connections_is_recorded_once_and_chained(
    engine: Engine,
) -> None:
    prefix = f"w{uuid.uuid4().hex[:10]}."
    rows = rows_on_chains(prefix, documents=200, partitions=3)
    audit = AuditWriter(engine, KEY, checkpoint_interval_s=0, connections=3)
    prepared = Preparer(engine).prepare_batch(rows)

    assert audit.append_batch(prepared).written == len(rows)
    again = audit.append_batch(prepared)  # the same batch again: nothing new
    assert (again.written, again.duplicates) == (0, len(rows))
    assert recorded(engine, prefix) == len(rows)
    report = verify(engine, KEY, prefix)
    assert report.intact, report.findings
    assert report.rows == len(rows)


def test_a_batch_half_committed_when_a_connection_fails_is_completed_by_the_retry(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    prefix = f"w{uuid.uuid4().hex[:10]}."
    rows = rows_on_chains(prefix, documents=200, partitions=2)
    audit = AuditWriter(engine, KEY, checkpoint_interval_s=0, connections=2)
    prepared = Preparer(engine).prepare_batch(rows)
    doomed_chain = (prefix + "compliance.checks", 1)
    real_append = writer.append

    def append_failing_on_one_chain(cur, group):  # type: ignore[no-untyped-def]
        if any(p.chain == doomed_chain for p in group):
            raise RetryableError("database unavailable: connection lost mid-batch")
        return real_append(cur, group)

    monkeypatch.setattr(writer, "append", append_failing_on_one_chain)
    with pytest.raises(RetryableError):
        audit.append_batch(prepared)
    half = recorded(engine, prefix)
    assert 0 < half < len(rows)  # the other connection's transaction committed

    monkeypatch.setattr(writer, "append", real_append)
    retried = audit.append_batch(prepared)
    assert retried.written == len(rows) - half  # the retry writes only the rest
    assert recorded(engine, prefix) == len(rows)
    report = verify(engine, KEY, prefix)
    assert report.intact, report.findings
    assert report.rows == len(rows)


def test_an_event_twice_in_one_prepared_batch_is_recorded_once(engine: Engine) -> None:
    """Slices prepared apart (several preparing processes) can each hold one copy of an event
    delivered twice; the writer records it once and chains it once."""
    prefix = f"w{uuid.uuid4().hex[:10]}."
    rows = rows_on_chains(prefix, documents=20, partitions=1)
    audit = AuditWriter(engine, KEY, checkpoint_interval_s=0, connections=1)
    prepared = Preparer(engine).prepare_batch(rows)
    twice = [*prepared, prepared[3]._replace(offset=prepared[-1].offset + 1)]

    assert audit.append_batch(twice).written == len(rows)
    assert recorded(engine, prefix) == len(rows)
    report = verify(engine, KEY, prefix)
    assert report.intact, report.findings


def _incompressible(length: int, seed: int) -> str:
    """Text that stays longer than a btree index row allows even once compressed."""
    rng = random.Random(seed)
    return "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(length))


def test_a_row_too_long_for_an_index_is_refused_alone_and_the_rest_is_written(
    engine: Engine,
) -> None:
    """PostgreSQL files 54000 (index row too large) under OperationalError; it is the
    record's content, not an outage: the writer narrows the batch down to that row, writes
    the rest, and hands the row back with the reason (the sink dead-letters it)."""
    seed = random.randrange(1 << 30)
    print(f"seed {seed}")
    prefix = f"w{uuid.uuid4().hex[:10]}."
    rows = rows_on_chains(prefix, documents=40, partitions=2)
    huge = rows[77]._replace(correlation_id=_incompressible(6000, seed))
    rows[77] = huge
    audit = AuditWriter(engine, KEY, checkpoint_interval_s=0, connections=2)

    outcome = audit.append_batch(Preparer(engine).prepare_batch(rows))

    assert [(r.topic, r.offset) for r in outcome.rejected] == [(huge.topic, huge.offset)]
    assert "SQLSTATE 54000" in outcome.rejected[0].why
    assert outcome.written == len(rows) - 1
    assert recorded(engine, prefix) == len(rows) - 1
    report = verify(engine, KEY, prefix)
    assert report.intact, report.findings
    again = audit.append_batch(Preparer(engine).prepare_batch(rows))  # a replay
    assert (again.written, again.duplicates, len(again.rejected)) == (0, len(rows) - 1, 1)


def test_an_error_of_ours_refused_for_every_row_stops_the_writer_instead_of_rejecting_all(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A content-class SQLSTATE on every single row is a bug of ours (here: COPY columns out
    of order: an id's bytes read as text, a type name as an id): the batch is not drained
    into dead letters, the error goes up."""
    prefix = f"w{uuid.uuid4().hex[:10]}."
    rows = rows_on_chains(prefix, documents=10, partitions=1)
    audit = AuditWriter(engine, KEY, checkpoint_interval_s=0, connections=1)
    prepared = Preparer(engine).prepare_batch(rows)
    swapped = writer.COLUMNS.replace("event_id, event_type", "event_type, event_id", 1)
    monkeypatch.setattr(writer, "COLUMNS", swapped)
    with pytest.raises(psycopg2.DataError):  # e.g. invalid UTF-8: a content-class SQLSTATE
        audit.append_batch(prepared)
    assert recorded(engine, prefix) == 0


def test_the_same_id_with_other_content_is_written_once_as_a_conflict_and_then_skipped(
    engine: Engine,
) -> None:
    prefix = f"w{uuid.uuid4().hex[:10]}."
    rows = rows_on_chains(prefix, documents=10, partitions=1)
    audit = AuditWriter(engine, KEY, checkpoint_interval_s=0, connections=1)
    preparer = Preparer(engine)
    assert audit.append_batch(preparer.prepare_batch(rows)).written == len(rows)
    original = rows[5]
    corrected = original._replace(
        offset=len(rows),
        payload={**original.payload, "corrected": True},
    )
    envelope = original.payload["envelope"]
    later = envelope["occurred_at"] + timedelta(days=3)
    republished = original._replace(  # the same event produced again, later: a duplicate
        offset=len(rows) + 1,
        occurred_at=later,
        payload={**original.payload, "envelope": {**envelope, "occurred_at": later}},
    )

    outcome = audit.append_batch(preparer.prepare_batch([corrected, republished]))
    assert (outcome.written, outcome.conflicts, outcome.duplicates) == (1, 1, 1)
    replay = audit.append_batch(preparer.prepare_batch([corrected, republished]))
    assert (replay.written, replay.conflicts, replay.duplicates) == (0, 0, 2)

    assert recorded(engine, prefix) == len(rows) + 1
    report = verify(engine, KEY, prefix)
    assert report.intact, report.findings
    assert [(c.event_id, c.offset) for c in report.conflicts] == [
        (original.event_id, corrected.offset)
    ]


def test_every_column_is_stored_as_given_and_verifies_whatever_its_characters(
    engine: Engine,
) -> None:
    """The binary COPY stores each value as it was hashed: text with tabs, newlines,
    backslashes and non-ASCII letters, a NUL (kept as U+FFFD in text columns), an absent
    value, raw bytes of every value, an instant off UTC."""
    prefix = f"w{uuid.uuid4().hex[:10]}."
    base = rows_on_chains(prefix, documents=1, partitions=1)[0]
    odd = base._replace(
        event_id=str(uuid.uuid4()),
        offset=1,
        kafka_key="Ærøskøbing\tkey\\with\nnewline",
        correlation_id="doc-\u00e9\u4e2d\x00end",
        causation_id=None,
        subject_id="Søren Ø\\",
        occurred_at=base.occurred_at.astimezone(timezone(timedelta(hours=5, minutes=30))),
        schema_fingerprint="\\x00ff",
        raw_value=bytes(range(256)),
        payload={**base.payload, "note": "tab\there \\ \u00fc \U0001f600"},
    )
    audit = AuditWriter(engine, KEY, checkpoint_interval_s=0, connections=1)
    assert audit.append_batch(Preparer(engine).prepare_batch([base, odd])).written == 2

    with engine.connect() as conn:
        stored = conn.execute(
            text(
                "SELECT kafka_key, correlation_id, causation_id, subject_id, occurred_at, "
                "schema_fingerprint, raw_value, payload->>'note' FROM audit_events "
                "WHERE event_id = :id"
            ),
            {"id": odd.event_id},
        ).one()
    assert tuple(stored[:4]) == (odd.kafka_key, "doc-\u00e9\u4e2d\ufffdend", None, odd.subject_id)
    assert stored[4] == odd.occurred_at
    assert (stored[5], bytes(stored[6]), stored[7]) == (
        odd.schema_fingerprint,
        odd.raw_value,
        odd.payload["note"],
    )
    report = verify(engine, KEY, prefix)
    assert report.intact and report.rows == 2, report.findings
