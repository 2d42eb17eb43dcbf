"""Monthly partitions of ``audit_events`` (range on ``occurred_at``, UTC months).

A partition is created the first time a row of its month is written, in its own short
transaction under an advisory lock (so concurrent sinks do not race), with the same
append-only protection as the parent: no UPDATE/DELETE/TRUNCATE privilege and a trigger
refusing TRUNCATE (row triggers are inherited from the parent). Writers ask
``audit_ensure_month`` (migration 0003) to do it, so a sink's role needs no ownership of the
table; ``create_month`` is the same step for the migrations that come before that function.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, text

_LOCK = "SELECT pg_advisory_xact_lock(hashtext('compliance.audit_events.partitions'))"


def month_of(instant: datetime) -> datetime:
    utc = instant.astimezone(UTC)
    return datetime(utc.year, utc.month, 1, tzinfo=UTC)


def next_month(month: datetime) -> datetime:
    return datetime(month.year + month.month // 12, month.month % 12 + 1, 1, tzinfo=UTC)


def partition_name(month: datetime) -> str:
    return f"audit_events_{month.year:04d}_{month.month:02d}"


def create_month(conn: Connection, month: datetime) -> None:
    """Create the partition of ``month`` if missing (call inside a transaction)."""
    name = partition_name(month)
    conn.execute(text(_LOCK))
    conn.execute(
        text(
            f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF audit_events "
            f"FOR VALUES FROM ('{month.isoformat()}') TO ('{next_month(month).isoformat()}')"
        )
    )
    conn.execute(text(f"REVOKE UPDATE, DELETE, TRUNCATE ON {name} FROM PUBLIC, CURRENT_USER"))
    conn.execute(
        text(
            f"CREATE OR REPLACE TRIGGER {name}_no_truncate BEFORE TRUNCATE ON {name} "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()"
        )
    )


def existing_months(conn: Connection) -> set[datetime]:
    names = conn.execute(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'audit_events'::regclass"
        )
    ).scalars()
    months = set()
    for name in names:
        _, _, year, month = name.split("_")
        months.add(datetime(int(year), int(month), 1, tzinfo=UTC))
    return months


class Partitions:
    """The months this process knows exist; asks the database only about new ones."""

    def __init__(self) -> None:
        self._known: set[datetime] | None = None

    def ensure(self, engine: Engine, instants: Iterable[datetime]) -> None:
        """Make sure the month of each instant has its partition (once per batch of rows:
        the months are gathered as plain numbers, the datetimes made once per month)."""
        year_months = set()
        for instant in instants:
            if instant.tzinfo is not UTC:
                instant = instant.astimezone(UTC)
            year_months.add((instant.year, instant.month))
        months = {datetime(year, month, 1, tzinfo=UTC) for year, month in year_months}
        if self._known is not None and months <= self._known:
            return
        with engine.begin() as conn:
            if self._known is None:
                self._known = existing_months(conn)
            for month in sorted(months - self._known):
                conn.execute(text("SELECT audit_ensure_month(:m)"), {"m": month})
        self._known |= months
