"""The end of a chain against the real PostgreSQL: rows deleted at a chain's end with the head
moved back are named by verify (their signed checkpoint); the database refuses to move a head
back or to a row that is not there, and a checkpoint of a row that was not written; heads a
crash left unsigned are signed at the next start, and an idle sink signs within its interval.
"""

from __future__ import annotations

import uuid

import psycopg2.errors
import pytest
from sqlalchemy import Engine, exc, select, text

from compliance.audit.checkpoints import signing_key
from compliance.audit.partitions import month_of, partition_name
from compliance.audit.tables import audit_chain_heads, audit_checkpoints
from compliance.audit.verify import verify
from compliance.audit.writer import AuditWriter, Preparer
from compliance.config import Settings
from compliance.events import now
from tests import audit_synthetic as synthetic

from .conftest import Processes, recorded, wait_for
from .test_audit_writer import rows_on_chains

pytestmark = pytest.mark.integration
KEY = b"k" * 32


def _written_and_signed(engine: Engine, prefix: str) -> tuple[str, int, int]:
    """A few chains written and signed; the (topic, partition, head seq) of the longest."""
    rows = rows_on_chains(prefix, documents=20, partitions=1)
    audit = AuditWriter(engine, KEY, checkpoint_interval_s=0)
    audit.append_batch(Preparer(engine).prepare_batch(rows))
    assert audit.checkpoint() == 0  # signed already, right after the batch (interval 0)
    with engine.connect() as conn:
        topic, partition, seq = conn.execute(
            select(
                audit_chain_heads.c.topic,
                audit_chain_heads.c.partition,
                audit_chain_heads.c.chain_seq,
            )
            .where(audit_chain_heads.c.topic.startswith(prefix))
            .order_by(audit_chain_heads.c.chain_seq.desc())
        ).first()  # type: ignore[misc]
    return topic, partition, seq


def test_the_newest_rows_deleted_and_the_head_moved_back_are_named_by_their_checkpoint(
    engine: Engine,
) -> None:
    prefix = f"g{uuid.uuid4().hex[:10]}."
    topic, partition, seq = _written_and_signed(engine, prefix)
    assert verify(engine, KEY, prefix).intact
    part = partition_name(month_of(now()))
    chain = {"t": topic, "p": partition, "keep": seq - 2}
    # What an owner can do: switch the triggers off, delete the newest two rows, move the
    # head back to the last row left (so links and head agree), switch the triggers on.
    with engine.begin() as conn:
        conn.execute(text(f"GRANT DELETE ON {part} TO CURRENT_USER"))
        conn.execute(text(f"ALTER TABLE {part} DISABLE TRIGGER audit_events_append_only"))
        conn.execute(text("ALTER TABLE audit_chain_heads DISABLE TRIGGER USER"))
        conn.execute(
            text(f'DELETE FROM {part} WHERE topic = :t AND "partition" = :p AND chain_seq > :keep'),
            chain,
        )
        conn.execute(
            text(
                'UPDATE audit_chain_heads h SET chain_seq = e.chain_seq, "offset" = e."offset", '
                f"row_hash = e.row_hash FROM {part} e WHERE h.topic = :t AND "
                'h."partition" = :p AND e.topic = h.topic AND e."partition" = h."partition" '
                "AND e.chain_seq = :keep"
            ),
            chain,
        )
        conn.execute(text("ALTER TABLE audit_chain_heads ENABLE TRIGGER USER"))
        conn.execute(text(f"ALTER TABLE {part} ENABLE TRIGGER audit_events_append_only"))
        conn.execute(text(f"REVOKE DELETE ON {part} FROM CURRENT_USER"))

    findings = verify(engine, KEY, prefix).findings
    assert [(f.kind, f.topic, f.partition, f.chain_seq) for f in findings] == [
        ("deleted", topic, partition, seq)
    ]


def test_a_chain_head_moves_only_forward_and_only_to_a_row_written_with_that_hash(
    engine: Engine,
) -> None:
    prefix = f"g{uuid.uuid4().hex[:10]}."
    topic, partition, seq = _written_and_signed(engine, prefix)
    where = 'WHERE topic = :t AND "partition" = :p'
    chain = {"t": topic, "p": partition}
    for statement in (
        f"UPDATE audit_chain_heads SET chain_seq = chain_seq - 1 {where}",
        f"UPDATE audit_chain_heads SET row_hash = '\\x00'::bytea {where}",
        f"UPDATE audit_chain_heads SET chain_seq = chain_seq + 1 {where}",
        f"DELETE FROM audit_chain_heads {where}",
        "INSERT INTO audit_chain_heads VALUES (:t || 'x', :p, 5, 0, '\\x00'::bytea, now())",
    ):
        with pytest.raises(exc.ProgrammingError) as refused, engine.begin() as conn:
            conn.execute(text(statement), chain)
        assert isinstance(refused.value.orig, psycopg2.errors.InsufficientPrivilege), statement
    with engine.connect() as conn:
        head = conn.execute(
            select(audit_chain_heads.c.chain_seq).where(
                audit_chain_heads.c.topic == topic, audit_chain_heads.c.partition == partition
            )
        ).scalar_one()
    assert head == seq


def test_a_checkpoint_naming_a_row_not_written_with_that_hash_is_refused(engine: Engine) -> None:
    prefix = f"g{uuid.uuid4().hex[:10]}."
    topic, partition, seq = _written_and_signed(engine, prefix)
    for at, row_hash in ((seq, b"\x01" * 32), (seq + 5, b"\x01" * 32)):
        with pytest.raises(exc.ProgrammingError) as refused, engine.begin() as conn:
            conn.execute(
                audit_checkpoints.insert().values(
                    signed_at=now(),
                    topic=topic,
                    partition=partition,
                    chain_seq=at,
                    row_hash=row_hash,
                    signature=b"\x00" * 32,
                )
            )
        assert isinstance(refused.value.orig, psycopg2.errors.InsufficientPrivilege)


def test_heads_a_crash_left_unsigned_are_signed_at_the_next_start(engine: Engine) -> None:
    prefix = f"g{uuid.uuid4().hex[:10]}."
    rows = rows_on_chains(prefix, documents=10, partitions=2)
    # Written, then the process died before its checkpoint was due.
    AuditWriter(engine, KEY, checkpoint_interval_s=3600).append_batch(
        Preparer(engine).prepare_batch(rows)
    )
    assert verify(engine, KEY, prefix).checkpoints == 0
    topics = sorted({r.topic for r in rows})

    signed = AuditWriter(engine, KEY).sign_heads_behind(topics)

    report = verify(engine, KEY, prefix)
    assert signed == report.chains == report.checkpoints > len(topics)
    assert report.intact, report.findings
    assert AuditWriter(engine, KEY).sign_heads_behind(topics) == 0  # nothing behind now


def test_an_idle_sink_signs_its_newest_rows_within_the_checkpoint_interval(
    settings: Settings, processes: Processes, engine: Engine
) -> None:
    """Two bursts, the second right after the first was signed, then silence: the rows of
    the second burst are signed within the interval although no batch follows them."""
    first = synthetic.produce(settings, settings.topic_prefix + "a", documents=20)
    processes.start("audit-sink", COMPLIANCE_AUDIT_CHECKPOINT_INTERVAL_S="3")
    wait_for(lambda: recorded(engine, settings.topic_prefix) >= len(first), 60, "first", processes)
    wait_for(lambda: _all_heads_signed(engine, settings), 30, "first burst signed", processes)
    second = synthetic.produce(settings, settings.topic_prefix + "b", documents=5)
    total = len(first) + len(second)
    wait_for(lambda: recorded(engine, settings.topic_prefix) >= total, 60, "second", processes)
    wait_for(lambda: _all_heads_signed(engine, settings), 15, "second burst signed", processes)
    report = verify(engine, signing_key(settings), settings.topic_prefix)
    assert report.intact, report.findings
    processes.assert_alive()


def _all_heads_signed(engine: Engine, settings: Settings) -> bool:
    with engine.connect() as conn:
        behind = conn.execute(
            text(
                "SELECT count(*) FROM audit_chain_heads h WHERE h.topic LIKE :p AND "
                "h.chain_seq > COALESCE((SELECT max(c.chain_seq) FROM audit_checkpoints c "
                'WHERE c.topic = h.topic AND c."partition" = h."partition"), 0)'
            ),
            {"p": settings.topic_prefix + "%"},
        ).scalar_one()
    return behind == 0
