"""docker-compose.yml describes the same stack as `make services` (no Docker engine runs
here, so it is checked as configuration): every secret comes from the environment, every
processor's settings validate and pass the production checks (no development secret, no
development mode), the processors run as a role that owns nothing and the audit sink as the
append-only role, both created and granted by db-init as the owner."""

from __future__ import annotations

import re
import secrets
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy.engine import make_url

from compliance.config import PROJECT_ROOT, Settings
from compliance.errors import ConfigurationError

COMPOSE = PROJECT_ROOT / "docker-compose.yml"
SECRETS = (
    "COMPLIANCE_OWNER_DB_PASSWORD",
    "COMPLIANCE_APP_DB_PASSWORD",
    "COMPLIANCE_SINK_DB_PASSWORD",
    "COMPLIANCE_AUDIT_SIGNING_KEY",
)
# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}, ${NAME?error}
REFERENCE = re.compile(r"\$\{(\w+)(?:(:?[-?])([^}]*))?\}")


class MissingVariable(Exception):
    pass


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's variable substitution, enough for this file."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def one(match: re.Match[str]) -> str:
        name, operator, argument = match.groups()
        if env.get(name):
            return env[name]
        if operator and operator.endswith("?"):
            raise MissingVariable(f"{name}: {argument}")
        return argument if operator else ""

    return REFERENCE.sub(one, value)


def raw_services() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))["services"])


def services(env: dict[str, str]) -> dict[str, Any]:
    return dict(interpolate(raw_services(), env))


def real_secrets() -> dict[str, str]:
    return {name: secrets.token_hex(16) for name in SECRETS}


def built_from_the_project() -> list[str]:
    return sorted(
        n for n, s in raw_services().items() if s.get("image") == "compliance-stream:local"
    )


def settings_of(service: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Settings:
    for key, value in service["environment"].items():
        if value is not None:
            monkeypatch.setenv(key, str(value))
    return Settings()


@pytest.mark.parametrize("name", built_from_the_project())
def test_every_processor_environment_is_valid_production_settings(
    name: str, clean_env: pytest.MonkeyPatch
) -> None:
    settings = settings_of(services(real_secrets())[name], clean_env)
    assert not settings.development_mode
    assert settings.kafka_bootstrap == "kafka:9092"
    # Reading the secrets a service uses does not meet the development-secret refusal.
    assert make_url(settings.database_dsn).host == "postgres"
    if name == "audit-sink":
        assert make_url(settings.audit_database_dsn).username == "compliance_sink"
        assert settings.audit_signing_secret
    if name == "db-init":
        assert make_url(settings.admin_database_dsn).username == "compliance"


@pytest.mark.parametrize("missing", SECRETS)
def test_the_stack_does_not_start_without_each_secret(missing: str) -> None:
    env = {k: v for k, v in real_secrets().items() if k != missing}
    with pytest.raises(MissingVariable, match=missing):
        services(env)


def test_no_secret_is_written_in_the_file() -> None:
    text = COMPOSE.read_text(encoding="utf-8")
    assert "dev-only" not in text
    for service in raw_services().values():
        for key, value in (service.get("environment") or {}).items():
            if key.endswith("__FILE"):  # read from a compose secret mounted as a file
                assert str(value).startswith("/run/secrets/"), f"{key} is not a secret's file"
                assert str(value).removeprefix("/run/secrets/") in service["secrets"]
            elif "URL" in key or "PASSWORD" in key or "SIGNING_KEY" in key:
                assert REFERENCE.search(str(value)), f"{key} is written in the file"
    passwords = re.findall(r"postgresql\+psycopg2://\w+:([^@]*)@", text)
    assert passwords
    for password in passwords:
        assert REFERENCE.fullmatch(password), f"a password is written in the file: {password}"


def test_a_service_left_with_the_development_defaults_is_refused(
    clean_env: pytest.MonkeyPatch,
) -> None:
    """What a deployment that forgot to pass its secrets would run into."""
    settings = Settings()
    with pytest.raises(ConfigurationError, match="COMPLIANCE_AUDIT_SIGNING_KEY"):
        _ = settings.audit_signing_secret


def test_the_processors_and_the_sink_run_as_roles_that_db_init_creates_as_the_owner() -> None:
    env = real_secrets()
    all_services = services(env)
    processors_url = make_url(all_services["checker"]["environment"]["COMPLIANCE_DATABASE_URL"])
    sink_env = all_services["audit-sink"]["environment"]
    sink_url = make_url(sink_env["COMPLIANCE_AUDIT_DATABASE_URL"])
    init_env = all_services["db-init"]["environment"]
    owner_url = make_url(init_env["COMPLIANCE_ADMIN_DATABASE_URL"])

    assert len({owner_url.username, processors_url.username, sink_url.username}) == 3
    # The image's superuser is the owner, with the owner's password.
    database = all_services["postgres"]["environment"]
    assert database["POSTGRES_USER"] == owner_url.username
    assert database["POSTGRES_PASSWORD"] == owner_url.password == env[SECRETS[0]]
    assert database["POSTGRES_HOST_AUTH_METHOD"] == "scram-sha-256"
    # db-init creates both roles with the passwords the processors and the sink log in with.
    assert all_services["db-init"]["command"] == ["db", "init"]
    assert make_url(init_env["COMPLIANCE_DATABASE_URL"]) == processors_url
    assert make_url(init_env["COMPLIANCE_AUDIT_DATABASE_URL"]) == sink_url
    assert processors_url.password == env["COMPLIANCE_APP_DB_PASSWORD"]
    assert sink_url.password == env["COMPLIANCE_SINK_DB_PASSWORD"]
    # No processor holds the owner's password, and only the sink the signing key.
    for name in ("classifier", "checker", "audit-sink"):
        environment = all_services[name]["environment"]
        assert "COMPLIANCE_ADMIN_DATABASE_URL" not in environment
        assert env["COMPLIANCE_OWNER_DB_PASSWORD"] not in str(environment)
        assert ("COMPLIANCE_AUDIT_SIGNING_KEY" in environment) == (name == "audit-sink")
        assert all_services[name]["depends_on"]["db-init"] == {
            "condition": "service_completed_successfully"
        }


# Processors whose code lands with case management, notifications, the review application
# and the scheduler; every other `compliance run` name must be a processor of this code.
ARRIVING = {"cases", "notifier", "review-ui", "scheduler"}


def test_the_whole_stack_is_in_the_file() -> None:
    assert {
        "kafka",
        "postgres",
        "topics-init",
        "db-init",
        "classifier",
        "checker",
        "transaction-screener",
        "audit-sink",
        "cases",
        "notifier",
        "review-ui",
        "scheduler",
        "prometheus",
        "grafana",
    } <= set(raw_services())


def test_every_run_command_names_a_processor() -> None:
    from compliance.cli import _processors

    ran = {s["command"][1] for s in raw_services().values() if s.get("command", [""])[0] == "run"}
    assert set(_processors()) <= ran
    assert ran - set(_processors()) <= ARRIVING, f"unknown processors: {ran - ARRIVING}"


def test_every_processor_serves_metrics_and_probes_on_the_scraped_port() -> None:
    prometheus = yaml.safe_load(
        (PROJECT_ROOT / "infra" / "prometheus" / "prometheus.yml").read_text(encoding="utf-8")
    )
    [job] = prometheus["scrape_configs"]
    [dns] = job["dns_sd_configs"]
    for name, service in raw_services().items():
        if service.get("command", [""])[0] != "run":
            continue
        environment = service["environment"]
        assert environment["COMPLIANCE_METRICS_PORT"] == str(dns["port"])
        assert environment["COMPLIANCE_METRICS_HOST"] == "0.0.0.0"
        assert "/healthz" in " ".join(service["healthcheck"]["test"])
        assert name in dns["names"]


def test_kafka_runs_in_kraft_mode_and_the_scheduler_as_one_copy() -> None:
    kafka = raw_services()["kafka"]["environment"]
    assert kafka["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert "ZOOKEEPER" not in " ".join(kafka)
    assert raw_services()["scheduler"]["deploy"]["replicas"] == 1


def test_the_image_is_built_in_two_stages_and_runs_as_a_user_without_privileges() -> None:
    dockerfile = (PROJECT_ROOT / "Dockerfile").read_text(encoding="utf-8")
    stages = re.findall(
        r"^FROM\s+(\S+)(?:\s+AS\s+(\w+))?", dockerfile, re.MULTILINE | re.IGNORECASE
    )
    assert len(stages) >= 2, "not a multi-stage build"
    assert all(image.startswith("python:3.11-slim") for image, _ in stages)
    assert "COPY --from=build" in dockerfile
    users = re.findall(r"^USER\s+(\S+)", dockerfile, re.MULTILINE)
    assert users and users[-1] not in {"root", "0"}, "the image runs as root"
    assert int(users[-1]) >= 10000
    assert "tesseract-ocr" in dockerfile
    assert not re.search(
        r"(?i)^(ARG|ENV)\s+\S*(PASSWORD|SECRET|API_KEY|SIGNING_KEY)", dockerfile, re.M
    )


def test_the_build_context_leaves_out_environments_and_secrets() -> None:
    ignored = set((PROJECT_ROOT / ".dockerignore").read_text(encoding="utf-8").split())
    assert {".git", ".venv", ".services", ".env", "secrets", "tests"} <= ignored


def test_every_configuration_file_a_setting_names_is_pointed_at_in_the_image() -> None:
    """The installed package no longer sits beside config/ and rules/: a setting whose default
    is a file there must be set to the file's place in the image, or the processor that reads
    it fails at start in a container."""
    from compliance.config import Settings

    dockerfile = (PROJECT_ROOT / "Dockerfile").read_text(encoding="utf-8")
    for name, field in Settings.model_fields.items():
        default = field.default
        if isinstance(default, Path) and default.is_relative_to(PROJECT_ROOT / "config"):
            inside = "/app/" + default.relative_to(PROJECT_ROOT).as_posix()
            assert f"COMPLIANCE_{name.upper()}={inside}" in dockerfile, name


class _StrictLoader(yaml.SafeLoader):
    """A loader that refuses a key given twice in one mapping, as Docker Compose does (PyYAML
    keeps the last one silently)."""


def _no_duplicate_keys(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    keys = [
        loader.construct_object(key, deep=True)
        for key, _ in node.value
        if key.tag != "tag:yaml.org,2002:merge"
    ]
    twice = sorted({str(k) for k in keys if keys.count(k) > 1})
    assert not twice, f"line {node.start_mark.line + 1}: keys given twice: {', '.join(twice)}"
    return loader.construct_mapping(node, deep=True)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicate_keys)


def test_no_service_or_setting_is_given_twice() -> None:
    yaml.load(COMPOSE.read_text(encoding="utf-8"), Loader=_StrictLoader)
