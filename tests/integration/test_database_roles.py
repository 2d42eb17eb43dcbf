"""The database roles on a brand-new local cluster (``infra/postgres.sh`` in a private folder,
as CI starts one): password logins only, migrations as the owner (`compliance db init`), the
processors and the audit sink as roles that own nothing, and `compliance db grant-writer`
creating the role it grants with a password it never shows.

A private cluster keeps the shared one untouched: nothing here changes its roles or its
pg_hba.conf."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import psycopg2.errors
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import URL, make_url

from compliance.audit.store import connect
from compliance.config import Settings
from compliance.publisher import Published, Publisher
from compliance.subject_keyring import sealing_codec

from .conftest import Processes, processor_env, wait_for
from .private_services import PrivatePostgres
from .test_pipeline import SAMPLES, all_complete

pytestmark = pytest.mark.integration


def role_url(server: PrivatePostgres, role: str, password: str) -> URL:
    return make_url(server.url).set(username=role, password=password)


def dsn(url: URL) -> str:
    return url.render_as_string(hide_password=False)


def libpq(url: URL) -> str:
    return dsn(url.set(drivername="postgresql"))


def private_env(server: PrivatePostgres) -> dict[str, str]:
    """The three roles infra/postgres.sh makes, on the private cluster."""
    return {
        "COMPLIANCE_ADMIN_DATABASE_URL": server.url,
        "COMPLIANCE_DATABASE_URL": dsn(role_url(server, "compliance_app", "compliance_app")),
        "COMPLIANCE_AUDIT_DATABASE_URL": dsn(
            role_url(server, "compliance_sink", "compliance_sink")
        ),
    }


def cli(
    settings: Settings, server: PrivatePostgres, *args: str, **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "compliance", *args],
        env=processor_env(settings) | private_env(server) | env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def initialised(own_postgres: PrivatePostgres) -> Iterator[PrivatePostgres]:
    """The private cluster after `compliance db init` as its owner."""
    done = subprocess.run(
        [sys.executable, "-m", "compliance", "db", "init"],
        env=os.environ | private_env(own_postgres),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "role compliance_app" in done.stdout and "role compliance_sink" in done.stdout
    yield own_postgres


@pytest.fixture
def as_processors(
    initialised: PrivatePostgres,
) -> Iterator[psycopg2.extensions.connection]:
    conn = psycopg2.connect(libpq(role_url(initialised, "compliance_app", "compliance_app")))
    conn.autocommit = True
    yield conn
    conn.close()


def test_the_new_cluster_takes_password_logins_only(own_postgres: PrivatePostgres) -> None:
    owner = make_url(own_postgres.url)
    for role, password in (("compliance", "not-the-password"), ("postgres", "")):
        with pytest.raises(psycopg2.OperationalError, match="password"):
            psycopg2.connect(libpq(owner.set(username=role, password=password)))
    with psycopg2.connect(libpq(owner)) as conn, conn.cursor() as cur:
        cur.execute("SELECT current_user")
        assert cur.fetchone() == ("compliance",)
    assert hba_methods(own_postgres) == {"peer map=compliance_admin", "scram-sha-256"}


def hba_methods(server: PrivatePostgres) -> set[str]:
    rules = (server.data / "pg_hba.conf").read_text().splitlines()
    return {
        " ".join(rule.split()[4 if rule.startswith("host") else 3 :])
        for rule in rules
        if rule.strip() and not rule.startswith("#")
    }


TRUST = "local all all trust\nhost all all 127.0.0.1/32 trust\n"


def test_a_cluster_made_with_trust_takes_passwords_after_its_next_start(
    own_postgres: PrivatePostgres,
) -> None:
    """Developers keep their .services: a cluster an earlier script made with `trust` is
    converted by `infra/postgres.sh start`, whether it is running or stopped."""
    wrong = libpq(make_url(own_postgres.url).set(password="any-password-at-all"))

    def logs_in() -> bool:
        try:
            psycopg2.connect(wrong).close()
        except psycopg2.OperationalError as exc:
            assert "password authentication failed" in str(exc)
            return False
        return True

    # Running with trust (any password works), then the script's start: converted in place.
    (own_postgres.data / "pg_hba.conf").write_text(TRUST)
    as_server = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    reload = [str(own_postgres.bindir / "pg_ctl"), "reload", "-D", str(own_postgres.data)]
    subprocess.run([*as_server, *reload], check=True, capture_output=True, timeout=30)
    wait_for(logs_in, 20, "the trust rules in force")
    own_postgres.start()
    assert not logs_in()
    assert hba_methods(own_postgres) == {"peer map=compliance_admin", "scram-sha-256"}

    # Stopped with trust in its pg_hba.conf: started with password logins only.
    own_postgres.stop()
    (own_postgres.data / "pg_hba.conf").write_text(TRUST)
    own_postgres.start()
    assert not logs_in()
    assert hba_methods(own_postgres) == {"peer map=compliance_admin", "scram-sha-256"}


def test_the_processors_role_owns_nothing_and_uses_its_own_tables(
    as_processors: psycopg2.extensions.connection,
) -> None:
    with as_processors.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_class WHERE relowner = current_user::regrole")
        assert cur.fetchone() == (0,)
        cur.execute(
            "INSERT INTO rules_customer_documents (event_id, scope, customer_id, document_id, "
            "document_type, occurred_at) VALUES ('roles-test', 'roles.', 'C-1', 'D-1', "
            "'passport', now()) ON CONFLICT DO NOTHING"
        )
        cur.execute(
            "INSERT INTO llm_classification_cache (content_sha256, model, prompt_version, "
            "result) VALUES ('roles-test', 'm', 'p', '{}') ON CONFLICT DO NOTHING"
        )
        cur.execute("DELETE FROM rules_customer_documents WHERE event_id = 'roles-test'")
        cur.execute(
            "INSERT INTO sanctions_clearances (event_id, action, customer_id, entity_id, "
            "entity_version, officer, reason) VALUES (gen_random_uuid(), 'clear', 'C-1', "
            "'E-1', 'v1', 'officer', 'roles test')"
        )
        cur.execute("SELECT count(*) FROM audit_events")  # it reads the audit trail
        cur.fetchone()
        cur.execute(  # and makes keys for new subjects, to seal their data on Kafka
            "INSERT INTO audit_subject_keys (subject_id, key, created_at) "
            "VALUES ('roles-test', decode(repeat('00', 32), 'hex'), now()) ON CONFLICT DO NOTHING"
        )


PROCESSORS_REFUSED = [
    "INSERT INTO audit_event_ids (event_id) VALUES (gen_random_uuid())",
    "UPDATE audit_subject_keys SET key = NULL WHERE subject_id = 'nobody'",
    "DELETE FROM audit_subject_keys WHERE subject_id = 'nobody'",
    "UPDATE audit_chain_heads SET chain_seq = 0 WHERE topic = 'nothing'",
    "DELETE FROM audit_checkpoints WHERE id = -1",
    "ALTER TABLE audit_events DISABLE TRIGGER USER",
    "DROP TRIGGER audit_events_append_only ON audit_events",
    "SELECT audit_ensure_month('2099-03-17T12:00:00Z')",
    "UPDATE sanctions_clearances SET reason = 'rewritten' WHERE officer = 'officer'",
    "ALTER TABLE sanctions_clearances DISABLE TRIGGER USER",
    "CREATE TABLE roles_test_made_by_a_processor (x int)",
    "TRUNCATE rules_customer_documents",
]


@pytest.mark.parametrize(
    "statement", PROCESSORS_REFUSED, ids=[s.split(" WHERE")[0][:44] for s in PROCESSORS_REFUSED]
)
def test_the_processors_role_cannot_touch_the_audit_trail_or_its_protections(
    as_processors: psycopg2.extensions.connection, statement: str
) -> None:
    with as_processors.cursor() as cur:
        with pytest.raises(
            (psycopg2.errors.InsufficientPrivilege, psycopg2.errors.WrongObjectType)
        ) as refused:
            cur.execute(statement)
        assert "permission denied" in str(refused.value) or "must be owner" in str(refused.value)


def test_the_processors_role_cannot_grant_itself_more(
    as_processors: psycopg2.extensions.connection,
) -> None:
    with as_processors.cursor() as cur:
        cur.execute("GRANT INSERT, UPDATE, DELETE ON audit_events TO compliance_app")  # warns
        cur.execute(
            "SELECT has_table_privilege('audit_events', 'INSERT'), "
            "has_table_privilege('audit_events', 'UPDATE'), "
            "has_table_privilege('audit_events', 'SELECT')"
        )
        assert cur.fetchone() == (False, False, True)


def test_grant_writer_creates_the_role_with_a_password_it_never_shows(
    settings: Settings, initialised: PrivatePostgres, tmp_path: Path
) -> None:
    password = secrets.token_urlsafe(18)
    sink, app = f"sink_{secrets.token_hex(4)}", f"app_{secrets.token_hex(4)}"
    made = cli(
        settings, initialised, "db", "grant-writer", sink, "--password-env", "NEW_ROLE_PW",
        NEW_ROLE_PW=password,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert f"role {sink}: created" in made.stdout
    secret_file = tmp_path / "password"
    secret_file.write_text(password + "\n")
    made_app = cli(
        settings, initialised, "db", "grant-writer", app, "--processors", "--password-file",
        str(secret_file),
    )  # fmt: skip
    assert made_app.returncode == 0, made_app.stderr
    assert f"role {app}: created" in made_app.stdout

    for role in (sink, app):
        login = libpq(role_url(initialised, role, password))
        with psycopg2.connect(login) as conn, conn.cursor() as cur:
            cur.execute(
                "SELECT has_table_privilege('audit_event_ids', 'INSERT'), "
                "has_table_privilege('rules_consents', 'INSERT')"
            )
            assert cur.fetchone() == ((True, False) if role == sink else (False, True))
    again = cli(settings, initialised, "db", "grant-writer", sink)  # exists: granted again
    assert again.returncode == 0, again.stderr
    assert "created" not in again.stdout
    other = cli(
        settings, initialised, "db", "grant-writer", sink, "--password-env", "NEW_ROLE_PW",
        NEW_ROLE_PW="another-password",
    )  # fmt: skip
    assert other.returncode == 0 and "password is left as it was" in other.stdout
    psycopg2.connect(libpq(role_url(initialised, sink, password))).close()  # unchanged

    everything = made.stdout + made.stderr + made_app.stdout + made_app.stderr
    assert password not in everything
    assert password not in initialised.log.read_text(errors="replace")


def test_grant_writer_without_a_password_for_a_missing_role_says_how_in_one_line(
    settings: Settings, initialised: PrivatePostgres
) -> None:
    missing = cli(settings, initialised, "db", "grant-writer", f"nobody_{secrets.token_hex(4)}")
    assert missing.returncode == 2
    [line] = missing.stderr.splitlines()
    assert "does not exist" in line and "--password-env" in line


def test_the_pipeline_runs_with_the_processors_and_the_sink_owning_nothing(
    settings: Settings, processes: Processes, initialised: PrivatePostgres
) -> None:
    """classifier, checker and audit sink connected as compliance_app and compliance_sink:
    every sample is classified, checked and audited."""
    roles = private_env(initialised)
    for name in ("audit-sink", "classifier", "checker"):
        processes.start(name, **roles)
    owner: Engine = connect(initialised.url)
    try:
        # Published with the subjects' keys of that database, where the processors read them.
        with Publisher(settings, codec=sealing_codec(owner)) as publisher:
            published: list[Published] = publisher.publish_files(
                sorted(SAMPLES.glob("*.txt")),
                source_system=settings.topic_prefix,
                customer_id="C-roles",
            )
        wait_for(
            lambda: all_complete(owner, settings, published), 120, "every sample audited", processes
        )
        with owner.connect() as conn:
            users = set(
                conn.execute(
                    text(
                        "SELECT usename FROM pg_stat_activity WHERE datname = 'compliance' "
                        "AND usename IS NOT NULL"
                    )
                ).scalars()
            )
        assert {"compliance_app", "compliance_sink"} <= users
    finally:
        owner.dispose()


def test_a_processor_started_before_db_init_stops_with_what_to_run(
    settings: Settings, initialised: PrivatePostgres
) -> None:
    """A schema nobody ran `compliance db init` on (usable, as PostgreSQL 15's public schema
    is, but not writable): the checker, as the processors' role, may not make its tables, and
    says so in one line instead of a traceback."""
    fresh = f"fresh_{secrets.token_hex(4)}"
    owner = psycopg2.connect(libpq(make_url(initialised.url)))
    owner.autocommit = True
    try:
        with owner.cursor() as cur:
            cur.execute(f"CREATE SCHEMA {fresh}")
            cur.execute(f"GRANT USAGE ON SCHEMA {fresh} TO compliance_app")
        app = role_url(initialised, "compliance_app", "compliance_app").update_query_dict(
            {"options": f"-csearch_path={fresh}"}
        )
        done = cli(settings, initialised, "run", "checker", COMPLIANCE_DATABASE_URL=dsn(app))
        assert done.returncode == 2, done.stderr[-2000:]
        [line] = done.stderr.strip().splitlines()[-1:]
        assert line.startswith("compliance: PostgreSQL refused this role: permission denied")
        assert "compliance db init" in line and "Traceback" not in done.stderr
    finally:
        with owner.cursor() as cur:
            cur.execute(f"DROP SCHEMA IF EXISTS {fresh} CASCADE")
        owner.close()
