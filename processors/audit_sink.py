"""Audit sink: every event of every topic, into PostgreSQL, exactly once.

For each batch, in this order:

1. consume up to ``audit_batch_size`` records from all topics (committed transactions only;
   the client's fetch queue is bounded too, so a burst never grows memory);
2. turn each into an audit row, its personal fields sealed with the subject's key, serialized,
   with a hash of its content (``compliance.audit.writer.content_hash_of``). A record that
   does not decode is recorded as an ``Undecodable`` row with its original bytes and why; it
   is not dead-lettered here: the processor that consumes its topic dead-letters it, once
   (the sink is a recorder, not a stage; two dead letters per bad input is what readers of
   ``.dlq`` topics saw before);
3. write the rows, skipping events already recorded with the same content (an id seen again
   with other content is a conflict: written as a row of its own and listed in
   ``audit_event_conflicts``), each hash-chained to the previous row of its (topic,
   partition), through ``audit_write_connections`` transactions over whole chains at once. A
   row the database refuses for its content (``compliance.db_errors``, e.g. a key too long
   for an index) is narrowed down by replaying the batch in parts and goes to
   ``<topic>.dlq`` with the reason; the rest is written. Chain heads are signed every
   ``audit_checkpoint_interval_s``, idle or not, and at start-up (``compliance.audit.writer``);
4. only then commit the consumed offsets to Kafka.

The steps overlap: a writer thread does step 3 of batch N while batch N+1 waits its turn and
step 2 of batch N+2 runs (in a thread, or in ``audit_prepare_processes`` processes of its own
where cores are spare), so at most three batches are in hand. Batches are written in the
order consumed (one whose predecessor failed is not written before it), and step 4 of each
waits for its step 3.

A crash between any two steps replays the batch, and step 3 records each event once. When
PostgreSQL is down or failing, consumption pauses and the same batch is retried until it is
written: an infrastructure failure never dead-letters and never commits offsets. Partitions are
the unit of parallelism: each copy of the sink extends the chains of the partitions it owns.
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import multiprocessing
import os
import re
import signal
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from typing import NamedTuple, TypeVar

import psycopg2.errors
from confluent_kafka import (
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)
from sqlalchemy import Engine
from sqlalchemy.exc import ProgrammingError

from compliance import health, kafka_io, metrics
from compliance.audit.checkpoints import signing_key
from compliance.audit.store import AuditRow, AuditWriter, connect, create_schema, require_database
from compliance.audit.writer import Outcome, Prepared, Preparer, Refused
from compliance.codec import HEADER_LEN, registry
from compliance.config import Settings
from compliance.dead_letters import dead_letter
from compliance.errors import ConfigurationError, PoisonMessage, RetryableError
from compliance.events import derive_event_id, now
from compliance.runner import (
    CLOSE_DEADLINE_S,
    STOP_GRACE_S,
    coordinates,
    next_offsets,
    records_in,
)
from compliance.subject_keyring import sealing_codec
from compliance.topics import DLQ_SUFFIX, every_topic, is_dead_letter
from compliance.watchdog import Watchdog

log = logging.getLogger(__name__)
NAME = "audit-sink"
# Upper bound of records the client prefetches beyond the batch in hand, in kilobytes.
FETCH_QUEUE_KBYTES = 32 * 1024
# Allocations between two runs of the cycle collector's youngest generation (default 700).
GC_THRESHOLD = 200_000
# Batches handed to the writer thread and not yet committed: while it writes the oldest, the
# next is ready to go, and the one after that is being prepared.
WRITE_QUEUE = 2
# A synchronous offset commit still blocked this long ends the process (status 3): the
# client cannot be interrupted, and the batch is read again (and skipped) after a restart.
OFFSET_COMMIT_DEADLINE_S = 60.0
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


class Outgoing(NamedTuple):
    """A dead letter on its way: sent again when the client reports it undelivered."""

    topic: str
    key: bytes
    value: bytes


class Consumed(NamedTuple):
    """What the sink needs of a consumed record, as plain values that cross to the preparing
    process cheaply."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None

    @classmethod
    def of(cls, msg: Message) -> Consumed:
        return cls(*place(msg), msg.key(), msg.value())


def place(msg: Message) -> tuple[str, int, int]:
    """(topic, partition, offset) of a consumed record (never None for one without error)."""
    topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
    assert topic is not None and partition is not None and offset is not None, "a record"
    return topic, partition, offset


# The writer schema's fingerprint as the trail spells it, for each one seen (a few dozen).
_FINGERPRINTS: dict[bytes, str] = {}


def audit_row(record: Consumed) -> AuditRow:
    """The audit row for one decodable record; raises PoisonMessage otherwise."""
    value = record.value
    event_type, event = registry().decode(value)
    env = event["envelope"]
    key = record.key
    fingerprint = value[2:HEADER_LEN] if value else b""  # decoded: there is a header
    spelled = _FINGERPRINTS.get(fingerprint)
    if spelled is None:
        spelled = _FINGERPRINTS[fingerprint] = fingerprint.hex()
    return AuditRow(  # positional: a row per event, tens of thousands a second
        _event_id(env["event_id"]),
        event_type,
        record.topic,
        record.partition,
        record.offset,
        key.decode("utf-8", "replace") if key else None,
        env["correlation_id"],
        env["causation_id"],
        env["subject_id"],
        env["occurred_at"],
        spelled,
        event,
    )


def undecodable_row(record: Consumed, error: Exception | str) -> AuditRow:
    """A record that cannot be read (or recorded as read): kept verbatim, identified by
    where it sat."""
    source = f"{record.topic}/{record.partition}/{record.offset}"
    return AuditRow(
        event_id=derive_event_id("undecodable", source),
        event_type="Undecodable",
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        kafka_key=None,
        correlation_id=source,
        causation_id=None,
        subject_id=None,
        occurred_at=now(),
        schema_fingerprint=None,
        payload={"error": str(error)},
        raw_value=record.value,
    )


# Step 2's result for a slice of a batch: its rows ready to chain, and the records refused a
# subject key by the database for their content (dead-lettered like rows refused later).
PreparedSlice = tuple[list[Prepared], list[Refused]]
# Step 2 of a batch under way: its slices' results to come, in order.
Preparing = list[Future[PreparedSlice]]

# The preparing process's own database connection and key cache (it seals with the subjects'
# keys and makes sure the month partitions exist). Set by ``start_preparing``.
_PREPARER: Preparer | None = None


def start_preparing(dsn: str, log_level: str) -> None:
    """Initializer of the preparing process (or thread, with ``audit_prepare_processes=0``)."""
    global _PREPARER
    if multiprocessing.parent_process() is not None:
        _leave_with_the_sink(os.getppid())
        # Stopping is the parent's decision: it signals its own stop event, then shuts the
        # pool down; a terminal's Ctrl-C must not kill a batch half prepared.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        logging.basicConfig(
            level=log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s"
        )
        quiet_cycle_collector()
    _PREPARER = Preparer(connect(dsn))


def _leave_with_the_sink(sink_pid: int) -> None:
    """A sink killed with SIGKILL cannot shut its pool down: its preparing process notices
    it was orphaned within a second and exits rather than linger."""

    def watch() -> None:
        while os.getppid() == sink_pid:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="sink-watch", daemon=True).start()


def prepare_records(records: list[Consumed]) -> PreparedSlice:
    """Step 2 for a batch, in the preparing process: decode each record (one that does not
    decode is kept verbatim, with why), then seal and serialize the rows. Raises
    RetryableError when the database is unavailable."""
    assert _PREPARER is not None, "start_preparing() runs first"
    rows: list[AuditRow] = []
    for record in records:
        try:
            rows.append(audit_row(record))
        except PoisonMessage as exc:
            log.warning(
                "audit sink: %s/%d/%d does not decode; recorded verbatim: %s",
                record.topic,
                record.partition,
                record.offset,
                exc,
            )
            metrics.audit_undecodable.inc()
            rows.append(undecodable_row(record, exc))
    prepared = _PREPARER.prepare_batch(rows, owned=True)  # decoded here, ours to seal
    return prepared, _PREPARER.refused


@dataclass
class InFlight:
    """A batch handed to the writer thread: its records (for the offsets), its rows, and the
    rows the database refused, once written (dead-lettered before the offsets commit)."""

    records: list[Message]
    prepared: list[Prepared]
    future: Future[Outcome] | None
    refused: list[Refused] = dataclasses.field(default_factory=list)

    def written(self) -> bool:
        return self.future is not None and self.future.done()


def preparing_pool(settings: Settings) -> Executor:
    """Where step 2 runs: ``audit_prepare_processes`` processes of their own (started fresh,
    not forked from a process holding Kafka clients), or a thread when it is 0."""
    args = (settings.audit_database_dsn, settings.log_level)
    if settings.audit_prepare_processes == 0:
        return ThreadPoolExecutor(1, "audit-prepare", initializer=start_preparing, initargs=args)
    return ProcessPoolExecutor(
        settings.audit_prepare_processes,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=start_preparing,
        initargs=args,
    )


class AuditSink:
    def __init__(self, settings: Settings, engine: Engine) -> None:
        self.settings = settings
        self.watchdog = Watchdog(NAME)
        self.codec = sealing_codec(engine)  # seals the dead letters it sends
        self.topics = [settings.topic(spec) for spec in every_topic()]
        self.writer = AuditWriter(
            engine,
            signing_key(settings),
            settings.audit_checkpoint_interval_s,
            connections=settings.audit_write_connections,
        )
        self.parts = max(1, settings.audit_prepare_processes)
        # Rows recorded in place of records the database refused from a dead-letter topic.
        self.fallback = Preparer(engine)
        self._undelivered: list[Outgoing] = []

    def run(self, stop: threading.Event) -> None:
        preparing = preparing_pool(self.settings)  # starts while the consumer joins its group
        consumer = kafka_io.consumer(
            self.settings,
            self.settings.group(NAME),
            **{"queued.max.messages.kbytes": FETCH_QUEUE_KBYTES},
            **health.KafkaStatistics(NAME).config(self.settings.metrics_stats_interval_ms),
        )
        producer = kafka_io.idempotent_producer(self.settings)
        kafka_io.subscribe(consumer, self.topics)
        self.watchdog.stop_within(stop, STOP_GRACE_S)  # a stuck Kafka call ends after SIGTERM
        log.info("audit sink consuming %d topics", len(self.topics))
        self._sign_heads_behind()
        writing = ThreadPoolExecutor(1, thread_name_prefix="audit-writer")
        in_flight: deque[InFlight] = deque()
        try:
            while not stop.is_set():
                batch = consumer.consume(
                    self.settings.audit_batch_size, self.settings.poll_timeout_s
                )
                health.state.polled()
                records = records_in(batch)
                preparing_next = self._submit_prepare(preparing, records) if records else None
                # Commit what is written; wait for the oldest only when the queue is full.
                while in_flight and (in_flight[0].written() or len(in_flight) >= WRITE_QUEUE):
                    if not self._commit_when_written(
                        consumer, producer, writing, in_flight[0], stop
                    ):
                        return
                    in_flight.popleft()
                if preparing_next is None:
                    if not in_flight:  # idle: the writer thread is free, sign what is due
                        writing.submit(self.writer.checkpoint_if_due).result()
                    continue
                done = self._prepared(consumer, preparing, records, preparing_next, stop)
                if done is None:
                    return
                previous = in_flight[-1].future if in_flight else None
                flight = InFlight(records, done[0], None, done[1])
                flight.future = writing.submit(self._write, previous, flight)
                in_flight.append(flight)
        finally:
            try:
                # Leaving: commit the batches written, in order, up to the first that is not
                # (its offsets and those after it stay uncommitted); retry no more.
                for leftover in in_flight:
                    if not self._commit_when_written(
                        consumer, producer, writing, leftover, _LEAVING
                    ):
                        break
            finally:
                writing.shutdown(wait=True)
                self.writer.close()
                preparing.shutdown(wait=True, cancel_futures=True)
                self.watchdog.run("closing the consumer", consumer.close, CLOSE_DEADLINE_S)
                producer.flush(10)
                self._sign_heads()

    def _write(self, previous: Future[Outcome] | None, batch: InFlight) -> Outcome:
        """Step 3 on the writer thread, where batches run in the order handed over: a batch
        whose predecessor failed is not written before it (chains follow the offsets), and
        both are retried in order. A row refused from a dead-letter topic is recorded in
        place, verbatim (a dead letter of a dead letter would go nowhere)."""
        if previous is not None and previous.exception() is not None:
            raise RetryableError("the batch before this one is not written yet")
        outcome = self.writer.append_batch(batch.prepared) + Outcome(rejected=batch.refused)
        in_place = [r for r in outcome.rejected if is_dead_letter(r.topic)]
        if not in_place:
            return outcome
        records = {place(m): m for m in batch.records}
        rows = [undecodable_row(Consumed.of(records[r[:3]]), r.why) for r in in_place]
        verbatim = self.writer.append_batch(self.fallback.prepare_batch(rows))
        if verbatim.rejected or self.fallback.refused:
            raise RuntimeError(
                "the database refused even the verbatim record of a dead letter: "
                + (verbatim.rejected or self.fallback.refused)[0].why
            )
        return Outcome(
            outcome.written + verbatim.written,
            outcome.duplicates + verbatim.duplicates,
            outcome.conflicts + verbatim.conflicts,
            [r for r in outcome.rejected if not is_dead_letter(r.topic)],
        )

    def _sign_heads(self) -> None:
        try:
            self.writer.checkpoint()
        except RetryableError as exc:
            log.warning("final checkpoint not written (%s); the next one covers it", exc)

    def _sign_heads_behind(self) -> None:
        """Rows written just before a crash are signed now, not when their chain next grows."""
        try:
            signed = self.writer.sign_heads_behind(self.topics)
        except RetryableError as exc:
            log.warning("unsigned chain heads not signed at start (%s)", exc)
            return
        if signed:
            log.info("signed %d chain head(s) no checkpoint covered yet", signed)

    def _submit_prepare(self, pool: Executor, batch: list[Message]) -> Preparing:
        """Hand step 2 of ``batch`` to the preparing pool, in as many slices as it has
        processes: (where each slice starts in the batch, its result to come)."""
        # Spelled out (not ``Consumed.of``): one call less per record, every record.
        records = [
            Consumed(m.topic(), m.partition(), m.offset(), m.key(), m.value()) for m in batch
        ]
        size = -(-len(records) // self.parts)
        return [
            pool.submit(prepare_records, records[start : start + size])
            for start in range(0, len(records), size)
        ]

    def _prepared(
        self,
        consumer: Consumer,
        pool: Executor,
        batch: list[Message],
        preparing: Preparing,
        stop: threading.Event,
    ) -> PreparedSlice | None:
        """Step 2's result for ``batch`` (retried, paused, while the database fails); None
        when stopping first."""
        pending: Preparing | None = preparing

        def attempt() -> PreparedSlice:
            nonlocal pending
            if pending is None:  # a retry: prepare the whole batch again
                pending = self._submit_prepare(pool, batch)
            slices, pending = pending, None
            prepared: list[Prepared] = []
            refused: list[Refused] = []
            for future in slices:
                rows, refusals = future.result()
                prepared += rows
                refused += refusals
            return prepared, refused

        return self._until_done(consumer, stop, attempt)

    def _commit_when_written(
        self,
        consumer: Consumer,
        producer: Producer,
        pool: ThreadPoolExecutor,
        batch: InFlight,
        stop: threading.Event,
    ) -> bool:
        """Step 4 once the writer thread has done step 3 for ``batch`` (retried, paused, while
        the database fails) and the rows it refused are dead-lettered (only the delivery is
        retried while the broker fails); False when stopping first."""

        def written() -> Outcome:
            if batch.future is None:  # a retry: hand the same rows to the writer again
                batch.future = pool.submit(self._write, None, batch)
            future, batch.future = batch.future, None
            return future.result()

        outcome = self._until_done(consumer, stop, written)
        if outcome is None:
            return False  # offsets stay uncommitted: the batch is read again
        if outcome.rejected:
            refused = outcome.rejected
            # Sealing a dead letter reads its subject's key: that may wait for the database.
            letters = self._until_done(
                consumer, stop, lambda: self._dead_letters(batch.records, refused)
            )
            if letters is None:
                return False
            for letter in letters:
                self._send(producer, letter)
            if self._until_done(consumer, stop, lambda: self._delivered(producer)) is None:
                return False  # read again: refused again, dead-lettered again, same bytes
        log.debug("recorded %d new of %d events", outcome.written, len(batch.prepared))
        metrics.audit_rows.inc(outcome.written)
        metrics.audit_duplicates.inc(outcome.duplicates)
        metrics.audit_conflicts.inc(outcome.conflicts)
        offsets = next_offsets(batch.records)
        try:
            self.watchdog.run(
                "committing offsets",
                lambda: consumer.commit(asynchronous=False, offsets=offsets),
                OFFSET_COMMIT_DEADLINE_S,
            )
        except KafkaException as exc:
            # e.g. partitions revoked by a rebalance: their new owner re-reads the batch and
            # the database skips what is already recorded.
            log.warning("offset commit failed after the database commit: %s", exc)
        metrics.bind(metrics.processed, NAME).inc(len(batch.records))
        for topic, count in Counter(msg.topic() or "" for msg in batch.records).items():
            metrics.bind(metrics.records_in, NAME, topic).inc(count)
        return True

    def _dead_letters(self, records: list[Message], refused: list[Refused]) -> list[Outgoing]:
        """The dead letter of each record the database refused, for ``<topic>.dlq`` with why
        (the sink audits it from there; one sent again after a crash is a duplicate there,
        not a conflict)."""
        by_place = {place(m): m for m in records}
        letters = []
        for where in refused:
            msg = by_place[where[:3]]
            record = dead_letter(msg, PoisonMessage(where.why), NAME)
            letters.append(
                Outgoing(
                    where.topic + DLQ_SUFFIX,
                    record["envelope"]["subject_id"].encode(),
                    self.codec.encode("DeadLetter", record),
                )
            )
        for where in refused:  # counted and logged once they are all built
            msg = by_place[where[:3]]
            log.warning("audit sink: %s -> dead letter: %s", coordinates(msg), where.why)
            metrics.bind(metrics.dead_letters, NAME, where.topic, "DatabaseRefused").inc()
        return letters

    def _send(self, producer: Producer, letter: Outgoing) -> None:
        def reported(err: KafkaError | None, _: Message) -> None:
            if err is not None:  # given up on by the client: sent again by the next try
                self._undelivered.append(letter)

        producer.produce(letter.topic, key=letter.key, value=letter.value, on_delivery=reported)

    def _delivered(self, producer: Producer) -> bool:
        """Wait for the dead letters produced; only this is retried while the broker fails
        (never the batch's preparation or write): those still queued are waited for again,
        those the client gave up on are sent again."""
        queued = producer.flush(30)
        failed, self._undelivered = self._undelivered, []
        for letter in failed:
            self._send(producer, letter)
        if queued > 0 or failed:
            raise RetryableError(f"{queued + len(failed)} dead letter(s) not delivered yet")
        return True

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
                    metrics.bind(metrics.retries, NAME).inc()
                    log.warning("audit write failed (%s); pausing, retry in %.1fs", exc, delay)
                    # Pause everything assigned now (a rebalance may have added partitions
                    # since the last try), then poll to stay in the group. A record that poll
                    # still returns is not ours to drop: seek back so it is read again later.
                    consumer.pause(consumer.assignment())
                    paused = True
                    health.state.set_paused(True)
                    kept_alive = consumer.poll(0)
                    health.state.polled()
                    if kept_alive is not None and kept_alive.error() is None:
                        consumer.seek(TopicPartition(*place(kept_alive)))
                    if stop.wait(delay):
                        return None
                    delay = min(delay * 2, 10.0)
        finally:
            if paused:
                consumer.resume(consumer.assignment())
                health.state.set_paused(False)


def quiet_cycle_collector() -> None:
    """The sink allocates tens of thousands of short-lived dicts per batch and makes no
    reference cycles of its own: with the default thresholds the cycle collector runs every
    few hundred allocations and walks the batch in hand each time (a third of the sink's CPU
    in a profile). Objects alive after start-up are frozen out of its sight and it runs
    rarely; reference counting still frees every batch as soon as it is written."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD, 20, 20)


def main(settings: Settings, stop: threading.Event) -> None:
    # A connection for each parallel write and one for checkpoints, none waited for.
    engine = connect(settings.audit_database_dsn, pool_size=settings.audit_write_connections + 1)
    require_database(engine)
    kafka_io.require_broker(settings)
    require_schema(engine)
    health.state.add_check("database", health.database_check(engine))
    sink = AuditSink(settings, engine)
    quiet_cycle_collector()
    sink.run(stop)


def require_schema(engine: Engine) -> None:
    """Bring the schema to the newest migration, or, connected as an append-only role that
    may not, stop with what to run."""
    try:
        create_schema(engine)
    except ProgrammingError as exc:
        if not isinstance(exc.orig, psycopg2.errors.InsufficientPrivilege):
            raise
        raise ConfigurationError(
            f"the audit schema needs a migration that role {engine.url.username!r} may not "
            "run: run `compliance db init` with the owner's COMPLIANCE_ADMIN_DATABASE_URL (it "
            "migrates the schema and grants the sink's role)"
        ) from None
