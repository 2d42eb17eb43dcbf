"""The one loop that does the Kafka work for a stage: consume, decode, call, produce, commit.

A stage is a plain function ``(event_type, record) -> list[Outgoing]`` with no Kafka in it.
The commit order, for every batch, is:

1. for each record: decode it and call the stage (one at a time, or up to ``concurrency``
   records at once for stages that wait on I/O, such as an LLM call). A record that cannot be
   decoded, or that the stage rejects as poison, gets a dead letter for ``<topic>.dlq``
   instead. Nothing is produced yet, so a slow stage never holds a transaction open;
2. begin a Kafka transaction and produce every output, in the order of the batch;
3. add the consumed offsets to the transaction;
4. commit the transaction: outputs, dead letters and offsets become visible together, or not
   at all.

If a step fails with a retryable error, the transaction is aborted, the consumer is rewound
to the start of the batch and, after a back-off, polls the same records again: nothing is
skipped, nothing is produced twice, and nothing is dead-lettered for an infrastructure
failure. A commit that fails with a retriable Kafka error (a coordinator moving, a request
timing out) is itself retried a few times before the batch is given up; a transaction the
broker says must be aborted is aborted and the batch retried; a fatal error (this producer
fenced by a newer copy of itself) stops the process.

A stage run with ``stamp_in_input_order`` gets its outputs' ``occurred_at`` from the runner,
not from the moment each record happened to finish: times are taken when the batch is
dispatched, in record order, and strictly increase within a partition (see
``InputOrderClock``). Records of one subject share a partition, so with many records in the
stage at once their decisions are still dated in the order they arrived.
"""

from __future__ import annotations

import hashlib
import logging
import signal
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from compliance import kafka_io, metrics
from compliance.codec import Record, SchemaRegistry, registry
from compliance.config import Settings
from compliance.errors import ConfigurationError, PoisonMessage, RetryableError
from compliance.events import envelope, now, subject_key
from compliance.topics import DLQ_SUFFIX

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outgoing:
    topic: str
    event_type: str
    record: Record


Stage = Callable[[str, Record], Sequence[Outgoing]]


def coordinates(msg: Message) -> str:
    return f"{msg.topic()}[{msg.partition()}]@{msg.offset()}"


# A dead letter must itself fit in a Kafka message (1 MB by default) even when the record it
# carries nearly filled one: beyond this, the original is cut and the cut is stated, with the
# whole value's length and SHA-256 so it can still be matched against the source topic.
DEAD_LETTER_MAX_VALUE_BYTES = 256 * 1024
DEAD_LETTER_MAX_KEY_BYTES = 4 * 1024
# Attempts of one transaction step (send offsets, commit) failing with retriable errors.
COMMIT_ATTEMPTS = 5


def dead_letter(msg: Message, error: BaseException, failed_in: str) -> Record:
    """The dead-letter event for ``msg``; its id depends only on the record's coordinates,
    so two processors giving up on the same record produce one event in the audit trail."""
    source = f"{msg.topic()}/{msg.partition()}/{msg.offset()}"
    key = msg.key()
    value = msg.value()
    reason = str(error)[:4000]
    if value is not None and len(value) > DEAD_LETTER_MAX_VALUE_BYTES:
        reason += (
            f" [original value cut to its first {DEAD_LETTER_MAX_VALUE_BYTES} of {len(value)}"
            f" bytes; sha256 {hashlib.sha256(value).hexdigest()}]"
        )
        value = value[:DEAD_LETTER_MAX_VALUE_BYTES]
    if key is not None and len(key) > DEAD_LETTER_MAX_KEY_BYTES:
        reason += f" [key cut to its first {DEAD_LETTER_MAX_KEY_BYTES} of {len(key)} bytes]"
        key = key[:DEAD_LETTER_MAX_KEY_BYTES]
    record = {
        "envelope": envelope(
            event_type="DeadLetter",
            stage="dead-letter",
            cause=source,
            correlation_id=source,
            subject_id=key.decode("utf-8", "replace") if key else source,
            causation_id=None,
        ),
        "source_topic": msg.topic(),
        "source_partition": msg.partition(),
        "source_offset": msg.offset(),
        "source_key": key,
        "original_value": value,
        "error_class": type(error).__name__,
        "error": reason,
        "failed_in": failed_in,
    }
    return record


class InputOrderClock:
    """Decision times in input order: one per record, taken in the order of the batch, cut to
    the millisecond (the envelope's ``timestamp-millis``) and strictly increasing within each
    partition, across batches too. When records come faster than one a millisecond, a time
    runs ahead of the wall clock by at most a millisecond per record."""

    def __init__(self, clock: Callable[[], datetime] = now) -> None:
        self._clock = clock
        self._last: dict[tuple[str, int], datetime] = {}

    def stamps(self, batch: Sequence[Message]) -> list[datetime]:
        stamps = []
        for msg in batch:
            key = (msg.topic() or "", msg.partition() or 0)
            stamp = _to_millisecond(self._clock())
            last = self._last.get(key)
            if last is not None and stamp <= last:
                stamp = last + timedelta(milliseconds=1)
            self._last[key] = stamp
            stamps.append(stamp)
        return stamps


def _to_millisecond(moment: datetime) -> datetime:
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def install_stop_signals(stop: threading.Event) -> None:
    def _stop(signum: int, _frame: Any) -> None:
        log.info("signal %s received: finishing the current batch, then stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)


class TransactionalRunner:
    """Runs one stage as a consumer-group member with exactly-once Kafka transactions."""

    def __init__(
        self,
        name: str,
        settings: Settings,
        input_topics: Sequence[str],
        stage: Stage,
        concurrency: int = 1,
        *,
        batch_size: int | None = None,
        stamp_in_input_order: bool = False,
        codec: SchemaRegistry | None = None,
    ) -> None:
        self.name = name
        self.settings = settings
        self.input_topics = list(input_topics)
        self.stage = stage
        self.codec = codec or registry()  # with a keyring: personal fields sealed (sealing.py)
        self.backoff_s = 0.5
        self._delay = self.backoff_s
        self.concurrency = concurrency
        self.batch_size = batch_size or settings.batch_size
        self.clock = InputOrderClock() if stamp_in_input_order else None
        self.commit_attempts = COMMIT_ATTEMPTS
        self.commit_backoff_s = 0.2
        self._pool = ThreadPoolExecutor(concurrency, name) if concurrency > 1 else None

    def run(self, stop: threading.Event) -> None:
        consumer = kafka_io.consumer(self.settings, self.settings.group(self.name))
        producer = kafka_io.transactional_producer(
            self.settings, f"{self.settings.group(self.name)}.{self.settings.instance_id}"
        )
        kafka_io.subscribe(consumer, self.input_topics)
        log.info("%s consuming %s", self.name, ",".join(self.input_topics))
        try:
            while not stop.is_set():
                batch = consumer.consume(self.batch_size, self.settings.poll_timeout_s)
                records = records_in(batch)
                if records:
                    self._process_or_rewind(consumer, producer, records, stop)
        finally:
            consumer.close()
            producer.flush(10)
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)

    def _process_or_rewind(
        self, consumer: Consumer, producer: Producer, batch: list[Message], stop: threading.Event
    ) -> None:
        """Commit the batch, or rewind the consumer to its start and back off: the next poll
        then returns the same records (those of partitions still ours) and they are retried.
        Retrying from the consumer, not from the batch in memory, keeps the consumer's
        position right (a rewound position left behind a committed batch would deliver it a
        second time) and keeps polling while waiting, so the group does not drop us."""
        try:
            self._process_in_transaction(consumer, producer, batch)
        except (RetryableError, KafkaException) as exc:
            if isinstance(exc, KafkaException) and not _retriable(exc):
                raise
            log.warning("%s: batch failed (%s); retrying in %.1fs", self.name, exc, self._delay)
            metrics.retries.labels(self.name).inc()
            _rewind(consumer, batch)
            stop.wait(self._delay)
            self._delay = min(self._delay * 2, 30.0)
            return
        self._delay = self.backoff_s

    def _process_in_transaction(
        self, consumer: Consumer, producer: Producer, batch: list[Message]
    ) -> None:
        outputs = self._outputs_of_batch(batch)
        producer.begin_transaction()
        try:
            for out in outputs:
                producer.produce(
                    self.settings.topic(out.topic),
                    key=subject_key(out.record),
                    value=self.codec.encode(out.event_type, out.record),
                )
                producer.poll(0)
            offsets = next_offsets(batch)
            group = consumer.consumer_group_metadata()
            self._retrying(lambda: producer.send_offsets_to_transaction(offsets, group, 30))
            self._retrying(lambda: producer.commit_transaction(30))
        except KafkaException as exc:
            if not _fatal(exc):  # a fatal error leaves nothing to abort: the process stops
                _abort_quietly(producer)
            raise
        except BaseException:
            _abort_quietly(producer)
            raise
        metrics.processed.labels(self.name).inc(len(batch))

    def _retrying(self, call: Callable[[], object]) -> None:
        """``call`` (a transaction step), again after a back-off while it fails with an error
        Kafka calls retriable and that does not require an abort; librdkafka allows retrying
        ``send_offsets_to_transaction`` and ``commit_transaction`` then, and the transaction
        stays open meanwhile. The last failure, or any other, is raised."""
        delay = self.commit_backoff_s
        for attempt in range(1, self.commit_attempts + 1):
            try:
                call()
                return
            except KafkaException as exc:
                err = _kafka_error(exc)
                if (
                    err is None
                    or not err.retriable()
                    or err.txn_requires_abort()
                    or err.fatal()
                    or attempt == self.commit_attempts
                ):
                    raise
                log.warning(
                    "%s: transaction step failed (%s), retrying (%d of %d) in %.1fs",
                    self.name,
                    err,
                    attempt,
                    self.commit_attempts - 1,
                    delay,
                )
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    def _outputs_of_batch(self, batch: list[Message]) -> list[Outgoing]:
        """Every output of the batch, in batch order. With a pool, up to ``concurrency``
        records are in the stage at once; a retryable error in any of them fails the whole
        batch (the records that did finish are redone on the retry, which is why a costly
        stage caches its results)."""
        stamps = self.clock.stamps(batch) if self.clock is not None else None
        keys = (msg.key() for msg in batch)  # the subjects' keys, read in one query
        self.codec.prefetch_keys(key.decode("utf-8", "replace") for key in keys if key)
        if self._pool is None:
            per_record = [self._outputs_for(msg) for msg in batch]
        else:
            per_record = self._concurrently(batch)
        if stamps is not None:
            for outputs, stamp in zip(per_record, stamps, strict=True):
                for out in outputs:
                    out.record["envelope"]["occurred_at"] = stamp
        return [out for outputs in per_record for out in outputs]

    def _concurrently(self, batch: list[Message]) -> list[Sequence[Outgoing]]:
        """The stage on every record, ``concurrency`` at a time. When one fails the batch,
        the records not started are cancelled and those running are waited for before the
        error goes up: nothing of a failed batch is still calling out (Claude, storage) while
        the batch is retried, so a retry never runs beside its own leftovers."""
        assert self._pool is not None
        futures = [self._pool.submit(self._outputs_for, msg) for msg in batch]
        wait(futures, return_when=FIRST_EXCEPTION)  # a failure anywhere stops the batch now
        failed = [f for f in futures if f.done() and not f.cancelled() and f.exception()]
        if failed:
            for future in futures:
                future.cancel()
            wait(futures)
            raise failed[0].exception()  # type: ignore[misc]
        return [future.result() for future in futures]

    def _outputs_for(self, msg: Message) -> Sequence[Outgoing]:
        started = time.perf_counter()
        try:
            event_type, record = self.codec.decode(msg.value())
            outputs = self.stage(event_type, record)
        except (RetryableError, ConfigurationError):
            raise  # the batch waits and is retried / the process stops with one sentence
        except PoisonMessage as exc:
            return self._dead_letter(msg, exc)
        except Exception as exc:  # a stage bug on one record must not stop the processor
            log.exception("%s: stage failed on %s", self.name, coordinates(msg))
            return self._dead_letter(msg, exc)
        finally:
            metrics.stage_seconds.labels(self.name).observe(time.perf_counter() - started)
        return outputs

    def _dead_letter(self, msg: Message, exc: BaseException) -> list[Outgoing]:
        log.warning("%s: %s -> dead letter: %s", self.name, coordinates(msg), exc)
        metrics.dead_letters.labels(self.name, msg.topic()).inc()
        source = msg.topic().removeprefix(self.settings.topic_prefix)
        return [Outgoing(source + DLQ_SUFFIX, "DeadLetter", dead_letter(msg, exc, self.name))]


def records_in(batch: list[Message]) -> list[Message]:
    """The data records of a consumed batch. Error events from the client (a broker that is
    restarting, a partition end) are logged and left out; a fatal one stops the process."""
    records = []
    for msg in batch:
        err = msg.error()
        if err is None:
            records.append(msg)
        elif err.fatal():
            raise KafkaException(err)
        elif err.code() != KafkaError._PARTITION_EOF:
            log.warning("kafka: %s", err)
    return records


def _kafka_error(exc: KafkaException) -> KafkaError | None:
    err = exc.args[0] if exc.args else None
    return err if isinstance(err, KafkaError) else None


def _retriable(exc: KafkaException) -> bool:
    """May the batch be retried after this error (the transaction aborted, the consumer
    rewound)? Not after a fatal one: the producer is unusable and the process must stop."""
    err = _kafka_error(exc)
    if err is None or err.fatal():
        return False
    return bool(err.retriable() or err.txn_requires_abort())


def _fatal(exc: KafkaException) -> bool:
    err = _kafka_error(exc)
    return err is not None and bool(err.fatal())


def _abort_quietly(producer: Producer) -> None:
    try:
        producer.abort_transaction(30)
    except KafkaException as exc:
        log.warning("abort_transaction: %s", exc)


def next_offsets(batch: list[Message]) -> list[TopicPartition]:
    highest: dict[tuple[str, int], int] = {}
    for msg in batch:
        key = (msg.topic(), msg.partition())
        highest[key] = max(highest.get(key, -1), msg.offset())
    return [TopicPartition(t, p, o + 1) for (t, p), o in highest.items()]


def _rewind(consumer: Consumer, batch: list[Message]) -> None:
    lowest: dict[tuple[str, int], int] = {}
    for msg in batch:
        key = (msg.topic(), msg.partition())
        lowest[key] = min(lowest.get(key, msg.offset()), msg.offset())
    for (topic, partition), offset in lowest.items():
        try:
            consumer.seek(TopicPartition(topic, partition, offset))
        except KafkaException as exc:  # partition revoked meanwhile: its new owner resumes it
            log.info("rewind %s[%s] skipped: %s", topic, partition, exc)
