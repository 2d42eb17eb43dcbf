"""The runner's commit: a retriable Kafka error retries the commit (the transaction stays
open), an error that requires an abort aborts and rewinds the batch, a fatal one stops the
process. Driven with scripted client errors, no broker."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException

from compliance.codec import registry
from compliance.config import Settings
from compliance.publisher import arrival_event
from compliance.runner import COMMIT_ATTEMPTS, TransactionalRunner

from .conftest import SAMPLES
from .runner_fakes import FakeConsumer, FakeMessage, FakeProducer, error, repeat

STOPPED = threading.Event()
STOPPED.set()  # the runner's back-off wait returns at once


def _batch() -> list[Any]:
    arrival = arrival_event(SAMPLES / "passport_halvorsen.txt", source_system="t")
    value = registry().encode("DocumentArrived", arrival)
    return [FakeMessage("documents.arrived", 0, offset, value, b"C-1") for offset in (7, 8)]


def _runner(settings: Settings) -> TransactionalRunner:
    runner = TransactionalRunner("test", settings, ["documents.arrived"], lambda _t, _r: [])
    runner.commit_backoff_s = 0.0
    return runner


def _run(settings: Settings, producer: FakeProducer) -> FakeConsumer:
    consumer = FakeConsumer()
    runner: Any = _runner(settings)
    runner._process_or_rewind(consumer, producer, _batch(), STOPPED)
    return consumer


def test_a_commit_failing_with_a_retriable_error_is_retried_not_aborted(
    settings: Settings,
) -> None:
    timed_out = [error(KafkaError._TIMED_OUT, retriable=True)] * 2
    producer = FakeProducer({"commit": list(timed_out)})
    consumer = _run(settings, producer)
    assert producer.calls == ["begin", "send_offsets", "commit", "commit", "commit"]
    assert consumer.seeks == []  # committed: nothing to re-read


def test_sending_offsets_failing_with_a_retriable_error_is_retried(settings: Settings) -> None:
    coordinator = error(KafkaError.COORDINATOR_NOT_AVAILABLE, retriable=True)
    producer = FakeProducer({"send_offsets": [coordinator]})
    _run(settings, producer)
    assert producer.calls == ["begin", "send_offsets", "send_offsets", "commit"]


def test_a_commit_that_keeps_failing_is_aborted_after_bounded_retries_and_the_batch_rewound(
    settings: Settings,
) -> None:
    failures = repeat(COMMIT_ATTEMPTS, lambda: error(KafkaError._TIMED_OUT, retriable=True))
    producer = FakeProducer({"commit": failures})
    consumer = _run(settings, producer)
    assert producer.calls.count("commit") == COMMIT_ATTEMPTS
    assert producer.calls[-1] == "abort"
    assert consumer.seeks == [("documents.arrived", 0, 7)]  # the batch is read again


def test_a_commit_error_requiring_an_abort_aborts_at_once_and_rewinds(settings: Settings) -> None:
    must_abort = error(KafkaError._TIMED_OUT, retriable=True, txn_requires_abort=True)
    producer = FakeProducer({"commit": [must_abort]})
    consumer = _run(settings, producer)
    assert producer.calls == ["begin", "send_offsets", "commit", "abort"]
    assert consumer.seeks == [("documents.arrived", 0, 7)]


def test_a_fatal_commit_error_stops_the_process_without_retrying(settings: Settings) -> None:
    fenced = error(KafkaError._FENCED, fatal=True)
    producer = FakeProducer({"commit": [fenced]})
    with pytest.raises(KafkaException):
        _run(settings, producer)
    assert producer.calls == ["begin", "send_offsets", "commit"]  # no retry, no abort
