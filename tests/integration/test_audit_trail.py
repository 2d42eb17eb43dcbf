"""The audit trail against the real broker and PostgreSQL: exactly once across SIGKILLs,
tamper evidence, crypto-shredding, dead letters, global uniqueness of event ids.

Each test produces synthetic pipeline traffic (``compliance.audit.synthetic``) with its own
topic prefix as source, so its event ids, subjects and chains are its own in the shared
table, and runs the real ``compliance run audit-sink`` process.
"""

from __future__ import annotations

import json
import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer
from sqlalchemy import Engine, exc, func, select, text

from compliance.audit import synthetic
from compliance.audit.checkpoints import signing_key
from compliance.audit.partitions import month_of, partition_name
from compliance.audit.personal_data import ERASED, reveal
from compliance.audit.queries import decision_trail
from compliance.audit.subject_keys import existing_keys
from compliance.audit.tables import audit_event_ids, audit_events
from compliance.audit.verify import verify
from compliance.audit.writer import COLUMNS
from compliance.codec import registry
from compliance.config import Settings
from compliance.events import now
from compliance.subject_keyring import sealing_codec
from compliance.topics import COMPLIANCE_CHECKS, DOCUMENTS_ARRIVED

from .conftest import Processes, compliance_cli, read_topic, recorded, wait_for

pytestmark = pytest.mark.integration


def recorded_ids(engine: Engine, settings: Settings) -> list[str]:
    query = select(audit_events.c.event_id).where(
        audit_events.c.topic.startswith(settings.topic_prefix)
    )
    with engine.connect() as conn:
        return [str(i) for i in conn.execute(query).scalars()]


def test_sink_killed_with_sigkill_at_random_points_records_every_event_exactly_once(
    settings: Settings, processes: Processes, engine: Engine
) -> None:
    ids = synthetic.produce(settings, settings.topic_prefix, documents=6000)  # 36,000 events
    rng = random.Random()
    for kill in range(1, 4):
        processes.start("audit-sink", COMPLIANCE_AUDIT_BATCH_SIZE=str(rng.choice([300, 700, 1500])))
        target = min(len(ids) - 1, kill * len(ids) // 5 + rng.randint(0, 3000))
        wait_for(
            lambda t=target: recorded(engine, settings.topic_prefix) >= t,
            90,
            f"{target} rows",
            processes,
        )
        time.sleep(rng.uniform(0, 0.2))  # somewhere inside a batch, most likely
        processes.kill("audit-sink")
    processes.start("audit-sink")

    wait_for(
        lambda: recorded(engine, settings.topic_prefix) >= len(ids), 120, "every event", processes
    )
    time.sleep(1)  # anything written twice would show now
    stored = recorded_ids(engine, settings)
    assert len(stored) == len(set(stored)), "an event was recorded twice"
    assert set(stored) == set(ids)
    report = verify(engine, signing_key(settings), settings.topic_prefix)
    assert report.intact, [str(f) for f in report.findings]
    assert report.rows == len(ids)


def _chains_with_rows(engine: Engine, settings: Settings, minimum: int) -> list[tuple[str, int]]:
    with engine.connect() as conn:
        return [
            (t, p)
            for t, p in conn.execute(
                text(
                    'SELECT topic, "partition" FROM audit_events WHERE topic LIKE :p '
                    "GROUP BY 1, 2 HAVING count(*) >= :n ORDER BY 1, 2"
                ),
                {"p": settings.topic_prefix + "%", "n": minimum},
            )
        ]


def _tamper(engine: Engine, statement: str, params: dict[str, object]) -> None:
    """What someone with the owner's credentials can do: grant themselves the privileges the
    sink lacks and switch the append-only trigger off, for one statement."""
    part = partition_name(month_of(now()))
    with engine.begin() as conn:
        conn.execute(text(f"GRANT UPDATE, DELETE ON {part} TO CURRENT_USER"))
        conn.execute(text(f"ALTER TABLE {part} DISABLE TRIGGER audit_events_append_only"))
        conn.execute(text(statement.replace("{part}", part)), params)
        conn.execute(text(f"ALTER TABLE {part} ENABLE TRIGGER audit_events_append_only"))
        conn.execute(text(f"REVOKE UPDATE, DELETE ON {part} FROM CURRENT_USER"))


def test_rows_modified_deleted_or_inserted_by_hand_are_each_named_by_verify(
    settings: Settings, processes: Processes, engine: Engine
) -> None:
    ids = synthetic.produce(settings, settings.topic_prefix, documents=60)
    processes.start("audit-sink")
    wait_for(
        lambda: recorded(engine, settings.topic_prefix) >= len(ids), 60, "every event", processes
    )
    processes.stop_all()  # a clean stop signs the chain heads
    assert (
        compliance_cli(
            settings, "audit", "verify", "--topic-prefix", settings.topic_prefix
        ).returncode
        == 0
    )

    (ta, pa), (tb, pb), (tc, pc) = _chains_with_rows(engine, settings, minimum=4)[:3]
    where = 'topic = :t AND "partition" = :p AND chain_seq = 2'
    _tamper(
        engine,
        'UPDATE {part} SET payload = \'{"outcome":"pass"}\' WHERE ' + where,
        {"t": ta, "p": pa},
    )
    _tamper(engine, "DELETE FROM {part} WHERE " + where, {"t": tb, "p": pb})
    with engine.begin() as conn:  # INSERT needs no trick: the sink's role may insert
        conn.execute(
            text(
                f"INSERT INTO audit_events ({COLUMNS}) SELECT gen_random_uuid(), "
                + COLUMNS.split(",", 1)[1]
                + " FROM audit_events WHERE "
                + where
            ),
            {"t": tc, "p": pc},
        )

    findings = verify(engine, signing_key(settings), settings.topic_prefix).findings
    assert sorted((f.kind, f.topic, f.partition, f.chain_seq) for f in findings) == sorted(
        [("modified", ta, pa, 2), ("deleted", tb, pb, 2), ("inserted", tc, pc, 2)]
    )
    cli = compliance_cli(settings, "audit", "verify", "--topic-prefix", settings.topic_prefix)
    assert cli.returncode == 1
    assert all(kind in cli.stdout for kind in ("MODIFIED", "DELETED", "INSERTED")), cli.stdout


def test_the_sinks_role_cannot_update_delete_or_truncate_the_trail(engine: Engine) -> None:
    for statement in (
        "UPDATE audit_events SET kafka_key = 'x' WHERE false",
        "DELETE FROM audit_events WHERE false",
        "TRUNCATE audit_events",
        "DELETE FROM audit_event_ids WHERE false",
        "UPDATE audit_checkpoints SET topic = 'x' WHERE false",
    ):
        with pytest.raises(exc.ProgrammingError, match="permission denied"), engine.begin() as conn:
            conn.execute(text(statement))


def test_erasing_a_subject_makes_its_data_unreadable_keeps_the_chain_and_others(
    settings: Settings, processes: Processes, engine: Engine, tmp_path: Path
) -> None:
    source = settings.topic_prefix
    # The export below covers this test's minutes only: the shared database holds every
    # other test's (and benchmark's) events too.
    window_start = datetime.now(UTC) - timedelta(minutes=1)
    ids = synthetic.produce(settings, source, documents=20)
    processes.start("audit-sink")
    wait_for(
        lambda: recorded(engine, settings.topic_prefix) >= len(ids), 60, "every event", processes
    )
    window_end = datetime.now(UTC) + timedelta(minutes=1)
    erased, kept = synthetic.customer_of(source, 3, 997), synthetic.customer_of(source, 4, 997)
    before = decision_trail(engine, erased)
    assert any("HALVORSEN3" in json.dumps(e.payload) for e in before)

    result = compliance_cli(settings, "gdpr", "erase", erased)
    assert result.returncode == 0, result.stderr

    after = decision_trail(engine, erased)
    assert [e.event_id for e in after] == [e.event_id for e in before]  # the rows stay
    assert "HALVORSEN3" not in json.dumps([e.payload for e in after])
    by_type = {e.event_type: e.payload for e in after}
    assert by_type["CheckResult"]["inputs"] == ERASED
    assert by_type["DocumentArrived"]["filename"] == ERASED
    assert by_type["CheckResult"]["outcome"] in {"pass", "review"}  # the decision stays
    assert any("HALVORSEN4" in json.dumps(e.payload) for e in decision_trail(engine, kept))
    report = verify(engine, signing_key(settings), settings.topic_prefix)
    assert report.intact and report.rows == len(ids)

    out = tmp_path / "export.jsonl"
    exported = compliance_cli(
        settings,
        "audit",
        "export",
        "--since",
        window_start.isoformat(),
        "--until",
        window_end.isoformat(),
        "--format",
        "jsonl",
        "--output",
        str(out),
    )
    assert exported.returncode == 0, exported.stderr
    mine = [
        r for r in map(json.loads, out.read_text().splitlines()) if r["topic"].startswith(source)
    ]
    assert {r["event_id"] for r in mine} == set(ids)
    assert all(
        r["payload"].get("inputs") == ERASED
        for r in mine
        if r["subject_id"] == erased and r["event_type"] == "CheckResult"
    )


def test_poison_messages_are_dead_lettered_and_audited_while_the_rest_flows(
    settings: Settings, processes: Processes, engine: Engine
) -> None:
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap})
    garbage = [b"\x00 not avro " + str(i).encode() for i in range(3)]
    for value in garbage:
        producer.produce(settings.topic(DOCUMENTS_ARRIVED), key=b"C-poison", value=value)
    producer.produce(settings.topic(DOCUMENTS_ARRIVED.dead_letter), value=b"garbage on a DLQ")
    assert producer.flush(10) == 0
    ids = synthetic.produce(settings, settings.topic_prefix, documents=30)
    processes.start("audit-sink")

    def dead_letters() -> list[dict[str, Any]]:
        """The audited rows of the dead-letter topic, personal fields opened."""
        t = audit_events.c
        with engine.connect() as conn:
            rows = list(
                conn.execute(
                    select(t.event_id, t.event_type, t.subject_id, t.payload).where(
                        t.topic == settings.topic(DOCUMENTS_ARRIVED.dead_letter)
                    )
                )
            )
            keys = existing_keys(conn, {r.subject_id for r in rows if r.subject_id})
        return [
            {
                "event_type": r.event_type,
                "payload": reveal(str(r.event_id), r.payload, keys.get(r.subject_id)),
            }
            for r in rows
        ]

    wait_for(lambda: len(dead_letters()) == 4, 60, "dead letters audited", processes)
    wait_for(lambda: set(ids) <= set(recorded_ids(engine, settings)), 60, "the rest", processes)
    codec = sealing_codec(engine)  # dead letters' errors and bytes are sealed on the topic
    on_dlq = [
        codec.decode(v)[1]
        for v in read_topic(settings, DOCUMENTS_ARRIVED.dead_letter)
        if v != b"garbage on a DLQ"
    ]
    assert sorted(d["original_value"] for d in on_dlq) == sorted(garbage)
    rows = dead_letters()
    assert sum(1 for r in rows if r["event_type"] == "DeadLetter") == 3
    assert all(
        "single-object" in r["payload"]["error"] for r in rows if r["event_type"] == "DeadLetter"
    )
    assert [r["event_type"] for r in rows].count("Undecodable") == 1
    processes.assert_alive()


def test_an_event_seen_on_several_partitions_and_topics_is_recorded_once(
    settings: Settings, processes: Processes, engine: Engine
) -> None:
    event = synthetic.document_events(settings.topic_prefix, 0)[0]
    value = registry().encode(event.event_type, event.record)
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap})
    for topic, partition in (
        (DOCUMENTS_ARRIVED, 0),
        (DOCUMENTS_ARRIVED, 4),
        (COMPLIANCE_CHECKS, 1),
    ):
        producer.produce(settings.topic(topic), key=b"k", value=value, partition=partition)
    assert producer.flush(10) == 0
    processes.start("audit-sink")
    event_id = event.record["envelope"]["event_id"]
    wait_for(lambda: recorded_ids(engine, settings) == [event_id], 60, "the event", processes)
    time.sleep(2)  # the other two copies have been read by now (same batch or the next)
    assert recorded_ids(engine, settings) == [event_id]
    with engine.connect() as conn:
        claimed = conn.execute(select(func.count()).where(audit_event_ids.c.event_id == event_id))
        assert claimed.scalar_one() == 1
    assert verify(engine, signing_key(settings), settings.topic_prefix).intact
