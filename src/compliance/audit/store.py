"""The audit table and the idempotent batch write into it.

One row per event, unique on ``event_id``: writing the same event twice (a redelivery after a
crash, a reprocessed input with its deterministic id) leaves one row. A batch is written in a
single transaction; the caller commits Kafka offsets only after this returns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Engine,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    create_engine,
    func,
    select,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID, insert
from sqlalchemy.exc import DBAPIError, OperationalError

from compliance.errors import ConfigurationError, RetryableError

metadata = MetaData()

audit_events = Table(
    "audit_events",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("event_id", UUID(as_uuid=False), nullable=False, unique=True),
    Column("event_type", Text, nullable=False),
    Column("topic", Text, nullable=False),
    Column("partition", Integer, nullable=False),
    Column("offset", BigInteger, nullable=False),
    Column("kafka_key", Text),
    Column("correlation_id", Text, nullable=False, index=True),
    Column("causation_id", Text),
    Column("subject_id", Text, index=True),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("schema_fingerprint", Text),
    Column("raw_value", LargeBinary, doc="Only for records that could not be decoded."),
    Column("payload", JSONB, nullable=False),
)


@dataclass(frozen=True)
class AuditRow:
    event_id: str
    event_type: str
    topic: str
    partition: int
    offset: int
    kafka_key: str | None
    correlation_id: str
    causation_id: str | None
    subject_id: str | None
    occurred_at: datetime
    schema_fingerprint: str | None
    payload: dict[str, Any]
    raw_value: bytes | None = None


def connect(database_url: str) -> Engine:
    return create_engine(database_url, pool_pre_ping=True, pool_size=2, max_overflow=2)


def require_database(engine: Engine) -> None:
    """Stop start-up with one clear sentence when PostgreSQL does not answer."""
    try:
        with engine.connect() as conn:
            conn.execute(select(1))
    except DBAPIError:
        raise ConfigurationError(
            f"cannot reach PostgreSQL at {engine.url.render_as_string(hide_password=True)} "
            "(start it with `make services`, or set COMPLIANCE_DATABASE_URL)"
        ) from None


def create_schema(engine: Engine) -> None:
    metadata.create_all(engine, checkfirst=True)


def write_batch(engine: Engine, rows: Sequence[AuditRow]) -> int:
    """Insert the rows in one transaction, skipping events already recorded.

    Returns how many rows were new. Raises RetryableError when the database is unavailable,
    so the caller keeps its offsets uncommitted and retries the same batch.
    """
    if not rows:
        return 0
    values = [row.__dict__ for row in _unique(rows)]
    statement = (
        insert(audit_events).values(values).on_conflict_do_nothing(index_elements=["event_id"])
    )
    try:
        with engine.begin() as conn:
            return conn.execute(statement).rowcount
    except OperationalError as exc:
        raise RetryableError(f"database unavailable: {exc.orig}") from exc
    except DBAPIError as exc:
        if exc.connection_invalidated:
            raise RetryableError(f"database connection lost: {exc.orig}") from exc
        raise


def _unique(rows: Sequence[AuditRow]) -> list[AuditRow]:
    """First occurrence of each event in the batch (ON CONFLICT cannot hit a row twice)."""
    seen: set[str] = set()
    result = []
    for row in rows:
        if row.event_id not in seen:
            seen.add(row.event_id)
            result.append(row)
    return result
