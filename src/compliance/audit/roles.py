"""The database roles that own nothing: what each may do, and creating them.

The owner of the tables (``COMPLIANCE_ADMIN_DATABASE_URL``) runs the migrations and grants,
once per role, with ``compliance db init`` or ``compliance db grant-writer <role>``:

- the audit sink's role (``COMPLIANCE_AUDIT_DATABASE_URL``) may append to the audit trail: read
  and insert audit rows, claim event ids, add subject keys and checkpoints, move the chain
  heads; it cannot update, delete or truncate a recorded row, alter or drop a table or
  trigger, or erase a subject's key. New month partitions are made for it by
  ``audit_ensure_month``.
- the processors' role (``COMPLIANCE_DATABASE_URL``: classifier, checker, CLI) may use the
  tables of the processors (the checker's customer state, the LLM result cache; the sanctions
  list versions and clearances, which it may add to but not change) and read the audit trail;
  it may not write to the audit trail, nor touch its protections. It may add a key for a new
  data subject (``audit_subject_keys``): the processors seal personal fields on Kafka with
  the subjects' keys (``compliance.sealing``), and may not change or erase one.

A role is created when missing (it needs the owner to have CREATEROLE, as the local cluster's
does); its password is sent as a SCRAM verifier computed here, so the password itself never
reaches the server or its log.
"""

from __future__ import annotations

import psycopg2.errors
import psycopg2.extensions
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import ProgrammingError

from compliance.audit.migrations import VERSION_TABLE
from compliance.errors import ConfigurationError

APPEND = (
    "audit_events",
    "audit_event_ids",
    "audit_event_conflicts",
    "audit_checkpoints",
    "audit_subject_keys",
)
WRITER_GRANTS = (
    f"GRANT SELECT, INSERT ON {', '.join(APPEND)} TO {{role}}",
    "GRANT SELECT, INSERT, UPDATE ON audit_chain_heads TO {role}",
    "GRANT USAGE ON SEQUENCE audit_checkpoints_id_seq TO {role}",
    "GRANT EXECUTE ON FUNCTION audit_ensure_month(timestamptz) TO {role}",
    f"GRANT SELECT ON {VERSION_TABLE} TO {{role}}",
)
AUDIT_PREFIX = "audit_"
# The subjects' keys: the processors make one for a subject they seal data of first.
SUBJECT_KEYS = "audit_subject_keys"
# Tables of the processors that keep a history nobody may rewrite (their triggers refuse
# UPDATE and DELETE too): the processors' role may only add to them.
APPEND_ONLY_ELSEWHERE = frozenset(
    {"sanctions_clearances", "sanctions_list_versions", "sanctions_list_files"}
)
# Every table, partitioned table and sequence of the owner in the current schema (partitions
# are reached through their parent).
_OWNED = text(
    """
    SELECT c.relname, c.relkind FROM pg_class c
    WHERE c.relnamespace = current_schema()::regnamespace
      AND pg_get_userbyid(c.relowner) = current_user
      AND c.relkind IN ('r', 'p', 'S') AND NOT c.relispartition
    ORDER BY c.relname
    """
)


def grant_writer(engine: Engine, role: str) -> None:
    """Grant ``role`` what the audit sink needs (idempotent; run as the tables' owner)."""
    quoted = _quoted(engine, role)
    with engine.begin() as conn:
        _require_role(conn, role, quoted)
        for statement in WRITER_GRANTS:
            conn.execute(text(statement.format(role=quoted)))


def grant_processors(engine: Engine, role: str) -> None:
    """Grant ``role`` what the classifier, the checker and the CLI need: their own tables, and
    reading the audit trail (idempotent; run as the tables' owner after every table exists)."""
    quoted = _quoted(engine, role)
    with engine.begin() as conn:
        _require_role(conn, role, quoted)
        for name, kind in conn.execute(_OWNED).all():
            table = _quoted(engine, name)
            if name == SUBJECT_KEYS:
                conn.execute(text(f"GRANT SELECT, INSERT ON {table} TO {quoted}"))
            elif name.startswith(AUDIT_PREFIX) or name == VERSION_TABLE:
                if kind != "S":
                    conn.execute(text(f"GRANT SELECT ON {table} TO {quoted}"))
            elif kind == "S":
                conn.execute(text(f"GRANT USAGE, SELECT ON SEQUENCE {table} TO {quoted}"))
            elif name in APPEND_ONLY_ELSEWHERE:
                conn.execute(text(f"GRANT SELECT, INSERT ON {table} TO {quoted}"))
            else:
                conn.execute(text(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {quoted}"))


def role_exists(engine: Engine, role: str) -> bool:
    with engine.connect() as conn:
        return _exists(conn, role)


def create_role(engine: Engine, role: str, password: str) -> bool:
    """Create ``role`` as a login role with ``password`` unless it exists (an existing role's
    password is left as it is); return whether it was created."""
    quoted = _quoted(engine, role)
    try:
        with engine.begin() as conn:
            if _exists(conn, role):
                return False
            raw = conn.connection.dbapi_connection
            verifier = psycopg2.extensions.encrypt_password(password, role, raw, "scram-sha-256")
            conn.exec_driver_sql(f"CREATE ROLE {quoted} LOGIN PASSWORD %s", (verifier,))
    except ProgrammingError as exc:
        if not isinstance(exc.orig, psycopg2.errors.InsufficientPrivilege):
            raise
        raise ConfigurationError(
            f"database role {role!r} does not exist and role {engine.url.username!r} may not "
            f"create roles: create it as a superuser (CREATE ROLE {quoted} LOGIN PASSWORD "
            "'...'), or give the owner CREATEROLE, then grant again"
        ) from None
    return True


def _quoted(engine: Engine, name: str) -> str:
    return engine.dialect.identifier_preparer.quote(name)


def _exists(conn: Connection, role: str) -> bool:
    found = conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role})
    return found.first() is not None


def _require_role(conn: Connection, role: str, quoted: str) -> None:
    if not _exists(conn, role):
        raise ConfigurationError(
            f"database role {role!r} does not exist: grant again with its password "
            f"(--password-file or --password-env) to create it, or create it yourself "
            f"(CREATE ROLE {quoted} LOGIN PASSWORD '...')"
        )
