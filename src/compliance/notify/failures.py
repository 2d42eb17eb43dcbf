"""The dead-letter record of a notification given up on: a ``NotificationFailed`` event on
``notifications.failed`` (audited like every event), with the route and the reason.

Its event id comes from the exception and the route, so recording it twice (a crash between
the publication and marking the row recorded) gives one event in the audit trail.
"""

from __future__ import annotations

import logging

from confluent_kafka import Producer

from compliance.codec import Record, SchemaRegistry
from compliance.config import Settings
from compliance.errors import RetryableError
from compliance.events import envelope
from compliance.notify.store import Failure, Outbox
from compliance.topics import NOTIFICATIONS_FAILED

log = logging.getLogger(__name__)
STAGE = "notifier"
FLUSH_TIMEOUT_S = 30.0


def failure_event(failure: Failure) -> Record:
    return {
        "envelope": envelope(
            event_type="NotificationFailed",
            stage=STAGE,
            cause=failure.exception_event_id,
            discriminator=f"failed:{failure.route}",
            correlation_id=failure.correlation_id,
            subject_id=failure.subject_id,
            causation_id=failure.exception_event_id,
            occurred_at=failure.failed_at,
        ),
        "exception_event_id": failure.exception_event_id,
        "route": failure.route,
        "attempts": failure.attempts,
        "last_status": failure.last_status,
        "reason": failure.reason,
        "queued_at": failure.created_at,
    }


def record_failures(
    outbox: Outbox, producer: Producer, codec: SchemaRegistry, settings: Settings
) -> int:
    """Publish every failed row not recorded yet, wait for the broker, then mark them."""
    failures = outbox.unrecorded_failures()
    if not failures:
        return 0
    topic = settings.topic(NOTIFICATIONS_FAILED)
    for failure in failures:
        producer.produce(
            topic,
            key=failure.subject_id.encode("utf-8"),
            value=codec.encode("NotificationFailed", failure_event(failure)),
        )
    if producer.flush(FLUSH_TIMEOUT_S) > 0:
        raise RetryableError(
            f"{len(failures)} notification failure(s) not confirmed by the broker in time"
        )
    outbox.failures_recorded(failures)
    for failure in failures:
        log.warning(
            "notifier: gave up on exception %s for route %s after %d attempt(s): %s",
            failure.exception_event_id,
            failure.route,
            failure.attempts,
            failure.reason,
        )
    return len(failures)
