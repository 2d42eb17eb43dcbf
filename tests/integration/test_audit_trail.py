"""The audit trail against the real broker and PostgreSQL: exactly once across SIGKILLs,
tamper evidence, crypto-shredding, dead letters, global uniqueness of event ids.

Each test produces synthetic pipeline traffic (``tests.audit_synthetic``) with its own
topic prefix as source, so its event ids, subjects and chains are its own in the shared
table, and runs the real ``compliance run audit-sink`` process.
"""

from __future__ import annotations

import json
import random
import string
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from confluent_kafka import Producer
from sqlalchemy import Engine, exc, func, select, text

from compliance.audit.checkpoints import signing_key
from compliance.audit.partitions import month_of, partition_name
from compliance.audit.personal_data import ERASED
from compliance.audit.queries import decision_trail
from compliance.audit.tables import audit_event_ids, audit_events
from compliance.audit.verify import verify
from compliance.audit.writer import COLUMNS
from compliance.codec import registry
from compliance.config import Settings
from compliance.errors import RetryableError
from compliance.events import now
from compliance.subject_keyring import sealing_codec
from compliance.topics import COMPLIANCE_CHECKS, DOCUMENTS_ARRIVED
from tests import audit_synthetic as synthetic

from .conftest import Processes, compliance_cli, read_topic, recorded, wait_for

pytestmark = pytest.mark.integration


def recorded_ids(engine: Engine, settings: Settings) -> list[str]:
    query = select(audit_events.c.event_id).where(
        audit_events.c.topic.startswith(settings.topic_prefix)
    )
    with engine.connect() as conn:
        return [str(i) for i in conn.execute(query).scalars()]


def test_sink_killed_with_sigkill_at_random_points_records_every_event_exactly_once(
    settings: Settings, processes: Processes, engine: Engine, rng: random.Random
) -> None:
    ids = synthetic.produce(settings, settings.topic_prefix, documents=6000)  # 36,000 events
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


def test_an_undecodable_record_is_dead_lettered_once_and_recorded_verbatim_once(
    settings: Settings, processes: Processes, engine: Engine
) -> None:
    """The classifier consumes documents.arrived and dead-letters what it cannot decode; the
    sink records each bad record verbatim where it sat and produces no second dead letter.
    Garbage on a dead-letter topic is recorded verbatim too."""
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap})
    garbage = [b"\x00 not avro " + str(i).encode() for i in range(3)]
    for value in garbage:
        producer.produce(settings.topic(DOCUMENTS_ARRIVED), key=b"C-poison", value=value)
    producer.produce(settings.topic(DOCUMENTS_ARRIVED.dead_letter), value=b"garbage on a DLQ")
    assert producer.flush(10) == 0
    processes.start("audit-sink")
    processes.start("classifier")

    def rows_on(topic: str) -> list[dict[str, object]]:
        with engine.connect() as conn:
            return [
                dict(r._mapping)
                for r in conn.execute(
                    select(
                        audit_events.c.event_type, audit_events.c.payload, audit_events.c.raw_value
                    ).where(audit_events.c.topic == settings.topic(topic))
                )
            ]

    dlq = DOCUMENTS_ARRIVED.dead_letter
    wait_for(lambda: len(rows_on(dlq)) == 4, 90, "dead letters audited", processes)
    codec = sealing_codec(engine)  # dead letters' errors and bytes are sealed on the topic
    on_dlq = [codec.decode(v)[1] for v in read_topic(settings, dlq) if v != b"garbage on a DLQ"]
    assert sorted(d["original_value"] for d in on_dlq) == sorted(garbage)  # once each
    assert {d["failed_in"] for d in on_dlq} == {"classifier"}
    dead = rows_on(dlq)
    assert sum(1 for r in dead if r["event_type"] == "DeadLetter") == 3
    assert [bytes(r["raw_value"]) for r in dead if r["event_type"] == "Undecodable"] == [
        b"garbage on a DLQ"
    ]
    verbatim = [r for r in rows_on(DOCUMENTS_ARRIVED) if r["event_type"] == "Undecodable"]
    assert sorted(bytes(r["raw_value"]) for r in verbatim) == sorted(garbage)
    processes.assert_alive()


def test_an_event_too_long_for_an_index_is_recorded_verbatim_and_every_other_event_recorded(
    settings: Settings, processes: Processes, engine: Engine
) -> None:
    """A correlation id of kilobytes would be refused by PostgreSQL's index (54000) and used
    to stop every topic's audit. It is out of the envelope's bounds, so the sink does not
    decode it: the record is kept once, verbatim, as an ``Undecodable`` row where it sat,
    every other event is recorded, and the sink adds no dead letter of its own (the processor
    that consumes the topic dead-letters it, once: test_oversized_identifiers)."""
    seed = random.randrange(1 << 30)
    print(f"seed {seed}")
    rng = random.Random(seed)
    huge = "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(3500))
    event = synthetic.document_events(settings.topic_prefix + "huge", 0)[0]
    record = {**event.record, "envelope": {**event.record["envelope"], "correlation_id": huge}}
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap})
    producer.produce(
        settings.topic(DOCUMENTS_ARRIVED),
        key=huge.encode(),
        value=registry().encode(event.event_type, record),
    )
    assert producer.flush(10) == 0
    ids = synthetic.produce(settings, settings.topic_prefix, documents=40)
    processes.start("audit-sink")

    wait_for(lambda: set(ids) <= set(recorded_ids(engine, settings)), 90, "the rest", processes)

    def undecodable_on_arrivals() -> list[str]:
        with engine.connect() as conn:
            return list(
                conn.execute(
                    select(audit_events.c.correlation_id).where(
                        audit_events.c.topic == settings.topic(DOCUMENTS_ARRIVED),
                        audit_events.c.event_type == "Undecodable",
                    )
                ).scalars()
            )

    wait_for(lambda: len(undecodable_on_arrivals()) == 1, 60, "the verbatim row", processes)
    [where] = undecodable_on_arrivals()
    assert where.startswith(settings.topic(DOCUMENTS_ARRIVED) + "/")
    assert event.record["envelope"]["event_id"] not in recorded_ids(engine, settings)
    assert read_topic(settings, DOCUMENTS_ARRIVED.dead_letter) == []
    processes.assert_alive()


def test_an_id_sent_again_with_other_content_is_recorded_as_a_conflict_not_dropped(
    settings: Settings, processes: Processes, engine: Engine
) -> None:
    """A corrected document re-sent under the same id (same event id, other bytes) reaches
    the trail as a row of its own and a conflict that verify and summary show; the same
    bytes again are a duplicate."""
    event = synthetic.document_events(settings.topic_prefix, 0)[0]
    codec = registry()
    first = codec.encode(event.event_type, event.record)
    corrected_record = {**event.record, "filename": "passport-0-corrected.txt"}
    corrected = codec.encode(event.event_type, corrected_record)
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap})
    for value in (first, first, corrected, corrected, first):
        producer.produce(settings.topic(DOCUMENTS_ARRIVED), key=b"k", value=value, partition=0)
        assert producer.flush(10) == 0
    processes.start("audit-sink")
    event_id = event.record["envelope"]["event_id"]
    wait_for(lambda: len(recorded_ids(engine, settings)) == 2, 60, "both versions", processes)
    with engine.connect() as conn:
        offsets = conn.execute(
            select(audit_events.c.offset)
            .where(audit_events.c.topic.startswith(settings.topic_prefix))
            .order_by(audit_events.c.offset)
        ).scalars()
        assert list(offsets) == [0, 2]
    assert recorded_ids(engine, settings) == [event_id, event_id]
    report = verify(engine, signing_key(settings), settings.topic_prefix)
    assert report.intact, report.findings
    assert [(c.event_id, c.offset) for c in report.conflicts] == [(event_id, 2)]
    processes.stop_all()
    verified = compliance_cli(settings, "audit", "verify", "--topic-prefix", settings.topic_prefix)
    assert verified.returncode == 0
    assert f"CONFLICT  event {event_id}" in verified.stdout
    summary = compliance_cli(settings, "audit", "summary")
    assert f"conflicting versions on {settings.topic(DOCUMENTS_ARRIVED)}: 1" in summary.stdout
    assert recorded_ids(engine, settings) == [event_id, event_id]


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


def test_a_dead_letter_the_client_gave_up_on_is_sent_again_not_taken_for_delivered(
    settings: Settings,
) -> None:
    """flush() counts only what is still queued: a dead letter whose delivery failed (here no
    broker answers within its timeout) has left the queue too. The sink must not commit
    offsets past it."""
    from compliance.processors.audit_sink import AuditSink, Outgoing

    sink = AuditSink.__new__(AuditSink)  # only the dead-letter delivery is exercised
    sink._undelivered = []
    letter = Outgoing(settings.topic(DOCUMENTS_ARRIVED.dead_letter), b"k", b"a dead letter")
    hopeless = Producer({"bootstrap.servers": "127.0.0.1:9", "message.timeout.ms": 300})
    sink._send(hopeless, letter)
    for _ in range(2):  # failed, sent again, failed again: never reported delivered
        with pytest.raises(RetryableError, match="not delivered"):
            sink._delivered(hopeless)
    working = Producer({"bootstrap.servers": settings.kafka_bootstrap})
    sink._undelivered = [letter]
    with pytest.raises(RetryableError):  # the letter given up on is sent again ...
        sink._delivered(working)
    assert sink._delivered(working)  # ... and delivered
    assert read_topic(settings, DOCUMENTS_ARRIVED.dead_letter) == [b"a dead letter"]
