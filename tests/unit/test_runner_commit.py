"""The runner's commit: a retriable Kafka error retries the commit (the transaction stays
open), an error that requires an abort, or a failed send of the offsets, aborts and rewinds
the batch. A commit whose outcome
stays unknown after its retries, or a producer made unusable (fenced), is never taken as
committed nor retried blindly: a new producer takes over under the same transactional id and
the consumer resumes from the offsets the group has committed; when that keeps failing the
process stops. Driven with scripted client errors, no broker."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from confluent_kafka import KafkaError

from compliance.codec import registry
from compliance.config import Settings
from compliance.errors import TransactionsUnrecoverable
from compliance.publisher import arrival_event
from compliance.runner import COMMIT_ATTEMPTS, MAX_PRODUCER_RESETS, TransactionalRunner

from .conftest import SAMPLES
from .runner_fakes import FakeConsumer, FakeMessage, FakeProducer, error, repeat

STOPPED = threading.Event()
STOPPED.set()  # the runner's back-off wait returns at once


def _batch() -> list[Any]:
    arrival = arrival_event(SAMPLES / "passport_halvorsen.txt", source_system="t")
    value = registry().encode("DocumentArrived", arrival)
    return [FakeMessage("documents.arrived", 0, offset, value, b"C-1") for offset in (7, 8)]


class Replacements:
    """The producers a runner creates when it replaces one, each scripted in turn."""

    def __init__(self, *producers: FakeProducer) -> None:
        self.waiting = list(producers)
        self.made: list[FakeProducer] = []

    def __call__(self) -> FakeProducer:
        producer = self.waiting.pop(0) if self.waiting else FakeProducer()
        producer.init_transactions(30)
        self.made.append(producer)
        return producer


def _runner(settings: Settings, replacements: Replacements | None = None) -> Any:
    runner: Any = TransactionalRunner("test", settings, ["documents.arrived"], lambda _t, _r: [])
    runner.commit_backoff_s = 0.0
    runner.backoff_s = 0.0
    runner.new_producer = replacements or Replacements()
    return runner


def _run(
    settings: Settings, producer: FakeProducer, consumer: FakeConsumer | None = None
) -> FakeConsumer:
    consumer = consumer or FakeConsumer()
    _runner(settings)._process_or_rewind(consumer, producer, _batch(), STOPPED)
    return consumer


def test_a_commit_failing_with_a_retriable_error_is_retried_not_aborted(
    settings: Settings,
) -> None:
    timed_out = [error(KafkaError._TIMED_OUT, retriable=True)] * 2
    producer = FakeProducer({"commit": list(timed_out)})
    consumer = _run(settings, producer)
    assert producer.calls == ["begin", "send_offsets", "commit", "commit", "commit"]
    assert consumer.seeks == []  # committed: nothing to re-read


def test_sending_offsets_failing_is_not_retried_in_the_transaction_but_aborted_and_rewound(
    settings: Settings,
) -> None:
    """Retrying it in the same transaction was seen to block the client without end after a
    broker restart; aborting and reading the batch again recovers."""
    coordinator = error(KafkaError.COORDINATOR_NOT_AVAILABLE, retriable=True)
    producer = FakeProducer({"send_offsets": [coordinator]})
    consumer = _run(settings, producer)
    assert producer.calls == ["begin", "send_offsets", "abort"]
    assert consumer.seeks == [("documents.arrived", 0, 7)]


def test_a_commit_still_failing_after_its_retries_is_neither_taken_as_done_nor_aborted(
    settings: Settings,
) -> None:
    """The commit may have gone through: aborting and re-reading the batch could produce its
    outputs twice, going on could lose them. A new producer under the same id settles the old
    transaction, and the consumer resumes from what the group actually committed."""
    failures = repeat(COMMIT_ATTEMPTS, lambda: error(KafkaError._TIMED_OUT, retriable=True))
    producer = FakeProducer({"commit": failures})
    consumer = FakeConsumer({("documents.arrived", 0): (9, None)})  # the commit did happen
    replacements = Replacements()
    runner = _runner(settings, replacements)

    next_producer = runner._process_or_rewind(consumer, producer, _batch(), STOPPED)

    assert producer.calls.count("commit") == COMMIT_ATTEMPTS
    assert "abort" not in producer.calls
    assert producer.calls[-2:] == ["purge", "close"]
    assert next_producer is replacements.made[0]
    assert next_producer.calls == ["init"]
    assert consumer.seeks == [("documents.arrived", 0, 9)]  # after the batch: not redone


def test_when_nothing_was_ever_committed_the_replaced_producer_resumes_at_the_batch_start(
    settings: Settings,
) -> None:
    failures = repeat(COMMIT_ATTEMPTS, lambda: error(KafkaError._TIMED_OUT, retriable=True))
    consumer = FakeConsumer()  # the group has no committed offset for the partition
    _runner(settings)._process_or_rewind(
        consumer, FakeProducer({"commit": failures}), _batch(), STOPPED
    )
    assert consumer.seeks == [("documents.arrived", 0, 7)]


def test_a_commit_error_requiring_an_abort_aborts_at_once_and_rewinds(settings: Settings) -> None:
    must_abort = error(KafkaError._TIMED_OUT, retriable=True, txn_requires_abort=True)
    producer = FakeProducer({"commit": [must_abort]})
    consumer = _run(settings, producer)
    assert producer.calls == ["begin", "send_offsets", "commit", "abort"]
    assert consumer.seeks == [("documents.arrived", 0, 7)]


def test_a_fenced_producer_is_replaced_and_the_batch_resumes_from_the_committed_offsets(
    settings: Settings,
) -> None:
    fenced = error(KafkaError._FENCED, fatal=True)
    producer = FakeProducer({"commit": [fenced]})
    consumer = FakeConsumer({("documents.arrived", 0): (7, None)})  # the batch did not commit
    replacements = Replacements()
    next_producer = _runner(settings, replacements)._process_or_rewind(
        consumer, producer, _batch(), STOPPED
    )
    assert producer.calls == [
        "begin",
        "send_offsets",
        "commit",
        "purge",
        "close",
    ]  # no retry, no abort
    assert next_producer is replacements.made[0]
    assert consumer.seeks == [("documents.arrived", 0, 7)]


def test_a_failed_abort_leaves_the_state_unknown_and_replaces_the_producer(
    settings: Settings,
) -> None:
    must_abort = error(KafkaError._TIMED_OUT, retriable=True, txn_requires_abort=True)
    broken = error(KafkaError._TRANSPORT, retriable=True)
    producer = FakeProducer({"commit": [must_abort], "abort": [broken]})
    replacements = Replacements()
    _runner(settings, replacements)._process_or_rewind(FakeConsumer(), producer, _batch(), STOPPED)
    assert len(replacements.made) == 1


def test_the_process_stops_when_new_producers_keep_failing_without_a_commit(
    settings: Settings,
) -> None:
    def fenced_each_time() -> FakeProducer:
        return FakeProducer({"commit": [error(KafkaError._FENCED, fatal=True)]})

    replacements = Replacements(*[fenced_each_time() for _ in range(MAX_PRODUCER_RESETS + 1)])
    runner = _runner(settings, replacements)
    producer: Any = fenced_each_time()
    with pytest.raises(TransactionsUnrecoverable, match="new producers in a row"):
        for _ in range(MAX_PRODUCER_RESETS + 1):
            producer = runner._process_or_rewind(FakeConsumer(), producer, _batch(), STOPPED)
    assert len(replacements.made) == MAX_PRODUCER_RESETS


def test_a_commit_in_between_resets_the_count_of_replaced_producers(settings: Settings) -> None:
    runner = _runner(settings)
    for _ in range(MAX_PRODUCER_RESETS + 2):
        fenced = FakeProducer({"commit": [error(KafkaError._FENCED, fatal=True)]})
        runner._process_or_rewind(FakeConsumer(), fenced, _batch(), STOPPED)
        runner._process_or_rewind(FakeConsumer(), FakeProducer(), _batch(), STOPPED)
