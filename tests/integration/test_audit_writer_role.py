"""The audit sink connected as a role that may only append (``compliance db grant-writer``):
it records every event, and as that role nothing recorded can be changed or removed."""

from __future__ import annotations

from collections.abc import Callable

import psycopg2
import psycopg2.errors
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from compliance.audit.checkpoints import signing_key
from compliance.audit.verify import verify
from compliance.config import Settings
from tests import audit_synthetic as synthetic

from .conftest import Processes, compliance_cli, recorded, wait_for

pytestmark = pytest.mark.integration
WRITER_ROLE = "compliance_sink"  # created by `make services` (infra/postgres.sh)
WRITER_PASSWORD = "compliance_sink"


def writer_url(settings: Settings) -> str:
    owner = make_url(settings.database_dsn)
    return owner.set(username=WRITER_ROLE, password=WRITER_PASSWORD).render_as_string(
        hide_password=False
    )


@pytest.fixture
def writer(settings: Settings) -> Callable[[], psycopg2.extensions.connection]:
    granted = compliance_cli(settings, "db", "grant-writer", WRITER_ROLE)
    assert granted.returncode == 0, (
        f"{granted.stderr.strip()} (the role is created by `make services`)"
    )
    dsn = make_url(writer_url(settings)).set(drivername="postgresql")

    def connect() -> psycopg2.extensions.connection:
        return psycopg2.connect(dsn.render_as_string(hide_password=False))

    return connect


def test_the_sink_records_every_event_connected_as_the_append_only_role(
    settings: Settings,
    processes: Processes,
    engine: Engine,
    writer: Callable[[], psycopg2.extensions.connection],
) -> None:
    ids = synthetic.produce(settings, settings.topic_prefix, documents=30)
    processes.start(
        "audit-sink",
        COMPLIANCE_AUDIT_DATABASE_URL=writer_url(settings),
        COMPLIANCE_AUDIT_PREPARE_PROCESSES="1",  # the preparing process connects as the role too
    )
    wait_for(
        lambda: recorded(engine, settings.topic_prefix) >= len(ids), 60, "every event", processes
    )
    assert recorded(engine, settings.topic_prefix) == len(ids)
    report = verify(engine, signing_key(settings), settings.topic_prefix)
    assert report.intact, report.findings
    with writer() as conn, conn.cursor() as cur:
        cur.execute("SELECT current_user")
        assert cur.fetchone() == (WRITER_ROLE,)


REFUSED = [
    "UPDATE audit_events SET payload = '{}' WHERE topic LIKE 'x%'",
    "DELETE FROM audit_events WHERE topic LIKE 'x%'",
    "TRUNCATE audit_events",
    "DELETE FROM audit_event_ids WHERE event_id = '00000000-0000-0000-0000-000000000000'",
    "UPDATE audit_subject_keys SET key = NULL WHERE subject_id = 'nobody'",
    "DELETE FROM audit_checkpoints WHERE id = -1",
    "ALTER TABLE audit_events DISABLE TRIGGER USER",
    "DROP TRIGGER audit_events_append_only ON audit_events",
    "CREATE TABLE audit_events_2099_02 PARTITION OF audit_events "
    "FOR VALUES FROM ('2099-02-01') TO ('2099-03-01')",
]


@pytest.mark.parametrize("statement", REFUSED, ids=[s.split(" WHERE")[0][:40] for s in REFUSED])
def test_the_append_only_role_cannot_change_or_remove_anything(
    writer: Callable[[], psycopg2.extensions.connection], statement: str
) -> None:
    with writer() as conn, conn.cursor() as cur:
        with pytest.raises(
            (psycopg2.errors.InsufficientPrivilege, psycopg2.errors.WrongObjectType)
        ) as refused:
            cur.execute(statement)
        assert "permission denied" in str(refused.value) or "must be owner" in str(refused.value)


def test_the_append_only_role_cannot_grant_itself_more(
    writer: Callable[[], psycopg2.extensions.connection],
) -> None:
    with writer() as conn, conn.cursor() as cur:
        cur.execute("GRANT UPDATE, DELETE ON audit_events TO compliance_sink")  # only warns
        cur.execute(
            "SELECT has_table_privilege('audit_events', 'UPDATE'), "
            "has_table_privilege('audit_events', 'DELETE'), "
            "has_table_privilege('audit_events', 'INSERT')"
        )
        assert cur.fetchone() == (False, False, True)


def test_the_append_only_role_gets_new_month_partitions_protected_like_the_others(
    writer: Callable[[], psycopg2.extensions.connection], engine: Engine
) -> None:
    with writer() as conn, conn.cursor() as cur:
        cur.execute("SELECT audit_ensure_month('2099-01-17T12:00:00Z')")
        cur.execute("SELECT audit_ensure_month('2099-01-31T23:59:59Z')")  # same month: no-op
        cur.execute(
            "SELECT pg_get_expr(c.relpartbound, c.oid) FROM pg_class c "
            "WHERE c.relname = 'audit_events_2099_01'"
        )
        assert cur.fetchone() == (
            "FOR VALUES FROM ('2099-01-01 00:00:00+00') TO ('2099-02-01 00:00:00+00')",
        )
        conn.commit()
    # Protected like the partitions the owner makes: not even the owner may change its rows.
    with engine.connect() as conn:
        privileges = conn.execute(
            text(
                "SELECT has_table_privilege('audit_events_2099_01', 'UPDATE'), "
                "has_table_privilege('audit_events_2099_01', 'DELETE'), "
                "has_table_privilege('audit_events_2099_01', 'TRUNCATE')"
            )
        ).one()
        assert tuple(privileges) == (False, False, False)
        triggers = set(
            conn.execute(
                text(
                    "SELECT tgname FROM pg_trigger WHERE tgrelid = 'audit_events_2099_01'::regclass"
                )
            ).scalars()
        )
        assert "audit_events_2099_01_no_truncate" in triggers
