"""Settings from COMPLIANCE_* variables: defaults, validation, and how the CLI reports errors."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy.engine import make_url

from compliance.cli import main
from compliance.config import (
    DEV_AUDIT_SIGNING_KEY,
    KAFKA_MAX_POLL_INTERVAL_S,
    LOCAL_BATCH_MAX,
    PROJECT_ROOT,
    Settings,
    load_settings,
)
from compliance.errors import ConfigurationError
from compliance.topics import DOCUMENTS_ARRIVED

EXPECTED_ROOT = Path(__file__).resolve().parents[2]


def test_defaults_validate_and_match_make_services(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("COMPLIANCE_DEVELOPMENT_MODE", "true")
    settings = load_settings()
    assert settings.development_mode
    assert settings.kafka_bootstrap == "127.0.0.1:9092"
    # The roles infra/postgres.sh makes: the processors and the sink do not own the tables.
    assert make_url(settings.database_dsn).username == "compliance_app"
    assert make_url(settings.audit_database_dsn).username == "compliance_sink"
    assert make_url(settings.admin_database_dsn).username == "compliance"
    assert settings.rules_dir == EXPECTED_ROOT / "rules" == PROJECT_ROOT / "rules"
    assert settings.document_roots == [EXPECTED_ROOT]
    assert settings.batch_size == 500
    assert settings.log_level == "INFO"
    assert settings.anthropic_api_key is None
    # The defaults pass the validators too (pydantic does not validate defaults by itself).
    assert Settings.model_validate(settings.model_dump()) == settings


def test_settings_are_read_from_compliance_variables(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("COMPLIANCE_BATCH_SIZE", "50")
    clean_env.setenv("COMPLIANCE_KAFKA_BOOTSTRAP", "kafka-1:9092, kafka-2:9093")
    clean_env.setenv("COMPLIANCE_TOPIC_PREFIX", "test-42.")
    clean_env.setenv("COMPLIANCE_DOCUMENT_ROOTS", '["/srv/docs", "/mnt/inbox"]')
    clean_env.setenv("COMPLIANCE_LOG_LEVEL", "debug")
    settings = load_settings()
    assert settings.batch_size == 50
    assert settings.document_roots == [Path("/srv/docs"), Path("/mnt/inbox")]
    assert settings.log_level == "DEBUG"
    assert settings.topic(DOCUMENTS_ARRIVED) == "test-42.documents.arrived"
    assert settings.group("checker") == "test-42.compliance.checker"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("COMPLIANCE_BATCH_SIZE", "many"),
        ("COMPLIANCE_BATCH_SIZE", "0"),
        ("COMPLIANCE_BATCH_SIZE", "100001"),
        ("COMPLIANCE_KAFKA_BOOTSTRAP", "localhost"),
        ("COMPLIANCE_KAFKA_BOOTSTRAP", "localhost:port"),
        ("COMPLIANCE_KAFKA_BOOTSTRAP", "kafka-1:9092,:9093"),
        ("COMPLIANCE_DATABASE_URL", "mysql://compliance:compliance@127.0.0.1/compliance"),
        ("COMPLIANCE_DATABASE_URL", "sqlite:///audit.db"),
        ("COMPLIANCE_LOG_LEVEL", "LOUD"),
        ("COMPLIANCE_METRICS_PORT", "70000"),
        ("COMPLIANCE_LLM_BATCH_MULTIPLE", "0"),
        ("COMPLIANCE_LLM_BATCH_MULTIPLE", "6"),  # 6 x 60 s calls: over max.poll.interval.ms
        ("COMPLIANCE_LOCAL_BATCH_SIZE", "0"),
        ("COMPLIANCE_LOCAL_BATCH_SIZE", "151"),  # 151 scans at ~1 s: over half the interval
        ("COMPLIANCE_LOCAL_BATCH_SIZE", "some"),
    ],
)
def test_a_bad_setting_raises_configuration_error_naming_the_variable(
    clean_env: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    clean_env.setenv(variable, value)
    with pytest.raises(ConfigurationError) as info:
        load_settings()
    message = str(info.value)
    assert message.startswith("invalid configuration: ")
    assert variable in message
    assert "\n" not in message


def test_the_llm_batch_is_a_few_rounds_of_calls_in_flight_and_fits_the_poll_interval(
    clean_env: pytest.MonkeyPatch,
) -> None:
    settings = load_settings()
    assert settings.llm_batch_size == 4 * 16  # not the 500 of a plain batch
    assert settings.llm_batch_multiple * settings.llm_timeout_s < 300
    clean_env.setenv("COMPLIANCE_LLM_TIMEOUT_S", "20")
    clean_env.setenv("COMPLIANCE_LLM_BATCH_MULTIPLE", "10")
    assert load_settings().llm_batch_size == 160
    clean_env.setenv("COMPLIANCE_LLM_TIMEOUT_S", "30")  # 10 rounds x 30 s = 300 s: too long
    with pytest.raises(ConfigurationError, match=r"COMPLIANCE_LLM_BATCH_MULTIPLE.*max\.poll"):
        load_settings()


def test_the_local_classifier_batch_is_a_few_dozen_scans_and_can_be_set(
    clean_env: pytest.MonkeyPatch,
) -> None:
    settings = load_settings()
    assert settings.local_batch_size == 32  # not the 500 of a plain batch
    assert settings.local_batch_size < settings.batch_size
    assert LOCAL_BATCH_MAX <= KAFKA_MAX_POLL_INTERVAL_S / 2  # at ~1 s a scan on one core
    clean_env.setenv("COMPLIANCE_LOCAL_BATCH_SIZE", str(LOCAL_BATCH_MAX))
    assert load_settings().local_batch_size == LOCAL_BATCH_MAX
    clean_env.setenv("COMPLIANCE_LOCAL_BATCH_SIZE", "8")
    assert load_settings().local_batch_size == 8


def test_several_bad_settings_are_all_named_in_one_sentence(
    clean_env: pytest.MonkeyPatch,
) -> None:
    clean_env.setenv("COMPLIANCE_BATCH_SIZE", "-1")
    clean_env.setenv("COMPLIANCE_DATABASE_URL", "mysql://x")
    with pytest.raises(ConfigurationError) as info:
        load_settings()
    assert "COMPLIANCE_BATCH_SIZE" in str(info.value)
    assert "COMPLIANCE_DATABASE_URL" in str(info.value)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("COMPLIANCE_BATCH_SIZE", "many"),
        ("COMPLIANCE_KAFKA_BOOTSTRAP", "localhost"),
        ("COMPLIANCE_DATABASE_URL", "mysql://compliance:hunter2@db/compliance"),
    ],
)
@pytest.mark.parametrize("command", [["config"], ["topics", "list"], ["rules", "validate"]])
def test_the_cli_exits_2_with_one_line_on_stderr_for_a_bad_setting(
    clean_env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    variable: str,
    value: str,
    command: list[str],
) -> None:
    clean_env.setenv(variable, value)
    assert main(command) == 2
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("compliance: invalid configuration: ")
    assert variable in lines[0]
    assert "hunter2" not in captured.err  # a bad URL is not echoed with its password
    assert captured.out == ""


def test_the_cli_runs_a_command_with_valid_settings(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clean_env.setenv("COMPLIANCE_TOPIC_PREFIX", "unit.")
    assert main(["topics", "list"]) == 0
    out = capsys.readouterr().out
    assert "unit.documents.arrived" in out
    assert "unit.compliance.exceptions.dlq" in out


def test_the_cli_config_command_masks_secrets(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """config.py: secrets are masked when settings are printed. The database URL carries the
    database password, and the API key is a secret."""
    clean_env.setenv("COMPLIANCE_ANTHROPIC_API_KEY", "sk-ant-unit-test-key")
    clean_env.setenv(
        "COMPLIANCE_DATABASE_URL", "postgresql+psycopg2://compliance:s3cr3t-pw@db:5432/compliance"
    )
    clean_env.setenv("COMPLIANCE_AUDIT_SIGNING_KEY", "k3y-of-the-bank")
    clean_env.setenv(
        "COMPLIANCE_AUDIT_DATABASE_URL", "postgresql+psycopg2://sink:s1nk-pw@db:5432/compliance"
    )
    clean_env.setenv(
        "COMPLIANCE_ADMIN_DATABASE_URL", "postgresql+psycopg2://owner:0wner-pw@db:5432/compliance"
    )
    assert main(["config"]) == 0
    out = capsys.readouterr().out
    for variable in ("DATABASE_URL", "AUDIT_DATABASE_URL", "ADMIN_DATABASE_URL"):
        assert f"COMPLIANCE_{variable} " in out
    assert "COMPLIANCE_DEVELOPMENT_MODE" in out
    for secret in ("sk-ant-unit-test-key", "s3cr3t-pw", "k3y-of-the-bank", "s1nk-pw", "0wner-pw"):
        assert secret not in out


REAL_URL = "postgresql+psycopg2://{user}:Zq8-{user}-pw@db.bank.internal:5432/compliance"


def production_env(env: pytest.MonkeyPatch) -> None:
    """Secrets of a real deployment, no development mode."""
    env.setenv("COMPLIANCE_DATABASE_URL", REAL_URL.format(user="app"))
    env.setenv("COMPLIANCE_AUDIT_DATABASE_URL", REAL_URL.format(user="sink"))
    env.setenv("COMPLIANCE_ADMIN_DATABASE_URL", REAL_URL.format(user="owner"))
    env.setenv("COMPLIANCE_AUDIT_SIGNING_KEY", "a-key-of-the-bank-itself")


def test_real_secrets_are_used_without_development_mode(clean_env: pytest.MonkeyPatch) -> None:
    production_env(clean_env)
    settings = load_settings()
    assert not settings.development_mode
    assert make_url(settings.database_dsn).username == "app"
    assert make_url(settings.audit_database_dsn).username == "sink"
    assert make_url(settings.admin_database_dsn).username == "owner"
    assert settings.audit_signing_secret == b"a-key-of-the-bank-itself"


DEVELOPMENT_SECRETS = [
    ("COMPLIANCE_AUDIT_SIGNING_KEY", DEV_AUDIT_SIGNING_KEY, "audit_signing_secret"),
    ("COMPLIANCE_DATABASE_URL", None, "database_dsn"),
    ("COMPLIANCE_AUDIT_DATABASE_URL", None, "audit_database_dsn"),
    ("COMPLIANCE_ADMIN_DATABASE_URL", None, "admin_database_dsn"),
    # A development password on a production host is still a development password.
    (
        "COMPLIANCE_DATABASE_URL",
        "postgresql+psycopg2://compliance:compliance@db.bank.internal/compliance",
        "database_dsn",
    ),
]


@pytest.mark.parametrize(("variable", "value", "reader"), DEVELOPMENT_SECRETS)
def test_a_development_secret_is_refused_outside_development_mode_in_one_sentence(
    clean_env: pytest.MonkeyPatch, variable: str, value: str | None, reader: str
) -> None:
    production_env(clean_env)
    if value is None:
        clean_env.delenv(variable)  # left at its built-in default
    else:
        clean_env.setenv(variable, value)
    settings = load_settings()
    with pytest.raises(ConfigurationError) as refused:
        getattr(settings, reader)
    message = str(refused.value)
    assert message.startswith(variable + " ")
    assert "COMPLIANCE_DEVELOPMENT_MODE=true" in message
    assert "\n" not in message and message.count(". ") == 0
    assert ":compliance@" not in message and DEV_AUDIT_SIGNING_KEY not in message

    clean_env.setenv("COMPLIANCE_DEVELOPMENT_MODE", "true")
    assert getattr(load_settings(), reader)


def test_the_development_key_is_accepted_in_development_mode_with_a_warning(
    clean_env: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(development_mode=True)
    with caplog.at_level(logging.WARNING):
        assert settings.audit_signing_secret == DEV_AUDIT_SIGNING_KEY.encode()
    assert "development key" in caplog.text
    assert (
        Settings(development_mode=False, audit_signing_key=SecretStr("own")).audit_signing_secret
        == b"own"
    )


@pytest.mark.parametrize(
    "command",
    [["run", "audit-sink"], ["run", "checker"], ["db", "init"], ["audit", "verify"]],
)
def test_a_deployment_without_development_mode_refuses_to_start_with_the_defaults(
    clean_env: pytest.MonkeyPatch, command: list[str]
) -> None:
    """As a user who deploys without setting secrets: the process exits 2 with one line,
    before it connects to anything."""
    clean_env.setenv("COMPLIANCE_KAFKA_BOOTSTRAP", "127.0.0.1:1")  # nothing is reached
    done = subprocess.run(
        [sys.executable, "-m", "compliance", *command],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    [line] = done.stderr.splitlines()
    assert line.startswith("compliance: COMPLIANCE_")
    assert "development password" in line or "built-in key" in line
    assert "COMPLIANCE_DEVELOPMENT_MODE=true" in line
