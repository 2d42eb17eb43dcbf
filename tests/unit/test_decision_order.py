"""Decisions are dated in input order: the classifier runs documents concurrently, so they
finish in any order, but two documents of one customer (one partition) must get
``occurred_at`` in the order they arrived, because the checker reads a customer's earlier
documents "as of" each document's time. Also: with Claude, a batch is a few rounds of calls."""

from __future__ import annotations

import itertools
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import SecretStr

from compliance.classification.choose import LocalClassifier
from compliance.classification.model import Classification
from compliance.codec import registry
from compliance.config import Settings
from compliance.processors.classifier import runner_for
from compliance.publisher import arrival_event
from compliance.runner import InputOrderClock

from .conftest import SAMPLES
from .runner_fakes import FakeConsumer, FakeMessage, FakeProducer

DOCUMENTS = [
    "passport_halvorsen.txt",
    "utility_bill_halvorsen.txt",
    "consent_okafor_marketing.txt",
    "passport_icao_specimen_expired.txt",
]


class SlowFirst(LocalClassifier):
    """Takes longer the earlier a document came: the last one finishes first."""

    def __init__(self, delays: dict[str, float]) -> None:
        self.delays = delays

    def classify(self, text: str, content_sha256: str) -> Classification:
        time.sleep(self.delays[content_sha256])
        return super().classify(text, content_sha256)


def _claude_settings(clean_env: Any, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "anthropic_api_key": SecretStr("k"),
        "llm_concurrency": 8,
        "document_roots": [SAMPLES],
    }
    return Settings(**(values | overrides))


def test_documents_finishing_out_of_order_are_dated_in_input_order_per_partition(
    clean_env: Any,
) -> None:
    settings = _claude_settings(clean_env)
    batch, delays = [], {}
    for offset, name in enumerate(DOCUMENTS * 2):
        partition = offset % 2  # two customers, two partitions, interleaved
        arrival = arrival_event(SAMPLES / name, source_system="t", customer_id=f"C-{partition}")
        delays[arrival["sha256"]] = 0.03 * (len(DOCUMENTS) * 2 - offset)
        value = registry().encode("DocumentArrived", arrival)
        batch.append(FakeMessage("documents.arrived", partition, offset, value, b"k"))
    runner: Any = runner_for(settings, SlowFirst(delays))
    producer = FakeProducer()
    runner._process_in_transaction(FakeConsumer(), producer, batch)

    dated: dict[str, list[datetime]] = {}
    for value in producer.produced:
        event_type, record = registry().decode(value)
        assert event_type == "DocumentClassified"
        dated.setdefault(record["customer_id"], []).append(record["envelope"]["occurred_at"])
    assert set(dated) == {"C-0", "C-1"}
    for times in dated.values():  # outputs are in input order; so must their times be
        assert len(times) == len(DOCUMENTS)
        assert all(a < b for a, b in itertools.pairwise(times)), times


def test_the_input_order_clock_is_strictly_increasing_per_partition_at_millisecond_precision(
    clean_env: Any,
) -> None:
    frozen = datetime(2026, 11, 3, 9, 0, 0, 123_456, tzinfo=UTC)
    clock = InputOrderClock(lambda: frozen)
    first: Any = FakeMessage("t", 0, 1, b"", b"")
    other: Any = FakeMessage("t", 1, 1, b"", b"")
    stamps = clock.stamps([first, other, first, first])
    ms = timedelta(milliseconds=1)
    start = frozen.replace(microsecond=123_000)  # what timestamp-millis keeps
    assert stamps == [start, start, start + ms, start + 2 * ms]
    assert clock.stamps([first]) == [start + 3 * ms]  # and across batches


def test_with_claude_a_batch_is_a_few_rounds_of_calls_in_flight(clean_env: Any) -> None:
    settings = _claude_settings(clean_env, batch_size=500, llm_batch_multiple=3)
    assert runner_for(settings, LocalClassifier()).batch_size == 24
    small = _claude_settings(clean_env, batch_size=10)
    assert runner_for(small, LocalClassifier()).batch_size == 10  # never above batch_size


def test_without_claude_a_batch_is_a_few_dozen_documents_not_a_plain_batch(
    clean_env: Any,
) -> None:
    """Local OCR takes about a second a scan per core: 500 scans in one batch would outlast
    max.poll.interval.ms, so the local path is capped too (COMPLIANCE_LOCAL_BATCH_SIZE)."""
    local = Settings(document_roots=[SAMPLES], batch_size=500)
    assert local.anthropic_api_key is None
    assert runner_for(local, LocalClassifier()).batch_size == local.local_batch_size == 32
    chosen = Settings(document_roots=[SAMPLES], batch_size=500, local_batch_size=8)
    assert runner_for(chosen, LocalClassifier()).batch_size == 8
    small = Settings(document_roots=[SAMPLES], batch_size=10)
    assert runner_for(small, LocalClassifier()).batch_size == 10  # never above batch_size
    # with an API key the Claude bound applies, not the local one
    claude = _claude_settings(clean_env, batch_size=500, local_batch_size=8)
    assert runner_for(claude, LocalClassifier()).batch_size == claude.llm_batch_size == 4 * 8
