"""Prometheus metrics shared by the processors (served when COMPLIANCE_METRICS_PORT is set)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, start_http_server

processed = Counter(
    "compliance_records_processed_total", "Records consumed and committed", ["processor"]
)
dead_letters = Counter(
    "compliance_dead_letters_total", "Records sent to a dead-letter topic", ["processor", "topic"]
)
stage_seconds = Histogram(
    "compliance_stage_seconds", "Time spent in a stage function per record", ["processor"]
)
audit_rows = Counter(
    "compliance_audit_rows_total", "Rows the audit sink inserted (duplicates excluded)", []
)
audit_duplicates = Counter(
    "compliance_audit_duplicates_total", "Events the audit sink had already recorded", []
)
audit_conflicts = Counter(
    "compliance_audit_conflicts_total",
    "Event ids the audit sink saw again with other content (each version recorded)",
    [],
)
audit_undecodable = Counter(
    "compliance_audit_undecodable_total",
    "Records the audit sink could not decode and recorded verbatim",
    [],
)
retries = Counter(
    "compliance_retries_total", "Batches retried after an infrastructure failure", ["processor"]
)

notifications_sent = Counter(
    "compliance_notifications_sent_total", "Notifications a webhook accepted", ["route"]
)
notifications_failed = Counter(
    "compliance_notifications_failed_total",
    "Notifications given up on (retries exhausted or refused), each recorded on "
    "notifications.failed",
    ["route"],
)
notifications_retried = Counter(
    "compliance_notifications_retried_total",
    "Delivery attempts that failed and were scheduled again (429, 5xx, no answer)",
    ["route"],
)
notifications_pending = Gauge(
    "compliance_notifications_pending", "Notifications waiting in the outbox", ["route"]
)
notifications_in_flight = Gauge(
    "compliance_notifications_in_flight", "Notifications being posted right now", ["route"]
)


def serve(port: int) -> None:
    if port:
        start_http_server(port, addr="127.0.0.1")
