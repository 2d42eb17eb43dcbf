"""docker-compose.yml describes the same stack as `make services` (no Docker engine runs
here, so it is checked as configuration): every processor's settings validate, and the audit
sink writes as the append-only role that the database init creates and db-init grants."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy.engine import make_url

from compliance.config import PROJECT_ROOT, Settings

COMPOSE = PROJECT_ROOT / "docker-compose.yml"


def services() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))["services"])


def built_from_the_project() -> dict[str, Any]:
    return {n: s for n, s in services().items() if s.get("image") == "compliance-stream:local"}


@pytest.mark.parametrize("name", sorted(built_from_the_project()))
def test_every_processor_environment_is_valid_settings(
    name: str, clean_env: pytest.MonkeyPatch
) -> None:
    env = built_from_the_project()[name]["environment"]
    for key, value in env.items():
        if value is not None:
            clean_env.setenv(key, str(value))
    settings = Settings()
    assert settings.kafka_bootstrap == "kafka:9092"
    assert make_url(settings.database_dsn).host == "postgres"


def test_the_audit_sink_writes_as_the_role_the_init_creates_and_db_init_grants() -> None:
    all_services = services()
    sink_url = make_url(all_services["audit-sink"]["environment"]["COMPLIANCE_AUDIT_DATABASE_URL"])
    owner_url = make_url(all_services["audit-sink"]["environment"]["COMPLIANCE_DATABASE_URL"])
    assert sink_url.username != owner_url.username
    assert all_services["db-init"]["command"] == ["db", "grant-writer", sink_url.username]
    assert all_services["audit-sink"]["depends_on"]["db-init"] == {
        "condition": "service_completed_successfully"
    }

    [mount] = [v for v in all_services["postgres"]["volumes"] if "initdb.d" in v]
    host_path, container_path = mount.split(":")[:2]
    assert container_path.startswith("/docker-entrypoint-initdb.d/")
    init_sql = (PROJECT_ROOT / Path(host_path)).read_text(encoding="utf-8")
    created = re.search(r"CREATE ROLE (\w+) LOGIN PASSWORD '([^']*)'", init_sql)
    assert created is not None
    assert (created.group(1), created.group(2)) == (sink_url.username, sink_url.password)
