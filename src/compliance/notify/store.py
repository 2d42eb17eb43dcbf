"""The notifier's outbox in PostgreSQL: one row per (exception, route), made once.

The consumer inserts a batch's rows (``ON CONFLICT DO NOTHING``: an exception read again after
a restart or a rebalance adds nothing) and only then commits its Kafka offsets. Delivery
workers claim pending rows that are due (``FOR UPDATE SKIP LOCKED``, with a lease, so two
processes never hold the same row), post them, and record the outcome: delivered, to be
retried at a time, or failed with the reason. A failed row is then recorded on
``notifications.failed`` and marked so. Rows are kept after delivery, without their notice:
they are what makes a second post of the same (exception, route) impossible. Delivered rows
older than the retention (``delivered_retention_days``) are pruned, in batches; the notifier
does not notify exceptions raised before then, so a pruned row is never made again.

``scope`` is the deployment's topic prefix, so tenants (and tests) sharing a database never
see each other's rows. Every statement runs in ``retryable_db_errors``: an outage is a
``RetryableError``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    bindparam,
    cast,
    func,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Engine

from compliance.db_errors import retryable_db_errors

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
_SCHEMA_LOCK = 0x0FF1_CE30

metadata = MetaData()
outbox = Table(
    "notification_outbox",
    metadata,
    Column("scope", String(255), primary_key=True),
    Column("exception_event_id", String(64), primary_key=True),
    Column("route", String(64), primary_key=True),
    Column("status", String(16), nullable=False, server_default=PENDING),
    Column("subject_id", Text, nullable=False),
    Column("correlation_id", Text, nullable=False),
    # What the route shows, masked, personal values sealed; NULL once delivered or failed.
    Column("notice", JSONB, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("claimed_by", String(255), nullable=True),
    Column("claimed_until", DateTime(timezone=True), nullable=True),
    Column("last_status", Integer, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    Column("failure_recorded", Boolean, nullable=False, server_default=text("false")),
    Index(
        "notification_outbox_due",
        "scope",
        "route",
        "next_attempt_at",
        postgresql_where=text("status = 'pending'"),
    ),
    Index(
        "notification_outbox_failed_unrecorded",
        "scope",
        postgresql_where=text("status = 'failed' AND NOT failure_recorded"),
    ),
    Index(
        "notification_outbox_delivered",
        "scope",
        "finished_at",
        postgresql_where=text("status = 'delivered'"),
    ),
)
PRUNE_BATCH = 5_000  # rows per DELETE: short transactions, short locks


def create_outbox_table(engine: Engine) -> None:
    """Made by ``compliance db init`` (the processors' role owns nothing and cannot)."""
    with retryable_db_errors("the notification outbox"), engine.begin() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK})
        metadata.create_all(conn, checkfirst=True)
        for index in outbox.indexes:  # indexes added since an existing table was made
            index.create(conn, checkfirst=True)


@dataclass(frozen=True)
class Queued:
    """A notification to make: the exception, the route, and what the route shows."""

    exception_event_id: str
    route: str
    subject_id: str
    correlation_id: str
    notice: dict[str, Any]


@dataclass(frozen=True)
class Claimed:
    exception_event_id: str
    route: str
    notice: dict[str, Any]
    attempts: int  # before this one
    created_at: datetime
    subject_id: str


@dataclass(frozen=True)
class Outcome:
    exception_event_id: str
    route: str
    status: str  # DELIVERED, PENDING (retry at ``retry_at``) or FAILED
    http_status: int | None
    error: str | None
    retry_at: datetime | None = None


@dataclass(frozen=True)
class Failure:
    exception_event_id: str
    route: str
    subject_id: str
    correlation_id: str
    attempts: int
    last_status: int | None
    reason: str
    created_at: datetime
    failed_at: datetime


class Outbox:
    def __init__(self, engine: Engine, scope: str) -> None:
        self.engine = engine
        self.scope = scope

    def add(self, rows: Sequence[Queued]) -> set[str]:
        """Insert the rows not there yet, in one statement; returns the routes of those that
        were new."""
        if not rows:
            return set()
        params = {
            "scope": self.scope,
            "ids": [r.exception_event_id for r in rows],
            "routes": [r.route for r in rows],
            "subjects": [r.subject_id for r in rows],
            "correlations": [r.correlation_id for r in rows],
            "notices": [orjson.dumps(r.notice).decode("utf-8") for r in rows],
        }
        with retryable_db_errors("the notification outbox"), self.engine.begin() as conn:
            return {str(row[0]) for row in conn.execute(_ADD, params)}

    def release_claims_of(self, owner: str) -> int:
        """Rows a previous run of this instance had claimed and not finished, due again now
        (the instance id is unique among live copies: Kafka fences a second one)."""
        statement = (
            update(outbox)
            .where(
                outbox.c.scope == self.scope,
                outbox.c.status == PENDING,
                outbox.c.claimed_by == owner,
            )
            .values(claimed_by=None, claimed_until=None)
        )
        with retryable_db_errors("the notification outbox"), self.engine.begin() as conn:
            return int(conn.execute(statement).rowcount or 0)

    def claim(self, route: str, owner: str, limit: int, lease_s: float) -> list[Claimed]:
        """Up to ``limit`` due rows of ``route`` nobody holds, held by ``owner`` for
        ``lease_s`` (oldest due first)."""
        due = (
            select(outbox.c.scope, outbox.c.exception_event_id, outbox.c.route)
            .where(
                outbox.c.scope == self.scope,
                outbox.c.route == route,
                outbox.c.status == PENDING,
                outbox.c.next_attempt_at <= func.now(),
                (outbox.c.claimed_until.is_(None)) | (outbox.c.claimed_until < func.now()),
            )
            .order_by(outbox.c.next_attempt_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
            .cte("due")
        )
        statement = (
            update(outbox)
            .where(
                and_(
                    outbox.c.scope == due.c.scope,
                    outbox.c.exception_event_id == due.c.exception_event_id,
                    outbox.c.route == due.c.route,
                )
            )
            .values(
                claimed_by=owner,
                claimed_until=func.now() + func.make_interval(0, 0, 0, 0, 0, 0, lease_s),
            )
            .returning(
                outbox.c.exception_event_id,
                outbox.c.route,
                cast(outbox.c.notice, Text),  # parsed by orjson: a quarter of json's time
                outbox.c.attempts,
                outbox.c.created_at,
                outbox.c.subject_id,
            )
        )
        with retryable_db_errors("the notification outbox"), self.engine.begin() as conn:
            conn.execute(_NO_FLUSH_WAIT)
            rows = conn.execute(statement).all()
        return [Claimed(r[0], r[1], orjson.loads(r[2]), r[3], r[4], r[5]) for r in rows]

    def record(self, owner: str, outcomes: Sequence[Outcome]) -> None:
        """Every outcome in one statement; a row another owner holds now is left alone."""
        if not outcomes:
            return
        params = {
            "scope": self.scope,
            "owner": owner,
            "ids": [o.exception_event_id for o in outcomes],
            "routes": [o.route for o in outcomes],
            "statuses": [o.status for o in outcomes],
            "https": [o.http_status for o in outcomes],
            "errors": [o.error for o in outcomes],
            "ats": [o.retry_at for o in outcomes],
        }
        with retryable_db_errors("the notification outbox"), self.engine.begin() as conn:
            conn.execute(_NO_FLUSH_WAIT)
            conn.execute(_RECORD, params)

    def unrecorded_failures(self, limit: int = 500) -> list[Failure]:
        query = (
            select(
                outbox.c.exception_event_id,
                outbox.c.route,
                outbox.c.subject_id,
                outbox.c.correlation_id,
                outbox.c.attempts,
                outbox.c.last_status,
                outbox.c.last_error,
                outbox.c.created_at,
                outbox.c.finished_at,
            )
            .where(
                outbox.c.scope == self.scope,
                outbox.c.status == FAILED,
                outbox.c.failure_recorded.is_(False),
            )
            .limit(limit)
        )
        with retryable_db_errors("the notification outbox"), self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [Failure(r[0], r[1], r[2], r[3], r[4], r[5], r[6] or "", r[7], r[8]) for r in rows]

    def failures_recorded(self, failures: Iterable[Failure]) -> None:
        params = [{"b_id": f.exception_event_id, "b_route": f.route} for f in failures]
        if not params:
            return
        statement = (
            update(outbox)
            .where(
                outbox.c.scope == self.scope,
                outbox.c.exception_event_id == bindparam("b_id"),
                outbox.c.route == bindparam("b_route"),
            )
            .values(failure_recorded=True)
        )
        with retryable_db_errors("the notification outbox"), self.engine.begin() as conn:
            conn.execute(statement, params)

    def prune_delivered(self, older_than_s: float, batch: int = PRUNE_BATCH) -> int:
        """Delete delivered rows finished more than ``older_than_s`` ago, ``batch`` rows per
        transaction; returns how many went."""
        pruned = 0
        while True:
            params = {"scope": self.scope, "secs": older_than_s, "batch": batch}
            with retryable_db_errors("the notification outbox"), self.engine.begin() as conn:
                gone = int(conn.execute(_PRUNE, params).rowcount or 0)
            pruned += gone
            if gone < batch:
                return pruned

    def pending_by_route(self) -> dict[str, int]:
        query = (
            select(outbox.c.route, func.count())
            .where(outbox.c.scope == self.scope, outbox.c.status == PENDING)
            .group_by(outbox.c.route)
        )
        with retryable_db_errors("the notification outbox"), self.engine.connect() as conn:
            return {str(r[0]): int(r[1]) for r in conn.execute(query).all()}


# Claims and outcomes do not wait for the WAL to reach the disk (about three times
# wal_writer_delay at most): a wait per claim and per outcome write was most of the notifier's
# time. A notifier killed loses nothing by it (PostgreSQL has the commit); only a crash of
# PostgreSQL itself within that fraction of a second can undo a claim or a delivery mark, and
# then the notification is posted again, as a notifier killed between the webhook's answer and
# the outcome's write posts it again. The insert of new rows, which the Kafka offsets wait for,
# and the failure marks stay fully durable.
_NO_FLUSH_WAIT = text("SET LOCAL synchronous_commit = off")
_PRUNE = text(
    f"""
    DELETE FROM notification_outbox WHERE ctid = ANY(ARRAY(
        SELECT ctid FROM notification_outbox
        WHERE scope = :scope AND status = '{DELIVERED}'
          AND finished_at < now() - make_interval(secs => :secs)
        LIMIT :batch
    ))
    """
)
# One statement for a whole batch of new rows, the values as arrays (a row already there, an
# exception read again, is left as it is).
_ADD = text(
    """
    INSERT INTO notification_outbox
        (scope, exception_event_id, route, subject_id, correlation_id, notice)
    SELECT :scope, u.id, u.route, u.subject, u.correlation, CAST(u.notice AS jsonb)
    FROM unnest(
        CAST(:ids AS text[]), CAST(:routes AS text[]), CAST(:subjects AS text[]),
        CAST(:correlations AS text[]), CAST(:notices AS text[])
    ) AS u(id, route, subject, correlation, notice)
    ON CONFLICT DO NOTHING
    RETURNING route
    """
)
# One statement for a whole batch of outcomes: delivered and failed rows drop their notice;
# rows to retry are due again at their time. Only the claim's holder may record.
_RECORD = text(
    f"""
    UPDATE notification_outbox AS o SET
        status = u.status,
        attempts = o.attempts + 1,
        last_status = u.http,
        last_error = u.error,
        notice = CASE WHEN u.status = '{PENDING}' THEN o.notice END,
        finished_at = CASE WHEN u.status = '{PENDING}' THEN NULL ELSE now() END,
        next_attempt_at = COALESCE(u.at, o.next_attempt_at),
        claimed_by = NULL,
        claimed_until = NULL
    FROM unnest(
        CAST(:ids AS text[]), CAST(:routes AS text[]), CAST(:statuses AS text[]),
        CAST(:https AS integer[]), CAST(:errors AS text[]), CAST(:ats AS timestamptz[])
    ) AS u(id, route, status, http, error, at)
    WHERE o.scope = :scope AND o.exception_event_id = u.id AND o.route = u.route
      AND o.claimed_by = :owner
    """
)
