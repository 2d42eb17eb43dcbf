"""The transaction screener (Quix Streams, not the shared runner) reports too: records in and
out, screening hits per rule, its partitions and lag from the Kafka client's statistics, and
/readyz 200 once its partitions are assigned. Real broker, real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from compliance.config import Settings
from compliance.topics import TRANSACTIONS_SUBMITTED

from .conftest import wait_for
from .test_metrics_endpoint import free_port, get
from .test_transaction_screener import Screeners, deposit, publish


@pytest.fixture
def screener(settings: Settings, tmp_path: Path) -> Iterator[Screeners]:
    running = Screeners(settings, tmp_path)
    yield running
    running.stop_all()


def samples(base: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    status, text = get(base + "/metrics")
    if status != 200:
        return {}
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_the_screener_counts_records_hits_and_lag_and_answers_its_probes(
    settings: Settings, screener: Screeners
) -> None:
    # Three cash deposits of 9,500 within a day: structuring, one alert on the third.
    publish(settings, *(deposit(f"{settings.topic_prefix}tx-{i}", hours=i) for i in range(3)))
    port = free_port()
    screener.start(
        "a", COMPLIANCE_METRICS_PORT=str(port), COMPLIANCE_METRICS_STATS_INTERVAL_MS="200"
    )
    base = f"http://127.0.0.1:{port}"
    topic = settings.topic(TRANSACTIONS_SUBMITTED)
    records_in = (
        "compliance_records_in_total",
        (("processor", "transaction-screener"), ("topic", topic)),
    )

    def screened_and_caught_up() -> bool:
        screener.assert_alive()
        found = samples(base)
        lags = [
            v
            for (name, labels), v in found.items()
            if name == "compliance_consumer_lag" and ("topic", topic) in labels
        ]
        return found.get(records_in) == 3 and bool(lags) and sum(lags) == 0

    wait_for(screened_and_caught_up, 120, "three payments counted in, lag 0")
    found = samples(base)
    hits = {
        dict(labels)["rule"]: v
        for (name, labels), v in found.items()
        if name == "compliance_screening_hits_total"
        and ("processor", "transaction-screener") in labels
    }
    assert hits.get("tx.structuring", 0) >= 1, hits
    outputs = sum(
        v
        for (name, labels), v in found.items()
        if name == "compliance_records_out_total"
        and ("processor", "transaction-screener") in labels
    )
    assert outputs >= 4  # a check result per payment and the alert
    assert found[("compliance_partitions_assigned", (("processor", "transaction-screener"),))] > 0
    assert get(base + "/healthz") == (200, "ok\n")
    assert get(base + "/readyz") == (200, "ready\n")
