"""The audit writer against the real PostgreSQL: a batch written through several connections
at once, and a batch whose transactions half commit before a failure, then retried."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import Engine

from compliance.audit import synthetic, writer
from compliance.audit.rows import AuditRow
from compliance.audit.verify import verify
from compliance.audit.writer import AuditWriter
from compliance.codec import registry
from compliance.errors import RetryableError

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
    prepared = audit.prepare_batch(rows)

    assert audit.append_batch(prepared) == len(rows)
    assert audit.append_batch(prepared) == 0  # the same batch again: nothing new
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
    prepared = audit.prepare_batch(rows)
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
    assert audit.append_batch(prepared) == len(rows) - half  # the retry writes only the rest
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
    prepared = audit.prepare_batch(rows)
    twice = [*prepared, prepared[3]._replace(offset=prepared[-1].offset + 1)]

    assert audit.append_batch(twice) == len(rows)
    assert recorded(engine, prefix) == len(rows)
    report = verify(engine, KEY, prefix)
    assert report.intact, report.findings
