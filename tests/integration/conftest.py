"""Fixtures for integration tests against the real Kafka broker and PostgreSQL.

Strategy: where a Docker engine answers, testcontainers starts a Kafka and a PostgreSQL
container for the session (the images docker-compose.yml runs); otherwise the services are the
ones `make services` starts. COMPLIANCE_TEST_SERVICES=local|containers overrides the choice
(tests/support/service_choice.py), which the report header prints. The services are shared;
isolation comes from names: every test gets its own topic prefix, hence its own topics and
consumer groups, and filters the shared audit table by that prefix. Processors run as real OS
processes (`python -m compliance run <name>`), so tests can SIGTERM or SIGKILL them like
production would. If a service does not answer, the tests fail
with the command that starts it; they are never skipped.

Database roles: the session runs `compliance db init`'s work as the owner of the tables
(COMPLIANCE_ADMIN_DATABASE_URL); processors and CLI commands started by a test connect as the
roles that own nothing (COMPLIANCE_DATABASE_URL, COMPLIANCE_AUDIT_DATABASE_URL), as deployed.
Test code itself reads and tampers with the database as the owner (``engine``, and the
``database_dsn`` of the settings fixtures). The local clusters use development passwords, so
the whole session runs in development mode.
"""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient
from pydantic import SecretStr
from sqlalchemy import Engine, func, select, text
from sqlalchemy.engine import make_url

from compliance import kafka_io
from compliance.audit.store import audit_events, connect, create_schema
from compliance.config import DEVELOPMENT_MODE_VARIABLE, PROJECT_ROOT, Settings
from compliance.db_setup import create_every_table, grant
from compliance.errors import ConfigurationError
from tests.support.service_choice import (
    OVERRIDE_VARIABLE,
    ServiceChoice,
    ServiceChoiceError,
    Services,
    choose_services,
    docker_engine,
    started_containers,
)

from .private_services import (
    PrivateKafka,
    PrivatePostgres,
    ServiceFailed,
    ServiceMissing,
    private_kafka,
    private_postgres,
)

pytestmark = pytest.mark.integration
LOG_DIR = PROJECT_ROOT / ".services" / "test-logs"
# The local clusters' passwords are the development ones; processes started by tests inherit it.
os.environ.setdefault(DEVELOPMENT_MODE_VARIABLE, "true")


def as_owner(**fields: object) -> Settings:
    """Settings whose ``database_dsn`` is the owner's (test code checks and tampers as it)."""
    owner = SecretStr(Settings().admin_database_dsn)
    return Settings(database_url=owner, **fields)  # type: ignore[arg-type]


@functools.cache
def chosen_services() -> ServiceChoice | ServiceChoiceError:
    """The session's services, decided once (the Docker engine is asked once)."""
    try:
        return choose_services(os.environ.get(OVERRIDE_VARIABLE), docker_engine(), os.environ)
    except ServiceChoiceError as exc:
        return exc


def _services_line() -> str:
    choice = chosen_services()
    return (
        choice.header() if isinstance(choice, ServiceChoice) else f"compliance services: {choice}"
    )


_announced: list[str] = []


def pytest_report_header(config: pytest.Config) -> str:
    """The choice, at the top of the run (when this folder's tests are named on the command
    line, this file is read before the header is printed)."""
    _announced.append("header")
    return _services_line()


def pytest_collection_finish(session: pytest.Session) -> None:
    """The choice, once, when the header came before this file was read (`pytest tests`)."""
    collected_here = any(
        Path(str(item.path)).is_relative_to(Path(__file__).parent) for item in session.items
    )
    if _announced or not collected_here:
        return
    _announced.append("collection")
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(_services_line())


@pytest.fixture(scope="session", autouse=True)
def services() -> Iterator[ServiceChoice]:
    """The chosen services, started when they are containers (and their addresses put in the
    environment every Settings and every processor started reads), before any integration
    test: also those that build their Settings themselves."""
    choice = chosen_services()
    if isinstance(choice, ServiceChoiceError):
        pytest.fail(str(choice), pytrace=False)
    if choice.services is Services.LOCAL:
        yield choice
        return
    with started_containers() as environment:
        saved = {name: os.environ.get(name) for name in environment}
        os.environ.update(environment)
        try:
            yield choice
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


@pytest.fixture(scope="session")
def base_settings(services: ServiceChoice) -> Settings:
    return as_owner()


@pytest.fixture(scope="session")
def engine(base_settings: Settings) -> Engine:
    engine = connect(base_settings.database_dsn)
    try:
        with engine.connect() as conn:
            conn.execute(text("select 1"))
    except Exception as exc:
        pytest.fail(f"PostgreSQL is not answering ({exc.__class__.__name__}): run `make services`")
    create_schema(engine)
    grant_the_processes_roles(engine)
    return engine


def grant_the_processes_roles(engine: Engine) -> None:
    """`compliance db init` as the owner: every table, and the processors' and the sink's
    roles granted. A cluster made before the processors' role existed, whose owner may not
    create roles, keeps the processors on the owner's role (with a warning)."""
    create_every_table(engine)
    configured = Settings()
    for purpose, dsn, variable in (
        ("processors", configured.database_dsn, "COMPLIANCE_DATABASE_URL"),
        ("audit-sink", configured.audit_database_dsn, "COMPLIANCE_AUDIT_DATABASE_URL"),
    ):
        url = make_url(dsn)
        try:
            grant(engine, str(url.username), purpose, url.password)  # type: ignore[arg-type]
        except ConfigurationError as exc:
            warnings.warn(f"{exc}; processes use the owner's role instead", stacklevel=1)
            os.environ[variable] = configured.admin_database_dsn


@pytest.fixture(scope="session")
def broker(base_settings: Settings) -> AdminClient:
    try:
        kafka_io.require_broker(base_settings, timeout_s=10)
    except ConfigurationError as exc:
        pytest.fail(f"{exc}")
    return kafka_io.admin(base_settings)


@pytest.fixture
def settings(broker: AdminClient, engine: Engine, tmp_path: Path) -> Iterator[Settings]:
    """Settings with a topic prefix of this test's own, and its topics created."""
    prefix = f"t{uuid.uuid4().hex[:10]}."
    configured = as_owner(
        topic_prefix=prefix,
        document_roots=[PROJECT_ROOT, tmp_path],
        instance_id=f"test-{prefix}",
        transaction_timeout_ms=10_000,
    )
    kafka_io.create_topics(configured)
    yield configured
    topics = [t for t in broker.list_topics(timeout=10).topics if t.startswith(prefix)]
    if topics:
        for future in broker.delete_topics(topics, operation_timeout=30).values():
            future.result()


def processor_env(settings: Settings) -> dict[str, str]:
    env = os.environ.copy()
    env.update(
        {
            "COMPLIANCE_TOPIC_PREFIX": settings.topic_prefix,
            "COMPLIANCE_DOCUMENT_ROOTS": "["
            + ",".join(f'"{r}"' for r in settings.document_roots)
            + "]",
            "COMPLIANCE_INSTANCE_ID": settings.instance_id,
            "COMPLIANCE_TRANSACTION_TIMEOUT_MS": str(settings.transaction_timeout_ms),
            "COMPLIANCE_POLL_TIMEOUT_S": "0.2",
        }
    )
    return env


class Processes:
    """Starts `compliance run <name>` processes for one test and always stops them."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.running: dict[str, subprocess.Popen[bytes]] = {}

    def start(
        self, name: str, copy: str | None = None, **extra_env: str
    ) -> subprocess.Popen[bytes]:
        """``copy``: one of several copies of the processor in its consumer group, with an
        instance id of its own; it is then known (to ``kill``) as ``<name>-<copy>``."""
        key = name if copy is None else f"{name}-{copy}"
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        log = (LOG_DIR / f"{self.settings.topic_prefix}{key}.log").open("ab")
        env = processor_env(self.settings) | extra_env
        if copy is not None:
            env["COMPLIANCE_INSTANCE_ID"] = f"{self.settings.instance_id}-{copy}"
        if "COMPLIANCE_DATABASE_URL" in extra_env:
            # A test pointing a processor at a database of its own (a private cluster, a
            # relay) means every role of that process: there it is the owner's URL.
            for variable in ("COMPLIANCE_AUDIT_DATABASE_URL", "COMPLIANCE_ADMIN_DATABASE_URL"):
                if variable not in extra_env:
                    env[variable] = extra_env["COMPLIANCE_DATABASE_URL"]
        proc = subprocess.Popen(
            [sys.executable, "-m", "compliance", "run", name],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        self.running[key] = proc
        return proc

    def kill(self, name: str) -> None:
        """SIGKILL: no clean-up, no last commit, as a crash would."""
        proc = self.running.pop(name)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)

    def stop_all(self) -> None:
        for proc in self.running.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.running.values():
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.running.clear()

    def assert_alive(self) -> None:
        for name, proc in self.running.items():
            assert proc.poll() is None, f"processor {name} exited with {proc.returncode}"


@pytest.fixture
def processes(settings: Settings) -> Iterator[Processes]:
    procs = Processes(settings)
    yield procs
    procs.stop_all()


def read_topic(settings: Settings, topic: str, timeout_s: float = 10) -> list[bytes | None]:
    """Every committed record on a topic, from the beginning to its current end."""
    name = settings.topic(topic)
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap,
            "group.id": f"reader-{uuid.uuid4()}",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
        }
    )
    try:
        partitions = consumer.list_topics(name, timeout=10).topics[name].partitions
        ends = {}
        for p in partitions:
            ends[p] = _high_watermark(consumer, TopicPartition(name, p), timeout_s)
        consumer.assign([TopicPartition(name, p, 0) for p in partitions])
        values: list[bytes | None] = []
        positions = {p: 0 for p in partitions}
        deadline = time.monotonic() + timeout_s
        while any(positions[p] < ends[p] for p in partitions):
            if time.monotonic() > deadline:
                raise TimeoutError(f"could not read {name} to its end")
            msg = consumer.poll(0.5)
            if msg is None or msg.error():
                # Transaction markers occupy offsets but are never delivered: ask where we are.
                for tp in consumer.position([TopicPartition(name, p) for p in partitions]):
                    if tp.offset >= 0:
                        positions[tp.partition] = max(positions[tp.partition], tp.offset)
                continue
            values.append(msg.value())
            positions[msg.partition()] = msg.offset() + 1
        return values
    except KafkaException as exc:
        raise AssertionError(f"reading {name}: {exc}") from exc
    finally:
        consumer.close()


_LEADERSHIP_MOVING = frozenset(
    {
        KafkaError.NOT_LEADER_FOR_PARTITION,
        KafkaError.LEADER_NOT_AVAILABLE,
        KafkaError.UNKNOWN_TOPIC_OR_PART,
    }
)


def _high_watermark(consumer: Consumer, tp: TopicPartition, timeout_s: float) -> int:
    """The partition's end offset. Just after a topic is created, or while a loaded broker
    moves leadership, the broker may answer "not leader" for a moment: that retriable answer
    is asked again until ``timeout_s`` has passed."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return int(consumer.get_watermark_offsets(tp, timeout=10)[1])
        except KafkaException as exc:
            err = exc.args[0] if exc.args else None
            code = err.code() if isinstance(err, KafkaError) else None
            if code not in _LEADERSHIP_MOVING or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def recorded(engine: Engine, prefix: str) -> int:
    """Rows in the shared audit table from the topics under ``prefix`` (a test's own)."""
    query = select(func.count()).where(audit_events.c.topic.startswith(prefix))
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def compliance_cli(
    settings: Settings, *args: str | Path, timeout: float = 120, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``compliance <args>`` in a process of its own, on this test's topics, as an operator
    or officer would run it (``stdin``: what they type or pipe in)."""
    return subprocess.run(
        [sys.executable, "-m", "compliance", *map(str, args)],
        env=processor_env(settings),
        capture_output=True,
        text=True,
        timeout=timeout,
        input=stdin,
    )


def wait_for(
    condition: Callable[[], bool], timeout_s: float, what: str, procs: Processes | None = None
) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if procs is not None:
            procs.assert_alive()
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(0.3)


@pytest.fixture(scope="module")
def own_postgres() -> Iterator[PrivatePostgres]:
    """A PostgreSQL cluster of this test module's own, which its tests may restart and crash
    (the shared one must never be); deleted afterwards."""
    try:
        with private_postgres() as server:
            yield server
    except (ServiceMissing, ServiceFailed) as exc:
        pytest.fail(f"private PostgreSQL: {exc}", pytrace=False)


@pytest.fixture(scope="module")
def own_kafka() -> Iterator[PrivateKafka]:
    """A single-node Kafka broker of this test module's own, which its tests may restart and
    kill (the shared one must never be); deleted afterwards."""
    try:
        with private_kafka() as broker:
            yield broker
    except (ServiceMissing, ServiceFailed) as exc:
        pytest.fail(f"private Kafka: {exc}", pytrace=False)
