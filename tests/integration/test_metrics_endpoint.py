"""A real checker process with a metrics port, over the real broker and PostgreSQL: a backlog
published before it starts shows as consumer lag while it is read, the records-in counter
rises to the backlog and the lag falls to 0; /healthz and /readyz answer 200 once the
checker's partitions are assigned. /metrics is read with Prometheus's own text parser."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any

from confluent_kafka import Producer
from prometheus_client.parser import text_string_to_metric_families

from compliance import kafka_io
from compliance.codec import registry
from compliance.config import Settings
from compliance.events import envelope
from compliance.topics import DOCUMENTS_CLASSIFIED

from .conftest import Processes, wait_for

BACKLOG = 1500
AT = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


def passport(settings: Settings, n: int) -> dict[str, Any]:
    customer = f"{settings.topic_prefix}C-{n % 50}"
    fields = {
        "full_name": "Ingrid Marie Halvorsen",
        "date_of_birth": "1985-03-14",
        "expiry_date": "2031-01-01",
    }
    return {
        "envelope": envelope(
            event_type="DocumentClassified",
            stage="test",
            cause=f"{settings.topic_prefix}{n}",
            correlation_id=f"doc-{n}",
            subject_id=customer,
            causation_id=None,
            occurred_at=AT + timedelta(seconds=n),
        ),
        "document_id": f"{settings.topic_prefix}doc-{n}",
        "customer_id": customer,
        "document_type": "passport",
        "confidence": 0.99,
        "fields": [{"name": k, "value": v, "confidence": 0.99} for k, v in fields.items()],
        "extraction_method": "text",
        "text_sha256": "0" * 64,
        "document_sha256": "0" * 64,
    }


def publish_backlog(settings: Settings, documents: int = BACKLOG) -> None:
    producer: Producer = kafka_io.idempotent_producer(settings)
    codec = registry()
    topic = settings.topic(DOCUMENTS_CLASSIFIED)
    for n in range(documents):
        record = passport(settings, n)
        producer.produce(
            topic,
            key=record["customer_id"].encode(),
            value=codec.encode("DocumentClassified", record),
        )
        producer.poll(0)
    assert producer.flush(30) == 0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError:
        return 0, ""  # not listening yet


class Scrape:
    def __init__(self, base: str, topic: str) -> None:
        self.base = base
        self.topic = topic
        self.lag_while_backlog: list[float] = []

    def read(self) -> tuple[float, float | None]:
        """(records in, total lag over the partitions reported, None when none is)."""
        status, text = get(self.base + "/metrics")
        if status != 200:
            return 0.0, None
        records_in, lags = 0.0, []
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                labels = sample.labels
                if labels.get("processor") != "checker" or labels.get("topic") != self.topic:
                    continue
                if sample.name == "compliance_records_in_total":
                    records_in = sample.value
                elif sample.name == "compliance_consumer_lag":
                    lags.append(sample.value)
        lag = sum(lags) if lags else None
        if lag is not None and lag > 0 and records_in < BACKLOG:
            self.lag_while_backlog.append(lag)
        return records_in, lag


def test_a_backlog_shows_as_lag_until_read_and_records_in_counts_it(
    settings: Settings, processes: Processes
) -> None:
    publish_backlog(settings)
    port = free_port()
    processes.start(
        "checker",
        COMPLIANCE_METRICS_PORT=str(port),
        COMPLIANCE_METRICS_STATS_INTERVAL_MS="100",
        COMPLIANCE_BATCH_SIZE="10",
    )
    base = f"http://127.0.0.1:{port}"
    scrape = Scrape(base, settings.topic(DOCUMENTS_CLASSIFIED))

    def lag_seen() -> bool:
        scrape.read()
        return bool(scrape.lag_while_backlog)

    wait_for(lag_seen, 60, "consumer lag reported while the backlog is read", processes)
    assert max(scrape.lag_while_backlog) <= BACKLOG

    def caught_up() -> bool:
        records_in, lag = scrape.read()
        return records_in == BACKLOG and lag == 0

    wait_for(caught_up, 120, "every record counted in and the lag back to 0", processes)
    assert get(base + "/healthz") == (200, "ok\n")
    assert get(base + "/readyz") == (200, "ready\n")
    _, text = get(base + "/metrics")
    names = {f.name for f in text_string_to_metric_families(text)}
    assert {
        "compliance_batch_seconds",
        "compliance_stage_seconds",
        "compliance_rule_outcomes",
        "compliance_records_out",
        "compliance_partitions_assigned",
    } <= names
