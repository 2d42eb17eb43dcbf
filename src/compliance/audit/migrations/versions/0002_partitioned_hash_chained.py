"""Partitioned by month, hash-chained, append-only, personal data sealed per subject.

Rows already in the walking skeleton's table are moved into the new one: in (topic,
partition, offset) order, chained, their personal fields sealed with new subject keys
(their recorded_at becomes the time of this migration). The rows are appended by the current
writer, which keeps a content hash with each id: the column is made here (and by 0004 where
this revision ran before it existed).

Revision ID: 0002
"""

from __future__ import annotations

from typing import Any

from alembic import op
from sqlalchemy import Connection, text

from compliance.audit.partitions import create_month, month_of
from compliance.audit.rows import AuditRow
from compliance.audit.subject_keys import keys_for
from compliance.audit.writer import append, ciphers, prepare

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

APPEND_ONLY = ("audit_events", "audit_event_ids", "audit_checkpoints")
LEGACY_CHUNK = 5000

SCHEMA = """
CREATE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit trail is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TABLE audit_events (
    event_id uuid NOT NULL,
    event_type text NOT NULL,
    topic text NOT NULL,
    "partition" integer NOT NULL,
    "offset" bigint NOT NULL,
    chain_seq bigint NOT NULL,
    kafka_key text,
    correlation_id text NOT NULL,
    causation_id text,
    subject_id text,
    occurred_at timestamptz NOT NULL,
    recorded_at timestamptz NOT NULL,
    schema_fingerprint text,
    raw_value bytea,
    payload json NOT NULL,
    prev_hash bytea NOT NULL,
    row_hash bytea NOT NULL
) PARTITION BY RANGE (occurred_at);
CREATE INDEX audit_events_chain_idx ON audit_events (topic, "partition", chain_seq);
CREATE INDEX audit_events_correlation_idx ON audit_events (correlation_id);
CREATE INDEX audit_events_subject_idx ON audit_events (subject_id);
CREATE INDEX audit_events_occurred_idx ON audit_events USING brin (occurred_at);

CREATE TABLE audit_event_ids (
    event_id uuid PRIMARY KEY,
    occurred_at timestamptz NOT NULL,
    content_hash bytea
);

CREATE TABLE audit_chain_heads (
    topic text NOT NULL,
    "partition" integer NOT NULL,
    chain_seq bigint NOT NULL,
    "offset" bigint NOT NULL,
    row_hash bytea NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (topic, "partition")
);

CREATE TABLE audit_checkpoints (
    id bigserial PRIMARY KEY,
    signed_at timestamptz NOT NULL,
    topic text NOT NULL,
    "partition" integer NOT NULL,
    chain_seq bigint NOT NULL,
    row_hash bytea NOT NULL,
    signature bytea NOT NULL
);
CREATE INDEX audit_checkpoints_chain_idx ON audit_checkpoints (topic, "partition", chain_seq);

CREATE TABLE audit_subject_keys (
    subject_id text PRIMARY KEY,
    key bytea,
    created_at timestamptz NOT NULL,
    erased_at timestamptz
);
"""


def _append_only(table: str) -> str:
    return f"""
    CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}
        FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
    CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}
        FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
    REVOKE UPDATE, DELETE, TRUNCATE ON {table} FROM PUBLIC, CURRENT_USER;
    """


def upgrade() -> None:
    conn = op.get_bind()
    op.execute("ALTER TABLE audit_events RENAME TO audit_events_legacy")
    op.execute(SCHEMA)
    for table in APPEND_ONLY:
        op.execute(_append_only(table))
    _move_legacy_rows(conn)
    op.execute("DROP TABLE audit_events_legacy")


def _move_legacy_rows(conn: Connection) -> None:
    result = conn.execute(
        text(
            'SELECT event_id, event_type, topic, "partition", "offset", kafka_key, '
            "correlation_id, causation_id, subject_id, occurred_at, schema_fingerprint, "
            'payload, raw_value FROM audit_events_legacy ORDER BY topic, "partition", "offset"'
        ).execution_options(yield_per=LEGACY_CHUNK)
    )
    months: set[Any] = set()
    cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    for chunk in result.partitions():
        rows = [_legacy_row(r) for r in chunk]
        for month in {month_of(r.occurred_at) for r in rows} - months:
            create_month(conn, month)
            months.add(month)
        keys = ciphers(keys_for(conn, {r.subject_id for r in rows if r.subject_id}))
        append(cur, [prepare(r, keys.get(r.subject_id) if r.subject_id else None) for r in rows])


def _legacy_row(r: Any) -> AuditRow:
    return AuditRow(
        event_id=str(r.event_id),
        event_type=r.event_type,
        topic=r.topic,
        partition=r.partition,
        offset=r.offset,
        kafka_key=r.kafka_key,
        correlation_id=r.correlation_id,
        causation_id=r.causation_id,
        subject_id=r.subject_id,
        occurred_at=r.occurred_at,
        schema_fingerprint=r.schema_fingerprint,
        payload=r.payload,
        raw_value=bytes(r.raw_value) if r.raw_value is not None else None,
    )


def downgrade() -> None:
    raise NotImplementedError("the audit trail is never downgraded")
