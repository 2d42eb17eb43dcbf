"""The screening tables in PostgreSQL: officers' clearances and the list versions.

Both are append-only: a trigger rejects UPDATE, DELETE and TRUNCATE, so the history of who
cleared what, and which lists were in force when, cannot be rewritten. The state in force is
derived from the latest rows (the latest action per customer and entity; the latest list
version).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Connection,
    DateTime,
    Engine,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    event,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import UUID

from compliance.db_errors import retryable_db_errors

metadata = MetaData()

clearances = Table(
    "sanctions_clearances",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("event_id", UUID(as_uuid=False), nullable=False, unique=True),
    Column("action", Text, nullable=False),
    Column("customer_id", Text, nullable=False),
    Column("entity_id", Text, nullable=False),
    Column("entity_version", Text),
    Column("customer_version", Text),
    Column("entity_name", Text),
    Column("list_version", Text),
    Column("officer", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("action in ('clear', 'revoke')", name="sanctions_clearances_action"),
    CheckConstraint(
        "action <> 'clear' or entity_version is not null", name="sanctions_clearances_version"
    ),
    Index("sanctions_clearances_pair", "customer_id", "entity_id", "id"),
)

list_versions = Table(
    "sanctions_list_versions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "namespace",
        Text,
        nullable=False,
        doc="The topic prefix of the deployment (tenant, test) the version belongs to.",
    ),
    Column("version", Text, nullable=False),
    Column("previous_version", Text),
    Column("event_id", UUID(as_uuid=False), nullable=False, unique=True),
    Column("loaded_by", Text, nullable=False),
    Column("loaded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("sanctions_list_versions_latest", "namespace", "id"),
)

list_files = Table(
    "sanctions_list_files",
    metadata,
    Column("version_id", Integer, ForeignKey(list_versions.c.id), primary_key=True),
    Column("name", Text, primary_key=True),
    Column("source", Text, nullable=False),
    Column("sha256", Text, nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("list_entities", BigInteger, nullable=False, doc="Entities in this file's list."),
    Column("content", LargeBinary, nullable=False),
)

_APPEND_ONLY_FUNCTION = text(
    """
    CREATE OR REPLACE FUNCTION sanctions_append_only() RETURNS trigger AS $$
    BEGIN
        RAISE EXCEPTION '% is append-only: % is not allowed', TG_TABLE_NAME, TG_OP;
    END;
    $$ LANGUAGE plpgsql
    """
)


def _append_only(table: Table) -> None:
    @event.listens_for(table, "after_create")
    def _protect(target: Table, connection: object, **_: object) -> None:
        execute = connection.execute  # type: ignore[attr-defined]
        execute(_APPEND_ONLY_FUNCTION)
        for when, scope in (("UPDATE OR DELETE", "ROW"), ("TRUNCATE", "STATEMENT")):
            name = f"{target.name}_no_{when.split()[0].lower()}"
            execute(
                text(
                    f"CREATE TRIGGER {name} BEFORE {when} ON {target.name} "
                    f"FOR EACH {scope} EXECUTE FUNCTION sanctions_append_only()"
                )
            )


for _table in (clearances, list_versions, list_files):
    _append_only(_table)

# Serialises schema creation between processes starting at the same time.
_SCHEMA_LOCK = 0x5A_4E_C7_10


def create_screening_schema(engine: Engine) -> None:
    """Create the tables (and their append-only triggers) when missing; safe to call from
    several processes at once."""
    with retryable_db_errors("the screening database"), engine.begin() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK})
        metadata.create_all(conn, checkfirst=True)


@contextmanager
def database(engine: Engine, *, write: bool = False) -> Iterator[Connection]:
    """A connection (a transaction when ``write``); an unavailable database raises
    RetryableError (``compliance.db_errors``), so callers pause and retry instead of losing
    anything; an error about the data itself is raised unchanged."""
    with (
        retryable_db_errors("the screening database"),
        engine.begin() if write else engine.connect() as conn,
    ):
        yield conn
