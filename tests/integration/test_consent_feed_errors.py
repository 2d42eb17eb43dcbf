"""The checker's consent feed follows the one error policy: a record that is no consent
statement goes to consents.recorded.dlq once, its personal fields sealed, and the feed goes on;
a database retry does not send the dead letter again; a bug stops the feed with one line that
quotes nothing of the record; too many dead letters trip the breaker before any is sent; an
offset commit that a frozen broker never answers ends the process (status 3) instead of
hanging it."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from sqlalchemy import Engine, func, select

from compliance import kafka_io
from compliance.codec import registry
from compliance.config import Settings
from compliance.errors import DeadLetterRateExceeded, RetryableError, StageFailed
from compliance.rules.consent_feed import NAME, ConsentFeed
from compliance.rules.events import consent_event
from compliance.rules.store import ConsumedConsent, StateStore, consents, create_state_schema
from compliance.runner import STOP_GRACE_S
from compliance.subject_keyring import sealing_codec
from compliance.topics import CONSENTS_RECORDED
from compliance.watchdog import EXIT_STUCK, Watchdog

from .conftest import Processes, read_topic, wait_for
from .private_services import PrivateKafka

# Personal data a poison record carries: it must reach neither the logs nor the topic unsealed.
SECRET = b"consent of Amina Okafor, born 1984-03-02: not Avro"


def send(settings: Settings, records: Sequence[tuple[bytes, bytes]]) -> None:
    """Produce (key, value) pairs to partition 0 of consents.recorded, in order."""
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap, "acks": "all"})
    for key, value in records:
        producer.produce(settings.topic(CONSENTS_RECORDED), key=key, value=value, partition=0)
    assert producer.flush(10) == 0


def good(settings: Settings, n: int) -> tuple[bytes, bytes]:
    out = consent_event(
        consent_id=f"K-{n}",
        customer_id=f"C-{n}",
        purpose="marketing",
        source_system=settings.topic_prefix,
        given_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    return out.record["customer_id"].encode(), registry().encode(out.event_type, out.record)


def poison(n: int) -> tuple[bytes, bytes]:
    return f"C-poison-{n}".encode(), SECRET + f" #{n}".encode()


def stored(engine: Engine, settings: Settings) -> int:
    query = select(func.count()).where(consents.c.scope == settings.topic_prefix)
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def committed(settings: Settings) -> int:
    """The offset the feed's group committed on partition 0 of consents.recorded (0: none)."""
    consumer = Consumer(
        {"bootstrap.servers": settings.kafka_bootstrap, "group.id": settings.group(NAME)}
    )
    try:
        [tp] = consumer.committed(
            [TopicPartition(settings.topic(CONSENTS_RECORDED), 0)], timeout=10
        )
        return max(tp.offset, 0)
    finally:
        consumer.close()


def dead_letters(settings: Settings) -> list[bytes]:
    return [v for v in read_topic(settings, CONSENTS_RECORDED.dead_letter) if v is not None]


class FailingOnce(StateStore):
    """The real store, whose first write of consents fails as a database outage would."""

    def __init__(self, engine: Engine, scope: str, error: Exception) -> None:
        super().__init__(engine, scope)
        self.error: Exception | None = error
        self.calls = 0

    def record_consents(self, consumed: Sequence[ConsumedConsent]) -> None:
        self.calls += 1
        if self.error is not None:
            error, self.error = self.error, None
            raise error
        super().record_consents(consumed)


@pytest.fixture
def running() -> Iterator[list[tuple[ConsentFeed, threading.Event]]]:
    """Feeds started by a test, always stopped."""
    feeds: list[tuple[ConsentFeed, threading.Event]] = []
    yield feeds
    for feed, stop in feeds:
        stop.set()
        assert feed.join(120), "the consent feed did not stop"


def start(
    settings: Settings,
    store: StateStore,
    engine: Engine,
    running: list[tuple[ConsentFeed, threading.Event]],
) -> tuple[ConsentFeed, threading.Event]:
    feed = ConsentFeed(settings, store, sealing_codec(engine))
    stop = threading.Event()
    feed.start(stop)
    running.append((feed, stop))
    return feed, stop


def test_a_poison_consent_goes_to_the_dead_letter_topic_once_sealed_and_the_checker_goes_on(
    settings: Settings, processes: Processes, engine: Engine
) -> None:
    create_state_schema(engine)
    send(settings, [good(settings, 1), poison(1), good(settings, 2)])
    processes.start("checker")
    wait_for(lambda: committed(settings) == 3, 90, "the feed past the poison", processes)
    assert stored(engine, settings) == 2

    [raw] = dead_letters(settings)
    assert b"Amina" not in raw and b"not Avro" not in raw  # the original value is sealed
    _, letter = sealing_codec(engine).decode(raw)
    assert letter["original_value"] == SECRET + b" #1"
    assert "not Avro single-object encoded" in letter["error"]
    assert letter["error"].encode() not in raw  # the reason is sealed too
    assert letter["source_offset"] == 1

    send(settings, [good(settings, 3)])  # and the checker goes on reading
    wait_for(lambda: stored(engine, settings) == 3, 60, "the next consent stored", processes)
    assert len(dead_letters(settings)) == 1
    processes.assert_alive()


def test_a_database_retry_does_not_send_a_dead_letter_again(
    settings: Settings, engine: Engine, running: list[tuple[ConsentFeed, threading.Event]]
) -> None:
    create_state_schema(engine)
    store = FailingOnce(engine, settings.topic_prefix, RetryableError("database away"))
    send(settings, [poison(1), good(settings, 1)])
    feed, _ = start(settings, store, engine, running)
    wait_for(lambda: committed(settings) == 2, 60, "the batch committed after its retry")
    assert store.calls >= 2 and feed.error is None
    assert stored(engine, settings) == 1
    assert len(dead_letters(settings)) == 1


def test_a_bug_while_storing_stops_the_feed_with_one_line_quoting_nothing_of_the_record(
    settings: Settings,
    engine: Engine,
    running: list[tuple[ConsentFeed, threading.Event]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    create_state_schema(engine)
    bug = ValueError(f"cannot store {SECRET.decode()}")
    store = FailingOnce(engine, settings.topic_prefix, bug)
    send(settings, [poison(1), good(settings, 1)])
    caplog.set_level(logging.INFO)
    feed, stop = start(settings, store, engine, running)
    assert stop.wait(60), "the feed did not stop the checker"
    assert feed.join()
    assert isinstance(feed.error, StageFailed)
    topic = settings.topic(CONSENTS_RECORDED)
    assert f"{topic}[0]@0" in str(feed.error)
    assert "ValueError" in str(feed.error)
    [line] = [r for r in caplog.records if r.levelno == logging.CRITICAL]
    assert "ValueError" in line.getMessage()
    assert "Amina" not in caplog.text
    assert committed(settings) == 0 and stored(engine, settings) == 0
    assert dead_letters(settings) == []  # a bug never sends the batch's dead letters


def test_too_many_dead_letters_stop_the_feed_before_any_is_sent(
    settings: Settings, engine: Engine, running: list[tuple[ConsentFeed, threading.Event]]
) -> None:
    create_state_schema(engine)
    strict = settings.model_copy(update={"dead_letter_limit": 2, "dead_letter_window_s": 600})
    send(strict, [poison(n) for n in range(3)])
    feed, stop = start(strict, StateStore(engine, strict.topic_prefix), engine, running)
    assert stop.wait(60), "the breaker did not stop the checker"
    assert feed.join()
    assert isinstance(feed.error, DeadLetterRateExceeded)
    assert len(dead_letters(strict)) < 3
    assert committed(strict) < 3  # the refused batch is read again after a restart


class FreezingTheBroker(StateStore):
    """The real store; its first write of consents freezes the broker (SIGSTOP) once it is
    done, so the feed's offset commit that follows gets no answer; with ``stop``, the process
    is asked to stop at that moment too."""

    def __init__(
        self, engine: Engine, scope: str, broker: PrivateKafka, stop: threading.Event | None
    ) -> None:
        super().__init__(engine, scope)
        self.broker = broker
        self.stop = stop
        self.frozen_at: float | None = None

    def record_consents(self, consumed: Sequence[ConsumedConsent]) -> None:
        super().record_consents(consumed)
        if self.frozen_at is None:
            pid = self.broker.pid()
            assert pid is not None
            os.kill(pid, signal.SIGSTOP)
            self.frozen_at = time.monotonic()
            if self.stop is not None:
                self.stop.set()


def commit_to_a_frozen_broker(
    broker: PrivateKafka,
    settings: Settings,
    engine: Engine,
    running: list[tuple[ConsentFeed, threading.Event]],
    *,
    call_timeout_s: float,
    stop_meanwhile: bool,
) -> tuple[list[int], float]:
    """Run a feed whose offset commit meets a frozen broker; the exit statuses its watchdog
    asked for and how long after the freeze it asked (the broker is resumed afterwards)."""
    private = settings.model_copy(
        update={"kafka_bootstrap": broker.bootstrap, "transaction_call_timeout_s": call_timeout_s}
    )
    kafka_io.create_topics(private)
    create_state_schema(engine)
    stop = threading.Event()
    store = FreezingTheBroker(
        engine, private.topic_prefix, broker, stop if stop_meanwhile else None
    )
    send(private, [good(private, 1)])
    feed = ConsentFeed(private, store, sealing_codec(engine))
    exits: list[int] = []
    ended = threading.Event()

    def exit_process(status: int) -> None:  # what os._exit would do, observed
        exits.append(status)
        ended.set()

    feed.watchdog = Watchdog(NAME, exit_process=exit_process)
    feed.start(stop)
    running.append((feed, stop))
    try:
        limit = STOP_GRACE_S if stop_meanwhile else kafka_io.transaction_deadline_s(private)
        assert ended.wait(limit + 60), "the blocked commit was not cut short"
        assert store.frozen_at is not None
        # Here the process would have ended (os._exit): the thread still blocked inside the
        # Kafka client is abandoned with it, not joined (librdkafka may hold it long after the
        # broker resumes; it is a daemon thread, stopped and left to end on its own).
        stop.set()
        running.remove((feed, stop))
        return exits, time.monotonic() - store.frozen_at
    finally:
        pid = broker.pid()
        if pid is not None:
            os.kill(pid, signal.SIGCONT)


def test_an_offset_commit_blocked_past_its_deadline_ends_the_process_with_status_3(
    own_kafka: PrivateKafka,
    settings: Settings,
    engine: Engine,
    running: list[tuple[ConsentFeed, threading.Event]],
) -> None:
    exits, after_s = commit_to_a_frozen_broker(
        own_kafka, settings, engine, running, call_timeout_s=1.0, stop_meanwhile=False
    )
    assert exits == [EXIT_STUCK]
    assert after_s >= 12.0  # the deadline: twice the call's timeout, plus 10 s


def test_once_asked_to_stop_a_blocked_commit_ends_the_process_within_the_grace(
    own_kafka: PrivateKafka,
    settings: Settings,
    engine: Engine,
    running: list[tuple[ConsentFeed, threading.Event]],
) -> None:
    """SIGTERM sets the stop event; the feed then may not hold the process longer than the
    grace, although its commit's own deadline (2 x 100 s + 10 s) is far away."""
    exits, after_s = commit_to_a_frozen_broker(
        own_kafka, settings, engine, running, call_timeout_s=100.0, stop_meanwhile=True
    )
    assert exits == [EXIT_STUCK]
    assert after_s < STOP_GRACE_S + 10
