"""The integration tests' choice of services: containers where Docker answers, local otherwise.

There is no Docker engine on the machines these tests were written on: the containers
themselves are not started here; what is tested is the choice, the probe of the engine
(against a closed socket and a small HTTP server answering as the engine does) and the
configuration handed to the containers and to the processes.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
import yaml
from sqlalchemy.engine import make_url

from compliance.config import (
    DEV_ADMIN_DATABASE_URL,
    DEV_AUDIT_DATABASE_URL,
    DEV_DATABASE_URL,
    PROJECT_ROOT,
    Settings,
)
from tests.support.service_choice import (
    KAFKA_IMAGE,
    POSTGRES_IMAGE,
    DockerEngine,
    ServiceChoiceError,
    Services,
    advertised_listeners,
    choose_services,
    docker_engine,
    environment_for,
    kafka_environment,
    postgres_owner,
)

DOCKER = DockerEngine(True, "unix:///var/run/docker.sock")
NO_DOCKER = DockerEngine(False, "FileNotFoundError: no such file")


def test_a_reachable_docker_engine_means_containers() -> None:
    choice = choose_services(None, DOCKER, {})
    assert choice.services is Services.CONTAINERS
    assert "unix:///var/run/docker.sock" in choice.reason


def test_without_docker_the_local_services_are_used_and_the_header_says_why() -> None:
    choice = choose_services(None, NO_DOCKER, {})
    assert choice.services is Services.LOCAL
    assert choice.header() == (
        "compliance services: local (no Docker engine (FileNotFoundError: no such file); "
        "`make services` starts them)"
    )


def test_the_override_local_wins_over_a_reachable_docker_engine() -> None:
    assert choose_services("local", DOCKER, {}).services is Services.LOCAL


def test_the_override_containers_is_read_whatever_its_case_and_spaces() -> None:
    choice = choose_services(" Containers ", DOCKER, {})
    assert choice.services is Services.CONTAINERS
    assert "COMPLIANCE_TEST_SERVICES=containers" in choice.reason


def test_the_override_containers_without_docker_is_an_error_not_a_silent_fallback() -> None:
    with pytest.raises(ServiceChoiceError, match="no Docker engine answers: FileNotFoundError"):
        choose_services("containers", NO_DOCKER, {})


def test_an_unknown_override_is_an_error_naming_the_values_allowed() -> None:
    with pytest.raises(ServiceChoiceError, match="expected one of local, containers"):
        choose_services("docker", DOCKER, {})


def test_an_empty_override_is_no_override() -> None:
    assert choose_services("", DOCKER, {}).services is Services.CONTAINERS


def test_services_given_in_the_environment_are_kept_even_with_docker() -> None:
    environment = {"COMPLIANCE_KAFKA_BOOTSTRAP": "kafka.internal:9092"}
    choice = choose_services(None, DOCKER, environment)
    assert choice.services is Services.LOCAL
    assert "COMPLIANCE_KAFKA_BOOTSTRAP" in choice.reason
    assert choose_services("containers", DOCKER, environment).services is Services.CONTAINERS


def test_the_probe_finds_no_engine_behind_a_socket_that_does_not_exist(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    engine = docker_engine(timeout_s=2)
    assert not engine.reachable
    assert engine.detail  # the error, for the header


class _EngineAnswers(BaseHTTPRequestHandler):
    """Answers the two requests the probe makes as a Docker engine does (/version, /_ping)."""

    def do_GET(self) -> None:
        if self.path.endswith("/_ping"):
            body, kind = b"OK", "text/plain"
        elif self.path.endswith("/version"):
            body, kind = json.dumps({"ApiVersion": "1.47", "Version": "28.2.2"}).encode(), "json"
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json" if kind == "json" else kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def engine_address() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _EngineAnswers)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"tcp://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_the_probe_finds_an_engine_that_answers_its_ping(
    monkeypatch: pytest.MonkeyPatch, engine_address: str
) -> None:
    monkeypatch.setenv("DOCKER_HOST", engine_address)
    monkeypatch.delenv("DOCKER_TLS_VERIFY", raising=False)
    engine = docker_engine(timeout_s=2)
    assert engine.reachable, engine.detail
    assert engine.detail == engine_address.replace("tcp://", "http://")


def test_the_containers_run_the_images_docker_compose_runs() -> None:
    compose = yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    assert compose["services"]["kafka"]["image"] == KAFKA_IMAGE
    assert compose["services"]["postgres"]["image"] == POSTGRES_IMAGE
    # The processors' consumer groups (KIP-848) need a 4.x broker.
    assert KAFKA_IMAGE.startswith("apache/kafka:4.")


def test_the_broker_container_is_one_kraft_node_that_creates_no_topic_by_accident() -> None:
    settings = kafka_environment()
    assert settings["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert settings["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert settings["KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"] == "1"  # transactions on one node
    # A processor killed with -9 hands its partitions on within the tests' waits.
    assert int(settings["KAFKA_GROUP_CONSUMER_SESSION_TIMEOUT_MS"]) <= 10_000
    assert "KAFKA_ADVERTISED_LISTENERS" not in settings  # known only once the port is mapped
    assert advertised_listeners("127.0.0.1:32791").startswith("HOST://127.0.0.1:32791,")


def test_the_database_container_is_made_with_the_development_owner() -> None:
    url = make_url(DEV_ADMIN_DATABASE_URL)
    assert postgres_owner() == (url.username, url.password, url.database)


def test_the_containers_addresses_reach_the_settings_of_tests_and_processes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    environment = environment_for("localhost:32791", "localhost", 32792)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    settings = Settings(development_mode=True)
    assert settings.kafka_bootstrap == "localhost:32791"
    for dsn, development in (
        (settings.admin_database_dsn, DEV_ADMIN_DATABASE_URL),
        (settings.database_dsn, DEV_DATABASE_URL),
        (settings.audit_database_dsn, DEV_AUDIT_DATABASE_URL),
    ):
        moved, original = make_url(dsn), make_url(development)
        assert (moved.host, moved.port) == ("localhost", 32792)
        assert (moved.username, moved.password, moved.database) == (
            original.username,
            original.password,
            original.database,
        )
