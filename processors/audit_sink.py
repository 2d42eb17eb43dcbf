"""Audit sink: every event of every topic, into PostgreSQL, exactly once.

For each batch, in this order:

1. consume up to ``audit_batch_size`` records from all topics (committed transactions only;
   the client's fetch queue is bounded too, so a burst never grows memory);
2. turn each into an audit row. A record that does not decode goes to ``<topic>.dlq``
   (flushed before step 3) and is audited from there; garbage on a dead-letter topic itself is
   recorded as an ``Undecodable`` row with its original bytes;
3. write the rows in one database transaction, skipping events already recorded: personal
   fields sealed with the subject's key, each row hash-chained to the previous row of its
   (topic, partition), chain heads signed from time to time (``compliance.audit.writer``);
4. only then commit the consumed offsets to Kafka.

Steps 1-2 of batch N+1 run while a writer thread does step 3 of batch N (the database work
waits on PostgreSQL, not on Python), so at most two batches are in hand. Step 4 of batch N
waits for its step 3, and batches are written and committed in the order consumed.

A crash between any two steps replays the batch, and step 3 records each event once. When
PostgreSQL is down or failing, consumption pauses and the same batch is retried until it is
written: an infrastructure failure never dead-letters and never commits offsets. Partitions are
the unit of parallelism: each copy of the sink extends the chains of the partitions it owns.
"""

from __future__ import annotations

import logging
import re
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from confluent_kafka import Consumer, KafkaException, Message, Producer, TopicPartition
from sqlalchemy import Engine

from compliance import kafka_io, metrics
from compliance.audit.checkpoints import signing_key
from compliance.audit.store import AuditRow, AuditWriter, connect, create_schema, require_database
from compliance.audit.writer import Prepared
from compliance.codec import HEADER_LEN, registry
from compliance.config import Settings
from compliance.errors import PoisonMessage, RetryableError
from compliance.events import derive_event_id, now
from compliance.runner import coordinates, dead_letter, next_offsets, records_in
from compliance.topics import DLQ_SUFFIX, every_topic, is_dead_letter

log = logging.getLogger(__name__)
NAME = "audit-sink"
# Upper bound of records the client prefetches beyond the batch in hand, in kilobytes.
FETCH_QUEUE_KBYTES = 32 * 1024
T = TypeVar("T")
_LEAVING = threading.Event()
_LEAVING.set()
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _event_id(value: str) -> str:
    if _CANONICAL_UUID.fullmatch(value):
        return value
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise PoisonMessage(f"event_id {value[:60]!r} is not a UUID") from None


def audit_row(msg: Message) -> AuditRow:
    """The audit row for one decodable record; raises PoisonMessage otherwise."""
    event_type, record = registry().decode(msg.value())
    env = record["envelope"]
    key = msg.key()
    return AuditRow(
        event_id=_event_id(env["event_id"]),
        event_type=event_type,
        topic=msg.topic(),
        partition=msg.partition(),
        offset=msg.offset(),
        kafka_key=key.decode("utf-8", "replace") if key else None,
        correlation_id=env["correlation_id"],
        causation_id=env["causation_id"],
        subject_id=env["subject_id"],
        occurred_at=env["occurred_at"],
        schema_fingerprint=(msg.value() or b"")[2:HEADER_LEN].hex(),
        payload=record,
    )


def undecodable_row(msg: Message, error: PoisonMessage) -> AuditRow:
    """Garbage found on a dead-letter topic: kept verbatim, identified by where it sat."""
    source = f"{msg.topic()}/{msg.partition()}/{msg.offset()}"
    return AuditRow(
        event_id=derive_event_id("undecodable", source),
        event_type="Undecodable",
        topic=msg.topic(),
        partition=msg.partition(),
        offset=msg.offset(),
        kafka_key=None,
        correlation_id=source,
        causation_id=None,
        subject_id=None,
        occurred_at=now(),
        schema_fingerprint=None,
        payload={"error": str(error)},
        raw_value=msg.value(),
    )


@dataclass
class InFlight:
    """A batch handed to the writer thread: its records (for the offsets) and its rows."""

    records: list[Message]
    prepared: list[Prepared]
    future: Future[int] | None


class AuditSink:
    def __init__(self, settings: Settings, engine: Engine) -> None:
        self.settings = settings
        self.codec = registry()
        self.topics = [settings.topic(spec) for spec in every_topic()]
        self.writer = AuditWriter(
            engine, signing_key(settings), settings.audit_checkpoint_interval_s
        )

    def run(self, stop: threading.Event) -> None:
        consumer = kafka_io.consumer(
            self.settings,
            self.settings.group(NAME),
            **{"queued.max.messages.kbytes": FETCH_QUEUE_KBYTES},
        )
        producer = kafka_io.idempotent_producer(self.settings)
        kafka_io.subscribe(consumer, self.topics)
        log.info("audit sink consuming %d topics", len(self.topics))
        pool = ThreadPoolExecutor(1, thread_name_prefix="audit-writer")
        in_flight: InFlight | None = None
        try:
            while not stop.is_set():
                batch = consumer.consume(
                    self.settings.audit_batch_size, self.settings.poll_timeout_s
                )
                records = records_in(batch)
                prepared = self._prepare(consumer, producer, records, stop) if records else None
                if in_flight is not None:
                    done, in_flight = in_flight, None
                    if not self._commit_when_written(consumer, pool, done, stop):
                        break
                if prepared is not None:
                    in_flight = InFlight(
                        records, prepared, pool.submit(self.writer.append_batch, prepared)
                    )
        finally:
            if in_flight is not None:  # leaving: commit it if written, but retry no more
                self._commit_when_written(consumer, pool, in_flight, _LEAVING)
            pool.shutdown(wait=True)
            consumer.close()
            producer.flush(10)
            self._sign_heads()

    def _sign_heads(self) -> None:
        try:
            self.writer.checkpoint()
        except RetryableError as exc:
            log.warning("final checkpoint not written (%s); the next one covers it", exc)

    def _prepare(
        self, consumer: Consumer, producer: Producer, batch: list[Message], stop: threading.Event
    ) -> list[Prepared] | None:
        """Steps 1-2: the batch's rows, sealed and serialized (None when stopping first)."""
        rows = self._until_done(consumer, stop, lambda: self._rows(producer, batch))
        if rows is None:
            return None
        return self._until_done(consumer, stop, lambda: self.writer.prepare_batch(rows))

    def _commit_when_written(
        self, consumer: Consumer, pool: ThreadPoolExecutor, batch: InFlight, stop: threading.Event
    ) -> bool:
        """Step 4 once the writer thread has done step 3 for ``batch`` (retried, paused, while
        the database fails); False when stopping with the batch unwritten."""

        def written() -> int:
            if batch.future is None:  # a retry: hand the same rows to the writer again
                batch.future = pool.submit(self.writer.append_batch, batch.prepared)
            future, batch.future = batch.future, None
            return future.result()

        inserted = self._until_done(consumer, stop, written)
        if inserted is None:
            return False  # offsets stay uncommitted: the batch is read again
        log.debug("recorded %d new of %d events", inserted, len(batch.prepared))
        metrics.audit_rows.inc(inserted)
        metrics.audit_duplicates.inc(len(batch.prepared) - inserted)
        try:
            consumer.commit(asynchronous=False, offsets=next_offsets(batch.records))
        except KafkaException as exc:
            # e.g. partitions revoked by a rebalance: their new owner re-reads the batch and
            # the database skips what is already recorded.
            log.warning("offset commit failed after the database commit: %s", exc)
        metrics.processed.labels(NAME).inc(len(batch.records))
        return True

    def _rows(self, producer: Producer, batch: list[Message]) -> list[AuditRow]:
        rows: list[AuditRow] = []
        dead_lettered = 0
        for msg in batch:
            try:
                rows.append(audit_row(msg))
            except PoisonMessage as exc:
                if is_dead_letter(msg.topic()):
                    rows.append(undecodable_row(msg, exc))
                    continue
                log.warning("audit sink: %s -> dead letter: %s", coordinates(msg), exc)
                record = dead_letter(msg, exc, NAME)
                producer.produce(
                    msg.topic() + DLQ_SUFFIX,
                    key=record["envelope"]["subject_id"].encode(),
                    value=self.codec.encode("DeadLetter", record),
                )
                metrics.dead_letters.labels(NAME, msg.topic()).inc()
                dead_lettered += 1
        if dead_lettered and producer.flush(30) > 0:
            raise RetryableError("dead letters not delivered within 30 s")
        return rows

    def _until_done(
        self, consumer: Consumer, stop: threading.Event, attempt: Callable[[], T]
    ) -> T | None:
        """``attempt()`` until it succeeds; while the database fails, consumption is paused
        and the attempt retried with back-off. None when stopping first."""
        delay, paused = 0.5, False
        try:
            while True:
                try:
                    return attempt()
                except RetryableError as exc:
                    metrics.retries.labels(NAME).inc()
                    log.warning("audit write failed (%s); pausing, retry in %.1fs", exc, delay)
                    # Pause everything assigned now (a rebalance may have added partitions
                    # since the last try), then poll to stay in the group. A record that poll
                    # still returns is not ours to drop: seek back so it is read again later.
                    consumer.pause(consumer.assignment())
                    paused = True
                    kept_alive = consumer.poll(0)
                    if kept_alive is not None and kept_alive.error() is None:
                        consumer.seek(
                            TopicPartition(
                                kept_alive.topic(), kept_alive.partition(), kept_alive.offset()
                            )
                        )
                    if stop.wait(delay):
                        return None
                    delay = min(delay * 2, 10.0)
        finally:
            if paused:
                consumer.resume(consumer.assignment())


def main(settings: Settings, stop: threading.Event) -> None:
    engine = connect(settings.database_dsn)
    require_database(engine)
    kafka_io.require_broker(settings)
    create_schema(engine)
    AuditSink(settings, engine).run(stop)
