"""The ``scheduler_runs`` table: one row per job run, keyed by the job and its scheduled fire
time (and the deployment's topic prefix, so tenants and tests sharing a database keep apart).

A scheduler copy claims a run with ``INSERT ... ON CONFLICT DO NOTHING``: the copy whose row
is inserted runs the job; every other copy (a second scheduler, a CronJob run of the same
fire time) finds the row there and does nothing. The row then records the outcome. A run
whose process died after its claim keeps a row without an outcome and is not run again for
that fire time (at most once per fire time; the next fire time runs as usual).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Engine,
    MetaData,
    Table,
    Text,
    func,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import insert

from compliance.db_errors import retryable_db_errors

metadata = MetaData()

scheduler_runs = Table(
    "scheduler_runs",
    metadata,
    Column("namespace", Text, primary_key=True, doc="The deployment's topic prefix."),
    Column("job", Text, primary_key=True),
    Column("scheduled_for", DateTime(timezone=True), primary_key=True),
    Column("instance_id", Text, nullable=False, doc="The scheduler copy that claimed the run."),
    Column("claimed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("finished_at", DateTime(timezone=True)),
    Column("outcome", Text, doc="ok, failed or skipped; null while running (or if it died)."),
    Column("detail", Text),
    Column(
        "forced",
        Boolean,
        nullable=False,
        server_default=text("false"),
        doc="Run by hand for an instant off the job's schedule (`jobs run --at T --force`).",
    ),
)

_SCHEMA_LOCK = 0x5C_4E_D0_01
_WHAT = "the scheduler's run table"


def create_scheduler_schema(engine: Engine) -> None:
    """Create ``scheduler_runs`` when missing (as the tables' owner; safe to run at once from
    several processes)."""
    with retryable_db_errors(_WHAT), engine.begin() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK})
        metadata.create_all(conn, checkfirst=True)
        present = conn.execute(
            text(
                "SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema()"
                " AND table_name = 'scheduler_runs' AND column_name = 'forced'"
            )
        ).first()
        if present is None:  # a table made before forced runs were recorded
            conn.execute(
                text(
                    "ALTER TABLE scheduler_runs ADD COLUMN IF NOT EXISTS forced boolean"
                    " NOT NULL DEFAULT false"
                )
            )


@dataclass(frozen=True, slots=True)
class RunRecord:
    job: str
    scheduled_for: datetime
    instance_id: str
    claimed_at: datetime
    finished_at: datetime | None
    outcome: str | None
    detail: str | None
    forced: bool = False


class RunClaims:
    def __init__(self, engine: Engine, namespace: str) -> None:
        self.engine = engine
        self.namespace = namespace

    def claim(
        self, job: str, scheduled_for: datetime, instance_id: str, *, forced: bool = False
    ) -> bool:
        """True when this call claimed the run (and must run it), False when it was claimed.
        ``forced``: a run by hand for an instant off the job's schedule, recorded as such."""
        statement = (
            insert(scheduler_runs)
            .values(
                namespace=self.namespace,
                job=job,
                scheduled_for=scheduled_for,
                instance_id=instance_id,
                forced=forced,
            )
            .on_conflict_do_nothing()
            .returning(scheduler_runs.c.job)
        )
        with retryable_db_errors(_WHAT), self.engine.begin() as conn:
            return conn.execute(statement).first() is not None

    def finish(
        self, job: str, scheduled_for: datetime, outcome: str, detail: str, at: datetime
    ) -> None:
        statement = (
            scheduler_runs.update()
            .where(
                scheduler_runs.c.namespace == self.namespace,
                scheduler_runs.c.job == job,
                scheduler_runs.c.scheduled_for == scheduled_for,
            )
            .values(outcome=outcome, detail=detail, finished_at=at)
        )
        with retryable_db_errors(_WHAT), self.engine.begin() as conn:
            conn.execute(statement)

    def runs(self, job: str | None = None, limit: int = 20) -> list[RunRecord]:
        """The latest runs (of one job, or of all), newest fire time first."""
        query = select(
            scheduler_runs.c.job,
            scheduler_runs.c.scheduled_for,
            scheduler_runs.c.instance_id,
            scheduler_runs.c.claimed_at,
            scheduler_runs.c.finished_at,
            scheduler_runs.c.outcome,
            scheduler_runs.c.detail,
            scheduler_runs.c.forced,
        ).where(scheduler_runs.c.namespace == self.namespace)
        if job is not None:
            query = query.where(scheduler_runs.c.job == job)
        query = query.order_by(scheduler_runs.c.scheduled_for.desc()).limit(limit)
        with retryable_db_errors(_WHAT), self.engine.connect() as conn:
            return [RunRecord(*row) for row in conn.execute(query)]
