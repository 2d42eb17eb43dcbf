"""The case metrics (``compliance.metrics``), counted from the decisions as they are made:
a case opened, closed (by its resolution: cleared or confirmed) or flagged past its SLA.
Callers pass each decision once, when it is made (the processor's once its Kafka transaction
has committed, the desk's and the sweep's once applied for the first time), never when a
decision is applied again from the topic."""

from __future__ import annotations

from collections.abc import Iterable

from compliance import metrics
from compliance.codec import Record

CLOSING = frozenset({"closed", "decision_approved"})


def count_decisions(decisions: Iterable[Record]) -> None:
    for d in decisions:
        action = d["action"]
        if action == "opened":
            metrics.cases_opened.labels(category=d["category"], severity=d["severity"]).inc()
        elif action in CLOSING:
            metrics.cases_closed.labels(resolution=d.get("outcome") or "unknown").inc()
        elif action == "sla_breached":
            metrics.sla_breaches.labels(category=d["category"], severity=d["severity"]).inc()
