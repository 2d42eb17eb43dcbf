"""Which Kafka broker and PostgreSQL the integration tests run against.

Where a Docker engine answers, testcontainers starts a Kafka and a PostgreSQL container for the
session (the images docker-compose.yml runs); otherwise the tests use the local services
(`make services`, infra/services.sh). ``COMPLIANCE_TEST_SERVICES=local|containers`` overrides
the choice; services given in the environment (COMPLIANCE_KAFKA_BOOTSTRAP or a database URL)
are used as they are, without containers, unless the override asks for containers.

``choose_services`` decides from what it is told (pure); ``docker_engine`` asks Docker;
``started_containers`` starts the containers and gives the environment that points the tests
and the processes they start at them.
"""

from __future__ import annotations

import tarfile
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from enum import StrEnum
from io import BytesIO
from typing import TYPE_CHECKING

from sqlalchemy.engine import make_url

from compliance.config import DEV_ADMIN_DATABASE_URL, DEV_AUDIT_DATABASE_URL, DEV_DATABASE_URL

if TYPE_CHECKING:
    from testcontainers.core.container import DockerContainer

OVERRIDE_VARIABLE = "COMPLIANCE_TEST_SERVICES"
# Variables that name services of the user's own: given, they are used as they are.
SERVICE_VARIABLES = (
    "COMPLIANCE_KAFKA_BOOTSTRAP",
    "COMPLIANCE_DATABASE_URL",
    "COMPLIANCE_AUDIT_DATABASE_URL",
    "COMPLIANCE_ADMIN_DATABASE_URL",
)
# The images docker-compose.yml runs: Kafka 4 (KRaft; the processors' consumer groups use
# KIP-848, which needs a 4.x broker) and PostgreSQL 15.
KAFKA_IMAGE = "apache/kafka:4.1.1"
POSTGRES_IMAGE = "postgres:15"
KAFKA_CLIENT_PORT = 19092  # inside the container; advertised as the host's mapped port
POSTGRES_PORT = 5432
CONTAINER_START_TIMEOUT_S = 120
# The broker's start script waits for this file, written once the mapped port is known.
KAFKA_LISTENER_FILE = "/tmp/advertised-listener.sh"


class Services(StrEnum):
    LOCAL = "local"
    CONTAINERS = "containers"


class ServiceChoiceError(ValueError):
    """The override asks for something that cannot be had (a typo, containers without Docker)."""


@dataclass(frozen=True)
class DockerEngine:
    """What asking Docker found: ``detail`` is its address when it answered, else the error."""

    reachable: bool
    detail: str


@dataclass(frozen=True)
class ServiceChoice:
    services: Services
    reason: str

    def header(self) -> str:
        return f"compliance services: {self.services} ({self.reason})"


def choose_services(
    override: str | None, docker: DockerEngine, environment: Mapping[str, str]
) -> ServiceChoice:
    """Containers where Docker answers, local services otherwise; ``override``
    (COMPLIANCE_TEST_SERVICES) decides when given; services named in ``environment`` stay."""
    wanted = (override or "").strip().lower()
    if wanted not in {"", *Services}:
        raise ServiceChoiceError(
            f"{OVERRIDE_VARIABLE}={override!r}: expected one of {', '.join(Services)}"
        )
    if wanted == Services.LOCAL:
        return ServiceChoice(Services.LOCAL, f"{OVERRIDE_VARIABLE}=local")
    if wanted == Services.CONTAINERS:
        if not docker.reachable:
            raise ServiceChoiceError(
                f"{OVERRIDE_VARIABLE}=containers, but no Docker engine answers: {docker.detail}"
            )
        return ServiceChoice(
            Services.CONTAINERS, f"{OVERRIDE_VARIABLE}=containers; Docker at {docker.detail}"
        )
    given = [name for name in SERVICE_VARIABLES if environment.get(name)]
    if given:
        return ServiceChoice(Services.LOCAL, f"services given by {', '.join(given)}")
    if docker.reachable:
        return ServiceChoice(Services.CONTAINERS, f"a Docker engine answers at {docker.detail}")
    return ServiceChoice(
        Services.LOCAL, f"no Docker engine ({docker.detail}); `make services` starts them"
    )


def docker_engine(timeout_s: float = 3.0) -> DockerEngine:
    """Ask the Docker engine the environment names (DOCKER_HOST, else the local socket)."""
    import docker
    import requests
    from docker.errors import DockerException

    try:
        client = docker.from_env(timeout=int(max(timeout_s, 1)))
        try:
            client.ping()
            return DockerEngine(True, str(client.api.base_url))
        finally:
            client.close()
    except (DockerException, requests.RequestException) as exc:
        return DockerEngine(False, _first_line(exc))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{exc.__class__.__name__}: {text[0] if text else ''}"[:200]


def kafka_environment() -> dict[str, str]:
    """The broker container's settings: one KRaft node (broker and controller), clients on
    KAFKA_CLIENT_PORT, one replica of the internal topics, no topics created by accident, the
    broker settings of infra/kafka.sh the tests rely on. Where clients are sent back to is
    ``advertised_listeners``."""
    return {
        "KAFKA_NODE_ID": "1",
        "KAFKA_PROCESS_ROLES": "broker,controller",
        "KAFKA_LISTENERS": f"HOST://:{KAFKA_CLIENT_PORT},BROKER://:9092,CONTROLLER://:9093",
        "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": (
            "HOST:PLAINTEXT,BROKER:PLAINTEXT,CONTROLLER:PLAINTEXT"
        ),
        "KAFKA_INTER_BROKER_LISTENER_NAME": "BROKER",
        "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER",
        "KAFKA_CONTROLLER_QUORUM_VOTERS": "1@localhost:9093",
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": "1",
        "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS": "0",
        "KAFKA_AUTO_CREATE_TOPICS_ENABLE": "false",
        "KAFKA_NUM_PARTITIONS": "3",
        "KAFKA_TRANSACTION_MAX_TIMEOUT_MS": "3600000",
        "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR": "1",
        "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR": "1",
        # As infra/kafka.sh: a member killed with -9 gives its partitions up after 10 s, not 45.
        "KAFKA_GROUP_CONSUMER_MIN_SESSION_TIMEOUT_MS": "6000",
        "KAFKA_GROUP_CONSUMER_SESSION_TIMEOUT_MS": "10000",
        "KAFKA_GROUP_CONSUMER_MIN_HEARTBEAT_INTERVAL_MS": "1000",
        "KAFKA_GROUP_CONSUMER_HEARTBEAT_INTERVAL_MS": "2000",
    }


def advertised_listeners(host_port: str) -> str:
    """KAFKA_ADVERTISED_LISTENERS: clients on the host reach the broker at ``host_port`` (the
    container's mapped port); the broker reaches itself inside the container."""
    return f"HOST://{host_port},BROKER://localhost:9092"


def postgres_owner() -> tuple[str, str, str]:
    """(user, password, database) of the tables' owner: the development owner's, so the
    processors' and the sink's development roles are granted as on the local cluster."""
    url = make_url(DEV_ADMIN_DATABASE_URL)
    return str(url.username), str(url.password), str(url.database)


def environment_for(kafka_bootstrap: str, postgres_host: str, postgres_port: int) -> dict[str, str]:
    """COMPLIANCE_* variables pointing the tests, and every process they start, at the
    containers: the bootstrap address, and the owner's, the processors' and the sink's
    development URLs moved to the container's host and port."""
    moved = {
        variable: make_url(url)
        .set(host=postgres_host, port=postgres_port)
        .render_as_string(hide_password=False)
        for variable, url in (
            ("COMPLIANCE_ADMIN_DATABASE_URL", DEV_ADMIN_DATABASE_URL),
            ("COMPLIANCE_DATABASE_URL", DEV_DATABASE_URL),
            ("COMPLIANCE_AUDIT_DATABASE_URL", DEV_AUDIT_DATABASE_URL),
        )
    }
    return {"COMPLIANCE_KAFKA_BOOTSTRAP": kafka_bootstrap, **moved}


@contextmanager
def started_containers() -> Iterator[dict[str, str]]:
    """Start the PostgreSQL and Kafka containers; yield the environment for them; stop them."""
    from testcontainers.community.postgres import PostgresContainer

    user, password, database = postgres_owner()
    with ExitStack() as stack:
        postgres = PostgresContainer(
            POSTGRES_IMAGE, port=POSTGRES_PORT, username=user, password=password, dbname=database
        ).with_command("postgres -c timezone=UTC -c max_connections=200")
        stack.enter_context(postgres)
        kafka = stack.enter_context(_kafka_container())
        yield environment_for(
            kafka,
            postgres.get_container_host_ip(),
            int(postgres.get_exposed_port(POSTGRES_PORT)),
        )


@contextmanager
def _kafka_container() -> Iterator[str]:
    """apache/kafka started by testcontainers; yields its bootstrap address on the host. The
    address clients are sent back to must be the host's mapped port, known only once the
    container runs: its command waits for a file carrying it, written then."""
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.wait_strategies import LogMessageWaitStrategy

    container = (
        DockerContainer(KAFKA_IMAGE)
        .with_exposed_ports(KAFKA_CLIENT_PORT)
        .with_command(
            [
                "sh",
                "-c",
                f"while [ ! -f {KAFKA_LISTENER_FILE} ]; do sleep 0.1; done; "
                f". {KAFKA_LISTENER_FILE}; exec /etc/kafka/docker/run",
            ]
        )
    )
    container.with_envs(**kafka_environment())
    with container:
        address = (
            f"{container.get_container_host_ip()}:{container.get_exposed_port(KAFKA_CLIENT_PORT)}"
        )
        _put_file(
            container,
            KAFKA_LISTENER_FILE,
            f"export KAFKA_ADVERTISED_LISTENERS='{advertised_listeners(address)}'\n",
        )
        wait = LogMessageWaitStrategy("Kafka Server started")
        wait.with_startup_timeout(CONTAINER_START_TIMEOUT_S)
        wait.wait_until_ready(container)
        yield address


def _put_file(container: DockerContainer, path: str, content: str) -> None:
    data = content.encode()
    with BytesIO() as archive:
        with tarfile.TarFile(fileobj=archive, mode="w") as tar:
            info = tarfile.TarInfo(name=path.lstrip("/"))
            info.size, info.mtime, info.mode = len(data), int(time.time()), 0o644
            tar.addfile(info, BytesIO(data))
        container.get_wrapped_container().put_archive("/", archive.getvalue())
