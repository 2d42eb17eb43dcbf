"""Migrations on the real PostgreSQL, in a schema of the test's own: a database made by the
walking skeleton (plain table, plaintext payloads) is upgraded in place, its rows chained,
sealed and verifiable; upgrading again changes nothing."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, text

from compliance.audit import migrations
from compliance.audit.personal_data import is_sealed
from compliance.audit.verify import verify
from compliance.config import Settings

pytestmark = pytest.mark.integration


@pytest.fixture
def legacy_engine(base_settings: Settings, engine: Engine) -> Iterator[Engine]:
    schema = f"audit_migration_{uuid.uuid4().hex[:8]}"
    with engine.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    scoped = create_engine(
        base_settings.database_dsn, connect_args={"options": f"-csearch_path={schema}"}
    )
    yield scoped
    scoped.dispose()
    with engine.begin() as conn:
        conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))


def test_a_walking_skeleton_database_is_upgraded_with_its_rows_chained_and_sealed(
    legacy_engine: Engine,
) -> None:
    migrations.upgrade(legacy_engine, "0001")
    payload = {
        "rule_id": "r1",
        "outcome": "pass",
        "inputs": {"surname": "OKAFOR"},
        "explanation": "OKAFOR checked",
        "envelope": {"correlation_id": "doc-1"},
    }
    with legacy_engine.begin() as conn:
        for offset, (topic, partition) in enumerate([("checks", 0), ("checks", 0), ("checks", 1)]):
            conn.execute(
                text(
                    'INSERT INTO audit_events (event_id, event_type, topic, "partition", '
                    '"offset", correlation_id, subject_id, occurred_at, payload) VALUES '
                    "(:id, 'CheckResult', :t, :p, :o, 'doc-1', 'C-1', now(), :payload)"
                ),
                {
                    "id": str(uuid.uuid4()),
                    "t": topic,
                    "p": partition,
                    "o": offset,
                    "payload": json.dumps(payload),
                },
            )

    migrations.upgrade(legacy_engine)
    migrations.upgrade(legacy_engine)  # the second time finds nothing to do

    with legacy_engine.connect() as conn:
        rows = conn.execute(text("SELECT payload, chain_seq FROM audit_events")).all()
        ids = conn.execute(text("SELECT count(*) FROM audit_event_ids")).scalar_one()
        legacy = conn.execute(text("SELECT to_regclass('audit_events_legacy')")).scalar_one()
        kind = conn.execute(
            text("SELECT relkind FROM pg_class WHERE oid = 'audit_events'::regclass")
        ).scalar_one()
    assert len(rows) == 3 and ids == 3 and legacy is None
    assert kind == "p"  # partitioned
    assert sorted(seq for _, seq in rows) == [1, 1, 2]
    assert all(is_sealed(p["inputs"]) and p["outcome"] == "pass" for p, _ in rows)
    report = verify(legacy_engine, None)
    assert report.intact and report.rows == 3 and report.chains == 2
