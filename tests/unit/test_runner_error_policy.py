"""The runner's one error policy: a content error (undecodable bytes, an identifier past its
bound, a record the stage rejects as poison) becomes a dead letter with the reason, plus an
exception event when the record was a document, and the batch commits; an infrastructure
error fails the batch, uncommitted, to be retried; anything else is a bug: the process stops
with one line naming the record, nothing of the batch is produced or committed, nothing is
dead-lettered. A breaker stops a processor whose dead letters come too fast. Driven with the
fake Kafka clients of runner_fakes, no broker."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import pytest

from compliance.codec import Record, registry
from compliance.config import Settings
from compliance.errors import (
    ConfigurationError,
    DeadLetterRateExceeded,
    PoisonMessage,
    RetryableError,
    StageFailed,
)
from compliance.publisher import arrival_event
from compliance.runner import Outgoing, TransactionalRunner
from compliance.topics import DOCUMENTS_CLASSIFIED

from .conftest import SAMPLES
from .runner_fakes import FakeConsumer, FakeMessage, FakeProducer

STOPPED = threading.Event()
STOPPED.set()
TOPIC = "documents.arrived"
SECRET = "Halvorsen-1957-secret"  # stands for personal data a bug's message may quote


def _arrival(customer: str) -> bytes:
    arrival = arrival_event(SAMPLES / "passport_halvorsen.txt", source_system="t")
    arrival["customer_id"] = customer
    return registry().encode("DocumentArrived", arrival)


def _batch(*customers: str) -> list[Any]:
    """One record per customer id; "garbage" is a record that does not decode."""
    return [
        FakeMessage(TOPIC, 0, offset, b"\x00garbage" if c == "garbage" else _arrival(c), b"k")
        for offset, c in enumerate(customers, start=100)
    ]


def _echo(event_type: str, record: Record) -> list[Outgoing]:
    """A stage that passes the arrival on (an output per record, to count)."""
    return [Outgoing(TOPIC, event_type, record)]


def bug_on(customer: str, raised: Callable[[], Exception]) -> Callable[..., list[Outgoing]]:
    def stage(event_type: str, record: Record) -> list[Outgoing]:
        if record["customer_id"] == customer:
            raise raised()
        return _echo(event_type, record)

    return stage


def _runner(settings: Settings, stage: Any, concurrency: int = 1) -> Any:
    runner: Any = TransactionalRunner("test", settings, [TOPIC], stage, concurrency)
    runner.backoff_s = 0.0
    return runner


def _types(producer: FakeProducer) -> list[str]:
    return [registry().decode(value)[0] for value in producer.produced]


@pytest.mark.parametrize("concurrency", [1, 4])
def test_a_bug_in_the_stage_stops_the_process_naming_the_record_and_commits_nothing(
    settings: Settings, caplog: pytest.LogCaptureFixture, concurrency: int
) -> None:
    runner = _runner(settings, bug_on("C-3", lambda: KeyError(SECRET)), concurrency)
    producer, consumer = FakeProducer(), FakeConsumer()
    with caplog.at_level(logging.CRITICAL), pytest.raises(StageFailed) as stopped:
        runner._process_or_rewind(consumer, producer, _batch("C-1", "C-2", "C-3", "C-4"), STOPPED)
    assert producer.calls == []  # no transaction, no dead letter, no offsets
    assert producer.produced == []
    assert "documents.arrived[0]@102" in str(stopped.value)
    assert "KeyError" in str(stopped.value)
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.CRITICAL]
    assert len(lines) == 1 and "documents.arrived[0]@102" in lines[0]
    assert SECRET not in caplog.text and SECRET not in str(stopped.value)


def test_a_record_of_the_wrong_type_is_dead_lettered_with_an_exception_naming_the_document(
    settings: Settings,
) -> None:
    wrong = bug_on("C-2", lambda: PoisonMessage(f"does not belong on {DOCUMENTS_CLASSIFIED.name}"))
    producer = FakeProducer()
    _runner(settings, wrong)._process_or_rewind(
        FakeConsumer(), producer, _batch("C-1", "C-2", "C-3"), STOPPED
    )
    assert _types(producer) == [
        "DocumentArrived",
        "DeadLetter",
        "ComplianceException",
        "DocumentArrived",
    ]
    assert producer.calls[-1] == "commit"
    _, dead = registry().decode(producer.produced[1])
    assert dead["source_offset"] == 101 and "does not belong" in dead["error"]
    _, exception = registry().decode(producer.produced[2])
    _, arrival = registry().decode(_batch("C-2")[0].value())
    assert exception["kind"] == "dead_lettered"
    assert exception["document_id"] == arrival["document_id"]
    assert exception["customer_id"] == "C-2"
    assert exception["details"]["source"] == "documents.arrived[0]@101"


def test_undecodable_bytes_and_an_over_long_identifier_are_dead_lettered_and_committed(
    settings: Settings,
) -> None:
    producer = FakeProducer()
    _runner(settings, _echo)._process_or_rewind(
        FakeConsumer(), producer, _batch("C-1", "garbage", "C" * 3000), STOPPED
    )
    assert _types(producer) == ["DocumentArrived", "DeadLetter", "DeadLetter"]
    _, too_long = registry().decode(producer.produced[2])
    assert too_long["error_class"] == "FieldOutOfBounds"
    assert "customer_id is 3000 bytes, over its bound of 512" in too_long["error"]
    assert producer.calls[-1] == "commit"


def test_an_infrastructure_error_fails_the_batch_uncommitted_and_dead_letters_nothing(
    settings: Settings,
) -> None:
    producer, consumer = FakeProducer(), FakeConsumer()
    runner = _runner(settings, bug_on("C-2", lambda: RetryableError("database down")))
    runner._process_or_rewind(consumer, producer, _batch("C-1", "C-2"), STOPPED)
    assert producer.calls == [] and producer.produced == []
    assert consumer.seeks == [(TOPIC, 0, 100)]  # read again after the back-off


def test_a_configuration_error_stops_the_process_with_its_own_sentence(
    settings: Settings,
) -> None:
    runner = _runner(settings, bug_on("C-1", lambda: ConfigurationError("no rules folder")))
    with pytest.raises(ConfigurationError, match="no rules folder"):
        runner._process_or_rewind(FakeConsumer(), FakeProducer(), _batch("C-1"), STOPPED)


def test_an_output_the_schema_refuses_is_a_bug_that_stops_the_process(
    settings: Settings,
) -> None:
    def broken(event_type: str, record: Record) -> list[Outgoing]:
        return [Outgoing(TOPIC, "DocumentArrived", {"envelope": record["envelope"]})]

    producer = FakeProducer()
    with pytest.raises(StageFailed, match="could not be encoded"):
        _runner(settings, broken)._process_or_rewind(
            FakeConsumer(), producer, _batch("C-1"), STOPPED
        )
    assert producer.calls == []


def test_a_batch_dead_lettered_whole_beyond_the_limit_stops_without_committing(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    limited = settings.model_copy(update={"dead_letter_batch_limit": 5})
    producer = FakeProducer()
    with caplog.at_level(logging.CRITICAL), pytest.raises(DeadLetterRateExceeded):
        _runner(limited, _echo)._process_or_rewind(
            FakeConsumer(), producer, _batch(*["garbage"] * 6), STOPPED
        )
    assert producer.calls == []
    assert "documents.arrived.dlq" in caplog.text and "[0]@100" in caplog.text


def test_a_few_dead_letters_at_a_time_pass_until_the_window_holds_too_many(
    settings: Settings,
) -> None:
    limited = settings.model_copy(
        update={"dead_letter_batch_limit": 5, "dead_letter_limit": 4, "dead_letter_window_s": 60}
    )
    runner = _runner(limited, _echo)
    producer = FakeProducer()
    small = ["garbage", "garbage", "garbage"]  # all dead, but not more than the batch limit
    runner._process_or_rewind(FakeConsumer(), producer, _batch(*small), STOPPED)
    runner._process_or_rewind(FakeConsumer(), producer, _batch("C-1"), STOPPED)
    committed = producer.calls.count("commit")
    with pytest.raises(DeadLetterRateExceeded, match="5 dead letters within 60 s"):
        runner._process_or_rewind(FakeConsumer(), producer, _batch("C-2", *small[:2]), STOPPED)
    assert producer.calls.count("commit") == committed  # the third batch: nothing committed
