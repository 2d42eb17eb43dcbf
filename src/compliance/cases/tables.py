"""The case tables in PostgreSQL: a projection of ``cases.decisions``
(``compliance.cases.projection`` writes them, nothing else does).

Rows are scoped by the topic prefix (``scope``), as the other processors' tables are, so
several deployments (or tests) share a database without seeing each other's cases. Reason,
details and comments are kept sealed as the events carried them (``compliance.sealing``):
they are opened only when shown, and an erased customer's stay unreadable.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    DateTime,
    Engine,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from compliance.db_errors import retryable_db_errors

metadata = MetaData()
_SCHEMA_LOCK = 0x63617365  # "case": one creator at a time

STATUSES = ("open", "in_review", "escalated", "closed_cleared", "closed_confirmed")
OPEN_STATUSES = ("open", "in_review", "escalated")

cases = Table(
    "cases",
    metadata,
    Column("case_id", Text, primary_key=True),
    Column("scope", Text, nullable=False, server_default=""),
    Column("customer_id", Text, nullable=False),
    Column("category", Text, nullable=False),
    Column("severity", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("assignee", Text),
    Column("title", Text, nullable=False),
    Column("opened_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("sla_due_at", DateTime(timezone=True)),
    Column("sla_breached", Boolean, nullable=False, server_default="false"),
    Column("exception_count", Integer, nullable=False, server_default="0"),
    Column("pending_outcome", Text),
    Column("pending_by", Text),
    Column("pending_at", DateTime(timezone=True)),
    # The event id of the pending decision: an approval or rejection names it, so a decision
    # that changed since the approver looked is not approved by mistake.
    Column("pending_event_id", Text),
    Column("last_event_id", Text, nullable=False),
    Index("cases_queue", "status", "sla_due_at"),
    Index("cases_customer", "scope", "customer_id", "category", "status"),
)

case_exceptions = Table(
    "case_exceptions",
    metadata,
    Column("exception_event_id", Text, primary_key=True),
    Column("case_id", Text, nullable=False),
    Column("subject_id", Text, nullable=False),
    Column("document_id", Text),
    Column("kind", Text, nullable=False),
    Column("rule_id", Text),
    Column("rule_version", Text),
    Column("severity", Text, nullable=False),
    Column("raised_at", DateTime(timezone=True), nullable=False),
    Column("sla_due_at", DateTime(timezone=True)),
    Column("reason", Text, nullable=False),  # sealed
    Column("details", JSONB, nullable=False),  # values sealed
    Column("evidence", JSONB, nullable=False),  # [{"kind", "ref"}]
    Index("case_exceptions_case", "case_id"),
    Index("case_exceptions_document", "document_id"),
)

case_history = Table(
    "case_history",
    metadata,
    Column("event_id", Text, primary_key=True),  # the cases.decisions event id
    Column("case_id", Text, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("comment", Text),  # sealed with the customer's key
    Column("detail", JSONB, nullable=False),
    Index("case_history_case", "case_id", "at"),
)

# How far the projection has read cases.decisions, per scope and partition.
case_projection_positions = Table(
    "case_projection_positions",
    metadata,
    Column("scope", Text, primary_key=True),
    Column("partition", Integer, primary_key=True),
    Column("next_offset", BigInteger, nullable=False),
)


_OPEN_LIST = ", ".join(f"'{s}'" for s in OPEN_STATUSES)
# The queue's and the search's indexes (``compliance.cases.queries.queue``), created apart
# from the tables so that a database made before them gets them too. The queue is ordered
# by due time (ascending: NULLS LAST, as the queue asks), opening time and case id within a
# scope: the open cases' partial index serves the usual queue, the one with the status a
# single status; the search finds case ids by a customer or document id prefix.
QUEUE_INDEXES = {
    "cases_open_queue": "ON cases (scope, sla_due_at, opened_at, case_id)"
    f" WHERE status IN ({_OPEN_LIST})",
    "cases_scope_queue": "ON cases (scope, sla_due_at, opened_at, case_id)",
    "cases_status_queue": "ON cases (scope, status, sla_due_at, opened_at, case_id)",
    "cases_customer_prefix": "ON cases (scope, customer_id text_pattern_ops)",
    "case_exceptions_document_prefix": "ON case_exceptions (document_id text_pattern_ops)",
}


# Columns added after the tables were first released: (table, column, type).
ADDED_COLUMNS = (("cases", "pending_event_id", "text"),)


def _add_missing_columns(conn: Connection) -> None:
    """Add the columns a database made before them lacks (needs the table's owner, as
    ``compliance db init`` runs; nothing is asked of it when they are there)."""
    for table, column, kind in ADDED_COLUMNS:
        present = conn.execute(
            text(
                "SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema()"
                " AND table_name = :table AND column_name = :column"
            ),
            {"table": table, "column": column},
        ).first()
        if present is None:
            conn.execute(text(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column} {kind}"))
            if column == "pending_event_id":
                conn.execute(_PENDING_BACKFILL)


# A decision pending before its id was kept: its id is that of the case's last proposal.
_PENDING_BACKFILL = text(
    """
UPDATE cases SET pending_event_id = (
  SELECT h.event_id FROM case_history h
  WHERE h.case_id = cases.case_id AND h.action = 'decision_proposed'
  ORDER BY h.at DESC, h.event_id DESC LIMIT 1)
WHERE pending_outcome IS NOT NULL AND pending_event_id IS NULL
"""
)


def create_cases_schema(engine: Engine) -> None:
    """Create the case tables and their indexes when missing (safe from several processes
    at once). Only the missing indexes are created: creating one needs the table's owner."""
    with retryable_db_errors("the case tables"), engine.begin() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK})
        metadata.create_all(conn, checkfirst=True)
        _add_missing_columns(conn)
        present = {
            r[0]
            for r in conn.execute(
                text("SELECT indexname FROM pg_indexes WHERE indexname = ANY(:names)"),
                {"names": list(QUEUE_INDEXES)},
            )
        }
        for name, definition in QUEUE_INDEXES.items():
            if name not in present:
                conn.execute(text(f"CREATE INDEX IF NOT EXISTS {name} {definition}"))
