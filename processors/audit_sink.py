"""Audit sink: every event of every topic, into PostgreSQL, exactly once.

For each batch, in this order:

1. consume up to ``batch_size`` records from all topics (committed transactions only);
2. turn each into an audit row. A record that does not decode goes to ``<topic>.dlq``
   (flushed before step 3) and is audited from there; garbage on a dead-letter topic itself is
   recorded as an ``Undecodable`` row with its original bytes;
3. write the rows in one database transaction, skipping events already recorded;
4. only then commit the consumed offsets to Kafka.

A crash between any two steps replays the batch, and step 3 records each event once. When
PostgreSQL is down, consumption pauses and the same batch is retried until it is written:
an infrastructure failure never dead-letters and never commits offsets.
"""

from __future__ import annotations

import logging
import threading

from confluent_kafka import Consumer, KafkaException, Message, Producer
from sqlalchemy import Engine

from compliance import kafka_io, metrics
from compliance.audit.store import AuditRow, connect, create_schema, require_database, write_batch
from compliance.codec import HEADER_LEN, registry
from compliance.config import Settings
from compliance.errors import PoisonMessage, RetryableError
from compliance.events import derive_event_id, now, to_json_safe
from compliance.runner import coordinates, dead_letter, next_offsets, records_in
from compliance.topics import DLQ_SUFFIX, every_topic, is_dead_letter

log = logging.getLogger(__name__)
NAME = "audit-sink"


def audit_row(msg: Message) -> AuditRow:
    """The audit row for one decodable record; raises PoisonMessage otherwise."""
    event_type, record = registry().decode(msg.value())
    env = record["envelope"]
    key = msg.key()
    return AuditRow(
        event_id=env["event_id"],
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
        payload=to_json_safe(record),
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


class AuditSink:
    def __init__(self, settings: Settings, engine: Engine) -> None:
        self.settings = settings
        self.engine = engine
        self.codec = registry()
        self.topics = [settings.topic(spec) for spec in every_topic()]

    def run(self, stop: threading.Event) -> None:
        consumer = kafka_io.consumer(self.settings, self.settings.group(NAME))
        producer = kafka_io.idempotent_producer(self.settings)
        kafka_io.subscribe(consumer, self.topics)
        log.info("audit sink consuming %d topics", len(self.topics))
        try:
            while not stop.is_set():
                batch = consumer.consume(self.settings.batch_size, self.settings.poll_timeout_s)
                records = records_in(batch)
                if records:
                    self._record(consumer, producer, records, stop)
        finally:
            consumer.close()
            producer.flush(10)

    def _record(
        self, consumer: Consumer, producer: Producer, batch: list[Message], stop: threading.Event
    ) -> None:
        rows = self._rows(producer, batch)
        if not self._write_until_done(consumer, rows, stop):
            return  # stopping with the batch unwritten: offsets stay uncommitted
        try:
            consumer.commit(asynchronous=False, offsets=next_offsets(batch))
        except KafkaException as exc:
            # e.g. partitions revoked by a rebalance: their new owner re-reads the batch and
            # the database skips what is already recorded.
            log.warning("offset commit failed after the database commit: %s", exc)
        metrics.processed.labels(NAME).inc(len(batch))

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

    def _write_until_done(
        self, consumer: Consumer, rows: list[AuditRow], stop: threading.Event
    ) -> bool:
        delay, paused = 0.5, False
        try:
            while True:
                try:
                    inserted = write_batch(self.engine, rows)
                    log.debug("recorded %d new of %d events", inserted, len(rows))
                    metrics.audit_rows.inc(inserted)
                    metrics.audit_duplicates.inc(len(rows) - inserted)
                    return True
                except RetryableError as exc:
                    metrics.retries.labels(NAME).inc()
                    log.warning("audit write failed (%s); pausing, retry in %.1fs", exc, delay)
                    if not paused:
                        consumer.pause(consumer.assignment())
                        paused = True
                    consumer.poll(0)  # stay in the group while paused
                    if stop.wait(delay):
                        return False
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
