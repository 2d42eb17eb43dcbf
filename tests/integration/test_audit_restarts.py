"""The audit trail across real restarts of PostgreSQL and of the Kafka broker.

The shared services must not be restarted (other tests use them), so each test here restarts
instances of its own (``private_services``): a PostgreSQL cluster and a single-node KRaft
broker started by the same scripts as the shared ones, in a temporary folder, on free ports.

While a producer keeps producing tens of thousands of synthetic pipeline events (see
``tests.audit_synthetic``), the real ``compliance run audit-sink`` process writes them to
the private PostgreSQL; mid-run the test restarts the database (clean, then a crash-style
``-m immediate`` stop with some downtime), or the broker (SIGTERM, then SIGKILL). The sink must
pause and resume by itself and keep running; afterwards the table holds every acknowledged
event exactly once, its personal fields open with their subject's stored key, and the hash
chains, with the checkpoints signed across the restarts, verify.

Two shorter tests pin down what a restart can catch the sink doing: being stopped while the
database is down, and the database failing the COMMIT of a transaction that created subject
keys (made deterministic with a deferred trigger in the private database).
"""

from __future__ import annotations

import functools
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import KafkaError, Message, Producer
from pydantic import SecretStr
from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import DBAPIError

from compliance import kafka_io
from compliance.audit.checkpoints import signing_key
from compliance.audit.personal_data import ERASED, PERSONAL_FIELDS, reveal
from compliance.audit.store import connect, create_schema
from compliance.audit.subject_keys import existing_keys
from compliance.audit.tables import audit_events
from compliance.audit.verify import verify
from compliance.codec import registry
from compliance.config import Settings
from compliance.events import subject_key
from tests import audit_synthetic as synthetic

from .conftest import LOG_DIR, Processes, processor_env, wait_for
from .private_services import PrivateKafka, PrivatePostgres

pytestmark = pytest.mark.integration


class EventStream(threading.Thread):
    """Produces synthetic events at about ``rate`` per second until ``finish()``, with an
    idempotent producer that retries through broker outages; remembers which event ids the
    broker acknowledged and which deliveries failed."""

    def __init__(self, settings: Settings, source: str, rate: float, limit: int) -> None:
        super().__init__(name=f"event-stream-{source}", daemon=True)
        self.settings = settings
        self.source = source
        self.rate = rate
        self.limit = limit
        self.produced = 0
        self.acked: list[str] = []
        self.failed: list[str] = []
        self.undelivered = -1
        self.error: BaseException | None = None
        self._finish = threading.Event()

    def _delivered(self, event_id: str, err: KafkaError | None, _msg: Message) -> None:
        if err is None:
            self.acked.append(event_id)
        else:
            self.failed.append(f"{event_id}: {err}")

    def run(self) -> None:
        try:
            self._produce()
        except BaseException as exc:  # reported in the test's thread
            self.error = exc

    def _produce(self) -> None:
        codec = registry()
        producer = Producer(
            {
                "bootstrap.servers": self.settings.kafka_bootstrap,
                "enable.idempotence": True,
                "acks": "all",
                "linger.ms": 10,
                "compression.type": "lz4",
                # Retry through a broker restart rather than give up on a message.
                "message.timeout.ms": 120_000,
                "queue.buffering.max.messages": 500_000,
            }
        )
        started = time.monotonic()
        index = 0
        while not self._finish.is_set() and self.produced < self.limit:
            for event in synthetic.document_events(self.source, index):
                event_id = event.record["envelope"]["event_id"]
                value = codec.encode(event.event_type, event.record)
                while True:
                    try:
                        producer.produce(
                            self.settings.topic(event.topic),
                            key=subject_key(event.record),
                            value=value,
                            on_delivery=functools.partial(self._delivered, event_id),
                        )
                        break
                    except BufferError:  # the local queue is full (a long outage): wait
                        producer.poll(0.1)
                self.produced += 1
            index += 1
            producer.poll(0)
            ahead = self.produced / self.rate - (time.monotonic() - started)
            if ahead > 0:
                self._finish.wait(ahead)
        self.undelivered = producer.flush(150)

    def finish(self) -> None:
        """Stop producing and wait for every delivery report."""
        self._finish.set()
        self.join(180)

    def assert_all_acknowledged(self) -> None:
        assert not self.is_alive(), "the producer did not finish within 180 s"
        if self.error is not None:
            raise AssertionError(f"the producer failed: {self.error!r}") from self.error
        assert self.undelivered == 0, f"{self.undelivered} events never acknowledged"
        assert self.failed == [], f"{len(self.failed)} deliveries failed: {self.failed[:5]}"
        assert len(self.acked) == self.produced


class Timeline:
    """Prints what happened when (shown by pytest with a failure, or with -s)."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    def __call__(self, what: str) -> None:
        print(f"{time.monotonic() - self.started:6.1f}s  {what}", flush=True)


def recorded(engine: Engine, prefix: str) -> tuple[int, int] | None:
    """(rows, distinct event ids) under ``prefix``; None while the database is down."""
    query = select(func.count(), func.count(audit_events.c.event_id.distinct())).where(
        audit_events.c.topic.startswith(prefix)
    )
    try:
        with engine.connect() as conn:
            rows, distinct = conn.execute(query).one()
    except DBAPIError:
        return None
    return int(rows), int(distinct)


def rows_now(engine: Engine, prefix: str) -> int:
    counts = recorded(engine, prefix)
    return -1 if counts is None else counts[0]


def recorded_ids(engine: Engine, prefix: str) -> list[str]:
    query = select(audit_events.c.event_id).where(audit_events.c.topic.startswith(prefix))
    with engine.connect() as conn:
        return [str(i) for i in conn.execute(query).scalars()]


def unreadable_events(engine: Engine, prefix: str) -> list[str]:
    """Events under ``prefix`` whose personal fields do not open with their subject's stored
    key (no subject is erased in these tests: every one of them must open)."""
    c = audit_events.c
    query = select(c.event_id, c.event_type, c.subject_id, c.payload).where(
        c.topic.startswith(prefix)
    )
    with engine.connect() as conn:
        rows = list(conn.execute(query))
        keys = existing_keys(conn, {r.subject_id for r in rows if r.subject_id})
    unreadable = []
    for r in rows:
        opened = reveal(str(r.event_id), r.payload, keys.get(r.subject_id))
        fields = [f for f in PERSONAL_FIELDS.get(r.event_type, ()) if f in opened]
        if not fields or any(opened[f] == ERASED for f in fields):
            unreadable.append(str(r.event_id))
    return unreadable


def wait_rows(
    engine: Engine, prefix: str, at_least: int, procs: Processes, timeout_s: float = 60
) -> int:
    wait_for(lambda: rows_now(engine, prefix) >= at_least, timeout_s, f"{at_least} rows", procs)
    return rows_now(engine, prefix)


def stop_sink_cleanly(sink: subprocess.Popen[bytes]) -> None:
    """The sink ran throughout; SIGTERM ends it cleanly (it signs its chain heads)."""
    assert sink.poll() is None, f"the audit sink exited with {sink.returncode}"
    sink.send_signal(signal.SIGTERM)
    assert sink.wait(30) == 0, "the audit sink did not stop cleanly on SIGTERM"


def assert_every_event_once(
    engine: Engine, settings: Settings, stream: EventStream, procs: Processes
) -> None:
    prefix = settings.topic_prefix
    total = len(stream.acked)
    wait_for(lambda: rows_now(engine, prefix) >= total, 90, f"all {total} events", procs)
    time.sleep(1)  # anything written twice would show now
    ids = recorded_ids(engine, prefix)
    assert len(ids) == len(set(ids)), f"{len(ids) - len(set(ids))} events recorded twice"
    assert set(ids) == set(stream.acked), (
        f"{len(set(stream.acked) - set(ids))} acknowledged events missing, "
        f"{len(set(ids) - set(stream.acked))} never produced"
    )
    report = verify(engine, signing_key(settings), prefix)
    assert report.intact, [str(f) for f in report.findings[:20]]
    assert report.rows == total
    assert report.checkpoints > 0
    unreadable = unreadable_events(engine, prefix)
    assert unreadable == [], f"{len(unreadable)} events sealed with a key that was never stored"


def verify_with_cli(settings: Settings, database_url: str) -> None:
    env = processor_env(settings) | {"COMPLIANCE_DATABASE_URL": database_url}
    prefix = settings.topic_prefix
    cli = subprocess.run(
        [sys.executable, "-m", "compliance", "audit", "verify", "--topic-prefix", prefix],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert cli.returncode == 0, cli.stdout + cli.stderr
    assert "audit trail intact" in cli.stdout


def sink_log(settings: Settings) -> str:
    log: Path = LOG_DIR / f"{settings.topic_prefix}audit-sink.log"
    return log.read_text()


def test_sink_rides_out_postgresql_restarts_and_a_crash_recording_every_event_once(
    settings: Settings, processes: Processes, own_postgres: PrivatePostgres
) -> None:
    prefix = settings.topic_prefix
    engine = connect(own_postgres.url)
    create_schema(engine)
    mark = Timeline()
    stream = EventStream(settings, prefix, rate=3000, limit=150_000)
    stream.start()
    try:
        sink = processes.start(
            "audit-sink",
            COMPLIANCE_DATABASE_URL=own_postgres.url,
            COMPLIANCE_AUDIT_BATCH_SIZE="1000",
            COMPLIANCE_AUDIT_CHECKPOINT_INTERVAL_S="1",
        )
        mark(f"{wait_rows(engine, prefix, 8_000, processes)} rows; pg_ctl restart -m fast")
        own_postgres.restart("fast")  # clean: connections terminated, refused ~1 s
        processes.assert_alive()
        rows = wait_rows(engine, prefix, rows_now(engine, prefix) + 8_000, processes)

        mark(f"{rows} rows; pg_ctl stop -m immediate")
        own_postgres.stop("immediate")  # a crash: no shutdown checkpoint, then recovery
        try:
            time.sleep(4)  # down: the sink fails with batches in hand, must pause and retry
            processes.assert_alive()
        finally:
            own_postgres.start()
        mark("started again")
        mark(f"{wait_rows(engine, prefix, rows + 8_000, processes)} rows")
        time.sleep(1)
    finally:
        stream.finish()
        mark(f"{stream.produced} events produced")
    stream.assert_all_acknowledged()
    assert stream.produced >= 20_000

    assert_every_event_once(engine, settings, stream, processes)
    mark("every event recorded once, chains verified")
    stop_sink_cleanly(sink)
    verify_with_cli(settings, own_postgres.url)
    assert sink_log(settings).count("pausing, retry") >= 2  # it did see both outages


def test_sink_and_producer_ride_out_broker_restarts_and_a_kill_recording_every_event_once(
    own_kafka: PrivateKafka, own_postgres: PrivatePostgres
) -> None:
    prefix = f"r{uuid.uuid4().hex[:10]}."
    settings = Settings(
        kafka_bootstrap=own_kafka.bootstrap,
        database_url=SecretStr(own_postgres.url),
        topic_prefix=prefix,
        instance_id=f"test-{prefix}",
        transaction_timeout_ms=10_000,
    )
    kafka_io.create_topics(settings)
    engine = connect(own_postgres.url)
    create_schema(engine)
    processes = Processes(settings)
    mark = Timeline()
    stream = EventStream(settings, prefix, rate=1500, limit=150_000)
    stream.start()
    try:
        try:
            sink = processes.start(
                "audit-sink",
                COMPLIANCE_KAFKA_BOOTSTRAP=own_kafka.bootstrap,
                COMPLIANCE_DATABASE_URL=own_postgres.url,
                COMPLIANCE_AUDIT_BATCH_SIZE="1000",
                COMPLIANCE_AUDIT_CHECKPOINT_INTERVAL_S="1",
            )
            rows = wait_rows(engine, prefix, 6_000, processes)
            mark(f"{rows} rows; broker SIGTERM")
            own_kafka.restart(crash=False)  # SIGTERM: a clean shutdown, then start again
            mark("broker answers again")
            processes.assert_alive()
            rows = wait_rows(engine, prefix, rows + 6_000, processes)

            mark(f"{rows} rows; broker SIGKILL")
            own_kafka.restart(crash=True, down_s=2)  # SIGKILL: no shutdown, log recovery
            mark("broker answers again")
            processes.assert_alive()
            mark(f"{wait_rows(engine, prefix, rows + 6_000, processes)} rows")
            time.sleep(1)
        finally:
            stream.finish()
            mark(f"{stream.produced} events produced")
        stream.assert_all_acknowledged()
        assert stream.produced >= 20_000

        assert_every_event_once(engine, settings, stream, processes)
        mark("every event recorded once, chains verified")
        stop_sink_cleanly(sink)
    finally:
        processes.stop_all()


def test_sink_stopped_while_postgresql_is_down_exits_cleanly_and_the_next_one_catches_up(
    settings: Settings, processes: Processes, own_postgres: PrivatePostgres
) -> None:
    """SIGTERM while the database is down: the sink gives up its unwritten batch (offsets
    uncommitted) and its final checkpoint, and exits cleanly; the next sink, once the
    database is back, records everything once."""
    prefix = settings.topic_prefix
    mark = Timeline()
    engine = connect(own_postgres.url)
    create_schema(engine)
    first = synthetic.produce(settings, prefix + "a", documents=300)
    sink = processes.start(
        "audit-sink",
        COMPLIANCE_DATABASE_URL=own_postgres.url,
        COMPLIANCE_AUDIT_CHECKPOINT_INTERVAL_S="3600",  # heads stay unsigned until the stop
    )
    wait_for(lambda: rows_now(engine, prefix) >= len(first), 60, "first events", processes)
    mark("first lot recorded; pg_ctl stop -m immediate")
    own_postgres.stop("immediate")
    try:
        second = synthetic.produce(settings, prefix + "b", documents=300)
        time.sleep(3)  # the sink fails to write the second lot: paused, retrying
        processes.assert_alive()
        sink.send_signal(signal.SIGTERM)
        exit_code = sink.wait(30)
        mark(f"the sink exited with {exit_code}")
    finally:
        own_postgres.start()
    log = sink_log(settings)
    assert exit_code == 0, f"the sink exited with {exit_code}:\n{log[-3000:]}"
    assert "final checkpoint not written" in log

    processes.running.clear()
    processes.start("audit-sink", COMPLIANCE_DATABASE_URL=own_postgres.url)
    total = len(first) + len(second)
    wait_for(lambda: rows_now(engine, prefix) >= total, 60, "every event", processes)
    mark("the next sink recorded the rest")
    time.sleep(1)
    assert recorded(engine, prefix) == (total, total)
    assert set(recorded_ids(engine, prefix)) == set(first) | set(second)
    report = verify(engine, signing_key(settings), prefix)
    assert report.intact, [str(f) for f in report.findings[:20]]
    assert report.rows == total


def test_a_subject_key_whose_transaction_failed_to_commit_seals_no_row(
    settings: Settings, processes: Processes, own_postgres: PrivatePostgres
) -> None:
    """The first transaction creating subject keys fails at COMMIT, as when the server goes
    down at that moment (SQLSTATE 57P01, what a fast shutdown sends): its keys never reach
    the database. The sink retries the batch; every row must still be sealed with a key the
    database holds, or its personal data is lost for good."""
    prefix = settings.topic_prefix
    engine = connect(own_postgres.url)
    create_schema(engine)
    with engine.begin() as conn:
        conn.execute(text("CREATE SEQUENCE IF NOT EXISTS test_failed_key_commits"))
        conn.execute(
            text(
                "CREATE OR REPLACE FUNCTION test_fail_first_key_commit() RETURNS trigger "
                "LANGUAGE plpgsql AS $$ BEGIN "
                # A sequence is not rolled back with the transaction: only the first fails.
                "IF nextval('test_failed_key_commits') = 1 THEN RAISE EXCEPTION "
                "'injected: terminating connection due to administrator command' "
                "USING ERRCODE = '57P01'; END IF; RETURN NULL; END $$"
            )
        )
        conn.execute(
            text(
                "CREATE CONSTRAINT TRIGGER test_fail_first_key_commit "
                "AFTER INSERT ON audit_subject_keys DEFERRABLE INITIALLY DEFERRED "
                "FOR EACH ROW EXECUTE FUNCTION test_fail_first_key_commit()"
            )
        )
    try:
        ids = synthetic.produce(settings, prefix, documents=50)  # 300 events, 50 subjects
        processes.start("audit-sink", COMPLIANCE_DATABASE_URL=own_postgres.url)
        wait_for(lambda: rows_now(engine, prefix) >= len(ids), 60, "every event", processes)
        with engine.connect() as conn:
            fired = conn.execute(text("SELECT last_value FROM test_failed_key_commits"))
            assert fired.scalar_one() >= 1, "the injected commit failure never happened"
        assert "pausing, retry" in sink_log(settings)
        assert set(recorded_ids(engine, prefix)) == set(ids)
        unreadable = unreadable_events(engine, prefix)
        assert unreadable == [], (
            f"{len(unreadable)} of {len(ids)} events sealed with a key that was never stored"
        )
    finally:
        processes.stop_all()
        with engine.begin() as conn:
            conn.execute(
                text("DROP TRIGGER IF EXISTS test_fail_first_key_commit ON audit_subject_keys")
            )
            conn.execute(text("DROP FUNCTION IF EXISTS test_fail_first_key_commit()"))
            conn.execute(text("DROP SEQUENCE IF EXISTS test_failed_key_commits"))
