"""Notifier: compliance.exceptions -> Slack and Microsoft Teams webhooks, per route.

Each exception is matched against the routes of ``config/notifier.yaml`` (severity and
category); for each route that takes it, the notice the route shows (masked, its personal
values sealed) goes into the outbox in PostgreSQL as one row per (exception, route), inserted
once whatever happens (``ON CONFLICT DO NOTHING``). The Kafka offsets are committed only after
that insert has committed: a crash between the two reads the batch again and inserts nothing
new; nothing read is ever lost.

Delivery runs beside the consumer (``compliance.notify.dispatcher``): per-route workers post
the pending rows, concurrently and bounded per route, retry 429, 5xx and silence with back-off
(``Retry-After`` honoured), give up after the configured attempts or age and record the
failure on ``notifications.failed``. A restarted notifier resumes the rows left pending.

A record that is not an exception goes to ``compliance.exceptions.dlq``, once, with the reason.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, text

from compliance import kafka_io
from compliance.audit.store import connect, require_database
from compliance.codec import Record, registry
from compliance.config import Settings
from compliance.db_errors import retryable_db_errors
from compliance.errors import ConfigurationError, PoisonMessage
from compliance.notify.dispatcher import Dispatcher
from compliance.notify.failures import record_failures
from compliance.notify.log_guard import guard_webhook_urls
from compliance.notify.notice import Personal, build_notice, category_of
from compliance.notify.routes import Routes, is_personal, load_routes
from compliance.notify.store import Outbox, Queued
from compliance.outgoing import Outgoing
from compliance.runner import TransactionalRunner
from compliance.sealing import Keyring
from compliance.subject_keyring import sealing_codec
from compliance.topics import COMPLIANCE_EXCEPTIONS

log = logging.getLogger(__name__)
NAME = "notifier"
EXCEPTION = "ComplianceException"
JOIN_TIMEOUT_S = 60.0


class Enqueue:
    """The consuming stage: a batch of exceptions -> their outbox rows, inserted at once."""

    def __init__(
        self,
        routes: Routes,
        outbox: Outbox,
        keyring: Keyring,
        review_base_url: str | None,
        queued: Callable[[set[str]], None] = lambda _routes: None,
    ) -> None:
        self.routes = routes
        self.outbox = outbox
        self.keyring = keyring
        self.review_base_url = review_base_url
        self.queued = queued
        self.retention = timedelta(days=routes.delivery.delivered_retention_days)
        self.personal = any(
            is_personal(field) for route in routes.routes for field in route.config.show
        )

    def __call__(
        self, inputs: Sequence[tuple[str, Record]]
    ) -> list[Sequence[Outgoing] | PoisonMessage]:
        if self.personal:
            self.keyring.prefetch(r["envelope"]["subject_id"] for t, r in inputs if t == EXCEPTION)
        results: list[Sequence[Outgoing] | PoisonMessage] = []
        rows: list[Queued] = []
        for event_type, record in inputs:
            if event_type != EXCEPTION:
                results.append(
                    PoisonMessage(f"{event_type} does not belong on {COMPLIANCE_EXCEPTIONS.name}")
                )
                continue
            try:
                rows.extend(self.notifications(record))
            except PoisonMessage as exc:  # a sealed value that does not open
                results.append(exc)
                continue
            results.append([])
        added = self.outbox.add(rows)
        if added:
            self.queued(added)
        return results

    def notifications(self, record: Record) -> list[Queued]:
        envelope = record["envelope"]
        if envelope["occurred_at"] < datetime.now(UTC) - self.retention:
            # Its delivered rows may have been pruned already: posting it now could be a
            # second post (and a notification that late is no use).
            log.info(
                "notifier: exception %s is past the retention; not notified", envelope["event_id"]
            )
            return []
        routes = self.routes.matching(record["severity"], category_of(record))
        personal = Personal(record, self.keyring)  # opened once for all the routes
        return [
            Queued(
                exception_event_id=envelope["event_id"],
                route=route.name,
                subject_id=envelope["subject_id"],
                correlation_id=envelope["correlation_id"],
                notice=build_notice(
                    record, route.config, self.keyring, self.review_base_url, personal
                ),
            )
            for route in routes
        ]


def require_outbox(engine: Engine) -> None:
    with retryable_db_errors("the notification outbox"), engine.connect() as conn:
        found = conn.execute(text("SELECT to_regclass('notification_outbox')")).scalar()
    if found is None:
        raise ConfigurationError(
            "the notification outbox (table notification_outbox) is not there: run "
            "`compliance db init` as the owner of the tables first"
        )


def main(settings: Settings, stop: threading.Event) -> None:
    routes = load_routes(settings.notifier_routes_file, allow_http=settings.development_mode)
    guard_webhook_urls(routes)
    engine = connect(settings.database_dsn, pool_size=4 + len(routes.routes))
    require_database(engine)
    kafka_io.require_broker(settings)
    require_outbox(engine)
    keyring = sealing_codec(engine).keyring
    assert keyring is not None
    outbox = Outbox(engine, settings.topic_prefix)
    owner = f"{settings.group(NAME)}.{settings.instance_id}"
    resumed = outbox.release_claims_of(owner)
    log.info(
        "notifier: %d route(s): %s; %d claimed notification(s) of a previous run resumed",
        len(routes.routes),
        ", ".join(f"{r.name} ({r.config.kind})" for r in routes.routes) or "none",
        resumed,
    )
    producer = kafka_io.idempotent_producer(settings)
    codec = registry()
    dispatcher = Dispatcher(
        routes, outbox, keyring, owner, lambda: record_failures(outbox, producer, codec, settings)
    )
    enqueue = Enqueue(routes, outbox, keyring, settings.notifier_review_base_url, dispatcher.wake)

    def one(event_type: str, record: Record) -> list[Outgoing]:
        [result] = enqueue([(event_type, record)])
        if isinstance(result, PoisonMessage):
            raise result
        return list(result)

    runner = TransactionalRunner(
        NAME,
        settings,
        [settings.topic(COMPLIANCE_EXCEPTIONS)],
        one,
        batch_stage=enqueue,
        codec=codec,  # personal fields stay sealed; only what a route shows is opened
    )
    dispatcher.start(stop)
    try:
        runner.run(stop)
    finally:
        stop.set()
        if not dispatcher.join(JOIN_TIMEOUT_S):
            log.warning("notifier: delivery has not stopped yet; leaving it behind")
        producer.flush(10)
    if dispatcher.error is not None:
        raise dispatcher.error
