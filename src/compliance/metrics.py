"""Prometheus metrics of every processor, served with the health probes on
COMPLIANCE_METRICS_PORT (``compliance.health``).

Every metric object lives here (the classifier's LLM metrics in
``compliance.classification.llm_metrics``, registered by importing this module), so a
dashboard can be checked against them. Labels are bounded: a processor's name, a topic, a
partition, a rule id, an exception class, a route; never free text or an identifier of a
document or a customer.

Hot paths bind their label values once (``bind``) and keep the child; with
COMPLIANCE_METRICS_ENABLED=false ``bind`` gives a child that does nothing, which is how the
cost of the metrics is measured (benchmarks/scaleout_bench.py).
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Iterator
from typing import Protocol

from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from compliance.classification import llm_metrics as llm  # noqa: F401  (registers them)

# Per record: most stages take well under a millisecond to tens of milliseconds; an LLM call
# or an OCR'd scan takes seconds.
RECORD_BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
)
# Per batch: a Kafka transaction is a few milliseconds; a batch of scans up to minutes.
BATCH_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    120.0,
    300.0,
)

# --- every processor -------------------------------------------------------------------------
records_in = Counter(
    "compliance_records_in_total", "Records consumed, by input topic", ["processor", "topic"]
)
records_out = Counter(
    "compliance_records_out_total",
    "Records produced (committed with the input's offsets), by output topic",
    ["processor", "topic"],
)
processed = Counter(
    "compliance_records_processed_total", "Records consumed and committed", ["processor"]
)


class _Timing:
    """One label set of a ``Timings``: bucket counts and a sum, under one lock."""

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last: above every bound (+Inf only)
        self.total = 0.0
        self.lock = threading.Lock()

    def observe(self, amount: float) -> None:
        at = bisect_left(self.bounds, amount)
        with self.lock:
            self.counts[at] += 1
            self.total += amount

    def observe_many(self, amount: float, count: int) -> None:
        """``count`` observations of ``amount`` at once (records of a batch stage)."""
        at = bisect_left(self.bounds, amount)
        with self.lock:
            self.counts[at] += count
            self.total += amount * count


class Timings(Collector):
    """A histogram for the per-record hot path: an observation is a binary search and one
    uncontended lock (prometheus_client's Histogram takes several and walks its buckets);
    exported as a Prometheus histogram when scraped."""

    def __init__(
        self, name: str, documentation: str, labels: list[str], buckets: tuple[float, ...]
    ) -> None:
        self.name = name
        self.documentation = documentation
        self.labelnames = labels
        self.bounds = tuple(sorted(buckets))
        self.children: dict[tuple[str, ...], _Timing] = {}
        self._lock = threading.Lock()
        REGISTRY.register(self)

    def labels(self, *values: str) -> _Timing:
        with self._lock:
            child = self.children.get(values)
            if child is None:
                child = self.children[values] = _Timing(self.bounds)
            return child

    def collect(self) -> Iterator[HistogramMetricFamily]:
        family = HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)
        for values, child in list(self.children.items()):
            with child.lock:
                counts, total = list(child.counts), child.total
            cumulative, buckets = 0, []
            for bound, count in zip((*self.bounds, float("inf")), counts, strict=True):
                cumulative += count
                buckets.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
            family.add_metric(list(values), buckets, total)
        yield family

    def describe(self) -> Iterator[HistogramMetricFamily]:
        yield HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)


stage_seconds = Timings(
    "compliance_stage_seconds",
    "Time spent in a stage function per record",
    ["processor"],
    RECORD_BUCKETS,
)
batch_seconds = Histogram(
    "compliance_batch_seconds",
    "Time from a consumed batch to its committed transaction (stage, produce, commit)",
    ["processor"],
    buckets=BATCH_BUCKETS,
)
batch_records = Histogram(
    "compliance_batch_records",
    "Records per consumed batch",
    ["processor"],
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000),
)
consumer_lag = Gauge(
    "compliance_consumer_lag",
    "Records on an assigned partition not yet read by this consumer (last stable offset "
    "minus position, from the Kafka client's statistics)",
    ["processor", "topic", "partition"],
)
partitions_assigned = Gauge(
    "compliance_partitions_assigned", "Partitions assigned to this process", ["processor"]
)
ready = Gauge(
    "compliance_ready", "1 when the process answers /readyz with 200, else 0", ["processor"]
)
last_poll = Gauge(
    "compliance_last_poll_timestamp_seconds",
    "When the process's main loop last polled Kafka (Unix time)",
    ["processor"],
)
dead_letters = Counter(
    "compliance_dead_letters_total",
    "Records sent to a dead-letter topic, by the class of the reason",
    ["processor", "topic", "reason"],
)
retries = Counter(
    "compliance_retries_total", "Batches retried after an infrastructure failure", ["processor"]
)


# --- checker and transaction screener ---------------------------------------------------------
class Tally(Collector):
    """A counter for the per-result hot path: an update is one dict increment (no lock, no
    label look-up, and no object the cycle collector tracks: the key is one string of the
    label values); Prometheus reads the counts when it scrapes. Updated from one thread per
    process (the stage's), as the checker and the screener are; concurrent updates from
    several threads could lose a count, never corrupt one."""

    SEPARATOR = "\x1f"  # never in a processor name, rule id or outcome

    def __init__(self, name: str, documentation: str, labels: list[str]) -> None:
        self.name = name
        self.documentation = documentation
        self.labels = labels
        self.counts: dict[str, int] = {}
        REGISTRY.register(self)

    def add(self, first: str, second: str, third: str = "") -> None:
        if _enabled:
            key = first + self.SEPARATOR + second + self.SEPARATOR + third
            self.counts[key] = self.counts.get(key, 0) + 1

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(self.name, self.documentation, labels=self.labels)
        for key, count in list(self.counts.items()):
            family.add_metric(key.split(self.SEPARATOR)[: len(self.labels)], count)
        yield family

    def describe(self) -> Iterator[CounterMetricFamily]:
        yield CounterMetricFamily(self.name, self.documentation, labels=self.labels)


rule_outcomes = Tally(
    "compliance_rule_outcomes",
    "Check results per rule and outcome (pass, fail, review, error)",
    ["processor", "rule", "outcome"],
)
screening_hits = Tally(
    "compliance_screening_hits",
    "Screening hits: sanctions/PEP matches and transaction monitoring alerts, per rule",
    ["processor", "rule"],
)

# --- audit sink ---------------------------------------------------------------------------------
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

# --- case management, notifications, scheduler (for their processors) ------------------------
cases_opened = Counter(
    "compliance_cases_opened_total",
    "Cases opened, by category and severity",
    ["category", "severity"],
)
cases_closed = Counter(
    "compliance_cases_closed_total", "Cases closed, by resolution", ["resolution"]
)
sla_breaches = Counter(
    "compliance_sla_breaches_total",
    "Cases or exceptions past their SLA due time, by category and severity",
    ["category", "severity"],
)
scheduled_runs = Counter(
    "compliance_scheduled_runs_total",
    "Scheduled job runs, by job and outcome (ok, failed, skipped: run elsewhere)",
    ["job", "outcome"],
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


class Child(Protocol):
    """What the hot path calls on a bound metric."""

    def inc(self, amount: float = 1) -> None: ...


class Observer(Protocol):
    def observe(self, amount: float) -> None: ...


class ManyObserver(Observer, Protocol):
    def observe_many(self, amount: float, count: int) -> None: ...


class _Nothing:
    """A bound metric that records nothing (metrics disabled)."""

    def inc(self, amount: float = 1) -> None:
        pass

    def observe(self, amount: float) -> None:
        pass

    def observe_many(self, amount: float, count: int) -> None:
        pass

    def set(self, value: float) -> None:
        pass


NOTHING = _Nothing()
_enabled = True


def set_enabled(enabled: bool) -> None:
    """Metrics on or off for what is bound from now on (COMPLIANCE_METRICS_ENABLED)."""
    global _enabled
    _enabled = enabled
    _bound.clear()


def enabled() -> bool:
    return _enabled


_bound: dict[tuple[int, tuple[str, ...]], Child] = {}


def bind(metric: Counter | Histogram | Gauge | Timings, *labels: str) -> Child:
    """``metric.labels(*labels)``, looked up once and kept; a no-op when disabled."""
    if not _enabled:
        return NOTHING
    key = (id(metric), labels)
    found = _bound.get(key)
    if found is not None:
        return found
    child: Child = metric.labels(*labels) if labels else metric  # type: ignore[assignment]
    _bound[key] = child
    return child


def observer(metric: Histogram | Timings, *labels: str) -> Observer:
    return bind(metric, *labels)  # type: ignore[return-value]


def timings(metric: Timings, *labels: str) -> ManyObserver:
    return bind(metric, *labels)  # type: ignore[return-value]


def dead_letter(processor: str, topic: str | None, error: BaseException) -> None:
    """Count one dead letter; the reason is the error's class (bounded), not its message."""
    bind(dead_letters, processor, topic or "", type(error).__name__).inc()


def rule_outcome(processor: str, rule: str, outcome: str) -> None:
    rule_outcomes.add(processor, rule, outcome)


def screening_hit(processor: str, rule: str) -> None:
    screening_hits.add(processor, rule)
