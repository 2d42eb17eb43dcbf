"""Prometheus metrics shared by the processors (served when COMPLIANCE_METRICS_PORT is set)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram, start_http_server

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


def serve(port: int) -> None:
    if port:
        start_http_server(port, addr="127.0.0.1")
