"""The one loop that does the Kafka work for a stage: consume, decode, call, produce, commit.

A stage is a plain function ``(event_type, record) -> list[Outgoing]`` with no Kafka in it.
The commit order, for every batch, is:

1. for each record: decode it and call the stage (one at a time, or up to ``concurrency``
   records at once for stages that wait on I/O, such as an LLM call). What an error means is
   decided in one place, ``compliance.errors.action_for``:

   - a content error (the record does not decode, an identifier is past its bound, the stage
     rejects the record as poison) gives a dead letter for ``<topic>.dlq`` with the reason,
     and, when the record decoded into a document, an exception event naming that document
     for an officer;
   - an infrastructure error fails the batch, which is retried (below);
   - anything else is a bug (or a schema our code does not expect): the process stops with
     one line naming ``topic[partition]@offset``, nothing of the batch committed, so a bad
     deploy never drains the input topic into its dead-letter topic.

   Nothing is produced yet, so a slow stage never holds a transaction open;
2. the dead-letter breaker (``compliance.dead_letter_breaker``) may refuse the batch: too many
   dead letters at once are a bad deploy, not bad records; the process stops, nothing
   committed;
3. begin a Kafka transaction and produce every output, in the order of the batch;
4. add the consumed offsets to the transaction;
5. commit the transaction: outputs, dead letters and offsets become visible together, or not
   at all.

If a step fails with a retryable error, the transaction is aborted, the consumer is rewound
to the start of the batch and, after a back-off, polls the same records again: nothing is
skipped, nothing is produced twice, and nothing is dead-lettered for an infrastructure
failure. A commit that fails with a retriable Kafka error (a coordinator moving, a request
timing out) is itself retried a few times first. Sending the offsets is not: after a broker
restart, confluent-kafka 2.16.1 was seen to block without end in a retried
``send_offsets_to_transaction``, while aborting and replacing the producer recovers.

When the transaction's outcome is unknown (the commit still failing after its retries), or
the producer is unusable (a fatal error: fenced after a long outage), the runner never goes
on as if committed, nor retries blindly: it replaces the producer with a new one under the
same transactional id, whose initialisation finishes or aborts whatever the old one left
open, and rewinds the consumer to the offsets the group has actually committed. After
``MAX_PRODUCER_RESETS`` such recoveries without a commit in between, the process stops with
one line for its supervisor.

Every transaction call runs under a watchdog (``compliance.watchdog``): the Kafka client has
been seen blocking forever in ``send_offsets_to_transaction`` after a broker restart, despite
its timeout. A call still blocked past its deadline ends the process with status 3, so it
never hangs; its uncommitted batch is read again by its successor. On SIGTERM the runner
finishes the current batch and stops; a Kafka call still blocked ``STOP_GRACE_S`` after the
signal ends the process (status 3) rather than let it ignore the signal, and closing the
clients is watched too.

A stage may instead take the whole batch (``batch_stage``): the runner decodes every record
(an undecodable one gets its dead letter as above), calls the batch stage once with the
decoded ``(event_type, record)`` pairs in batch order, and gets one entry back per pair:
its outputs, or the ``PoisonMessage`` saying why that record goes to the dead-letter topic.
Such a stage can read and write what the whole batch needs in one round trip each.

A stage run with ``stamp_in_input_order`` gets its outputs' ``occurred_at`` from the runner,
not from the moment each record happened to finish: times are taken when the batch is
dispatched, in record order, and strictly increase within a partition, across batches and
across processes (see ``InputOrderClock``). Records of one subject share a partition, so with
many records in the stage at once their decisions are still dated in the order they arrived.
"""

from __future__ import annotations

import logging
import signal
import socket
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any, NoReturn

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from compliance import health, kafka_io, metrics
from compliance.codec import Record, SchemaRegistry, registry
from compliance.config import Settings
from compliance.dead_letter_breaker import DeadLetterBreaker
from compliance.dead_letters import dead_letter
from compliance.errors import (
    Action,
    ConfigurationError,
    DeadLetterRateExceeded,
    PoisonMessage,
    RetryableError,
    StageFailed,
    TransactionsUnrecoverable,
    action_for,
)
from compliance.events import subject_key
from compliance.exceptions import exception_event
from compliance.input_order_clock import (
    InputOrderClock,
    Partition,
    clock_metadata,
    clock_of_metadata,
)
from compliance.outgoing import Outgoing
from compliance.topics import DLQ_SUFFIX
from compliance.watchdog import Watchdog

log = logging.getLogger(__name__)


Stage = Callable[[str, Record], Sequence[Outgoing]]
# Per decoded record, in order: its outputs, or why it is poison (it goes to dead letters).
BatchStage = Callable[[Sequence[tuple[str, Record]]], Sequence[Sequence[Outgoing] | PoisonMessage]]


def coordinates(msg: Message) -> str:
    return f"{msg.topic()}[{msg.partition()}]@{msg.offset()}"


# Attempts of a commit failing with retriable errors, in the same transaction.
COMMIT_ATTEMPTS = 5
# Producer recoveries (a new producer, the consumer rewound to the committed offsets) in a row
# without a commit before the process gives up and stops for its supervisor.
MAX_PRODUCER_RESETS = 3
# Closing the clients on the way out may take this long before the watchdog ends the process.
CLOSE_DEADLINE_S = 30.0
# Once asked to stop, a Kafka call still blocked this long after the signal ends the process.
STOP_GRACE_S = 20.0


def install_stop_signals(stop: threading.Event) -> None:
    """SIGTERM and SIGINT set ``stop``: the runner finishes its batch and leaves. Python runs
    a signal handler only when the main thread runs Python code, and a main thread stuck in a
    native call never would; so the signal also reaches a thread through the wakeup fd, which
    sets ``stop`` at once, and the runner's watchdog then bounds how long a stuck call may
    still hold the process (``STOP_GRACE_S``)."""

    def _stop(signum: int, _frame: Any) -> None:
        log.info("signal %s received: finishing the current batch, then stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    reader, writer = socket.socketpair()
    writer.setblocking(False)
    signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    stopping = {signal.SIGTERM.value, signal.SIGINT.value}

    def _hear(keep_open: socket.socket) -> None:  # the writer must outlive this function
        while not stop.is_set():
            if stopping.intersection(reader.recv(64)):
                stop.set()

    threading.Thread(target=_hear, args=(writer,), name="stop-signals", daemon=True).start()


class _InDoubt(Exception):
    """The transaction's outcome is unknown or the producer unusable: recover the producer."""


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
        batch_stage: BatchStage | None = None,
        codec: SchemaRegistry | None = None,
    ) -> None:
        self.name = name
        self.settings = settings
        self.input_topics = list(input_topics)
        self.stage = stage
        self.batch_stage = batch_stage  # when given, used instead of ``stage``
        self.codec = codec or registry()  # with a keyring: personal fields sealed (sealing.py)
        self.backoff_s = 0.5
        self._delay = self.backoff_s
        self.concurrency = concurrency
        self.batch_size = batch_size or settings.batch_size
        self.clock = InputOrderClock() if stamp_in_input_order else None
        self.commit_attempts = COMMIT_ATTEMPTS
        self.commit_backoff_s = 0.2
        self.call_timeout_s = settings.transaction_call_timeout_s
        self.watchdog = Watchdog(name)
        self.breaker = DeadLetterBreaker(
            settings.dead_letter_limit,
            settings.dead_letter_window_s,
            settings.dead_letter_batch_limit,
        )
        self.transactional_id = f"{settings.group(name)}.{settings.instance_id}"
        self._resets = 0
        self._pool = ThreadPoolExecutor(concurrency, name) if concurrency > 1 else None
        # Metrics bound once (no label look-up per record); no-ops when metrics are disabled.
        self._timed = metrics.enabled()
        self._processed = metrics.bind(metrics.processed, name)
        self._stage_seconds = metrics.timings(metrics.stage_seconds, name)
        self._batch_seconds = metrics.observer(metrics.batch_seconds, name)
        self._batch_records = metrics.observer(metrics.batch_records, name)
        self._statistics = health.KafkaStatistics(name)

    def new_producer(self) -> Producer:
        """A transactional producer under this runner's id, initialised under the watchdog."""
        return kafka_io.transactional_producer(self.settings, self.transactional_id, self.watchdog)

    def run(self, stop: threading.Event) -> None:
        consumer = kafka_io.consumer(
            self.settings,
            self.settings.group(self.name),
            **self._statistics.config(self.settings.metrics_stats_interval_ms),
        )
        producer = self.new_producer()
        kafka_io.subscribe(consumer, self.input_topics, on_revoke=self._revoked)
        self.watchdog.stop_within(stop, STOP_GRACE_S)
        log.info("%s consuming %s", self.name, ",".join(self.input_topics))
        try:
            while not stop.is_set():
                batch = consumer.consume(self.batch_size, self.settings.poll_timeout_s)
                health.state.polled()
                records = records_in(batch)
                if records:
                    producer = self._process_or_rewind(consumer, producer, records, stop)
        finally:
            health.state.set_stopping()
            self.watchdog.run("closing the consumer", consumer.close, CLOSE_DEADLINE_S)
            self._discard(producer)
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)

    def _revoked(self, partitions: list[TopicPartition]) -> None:
        if self.clock is not None:
            self.clock.forget((tp.topic, tp.partition) for tp in partitions)

    def _process_or_rewind(
        self, consumer: Consumer, producer: Producer, batch: list[Message], stop: threading.Event
    ) -> Producer:
        """Commit the batch, or rewind the consumer and back off: the next poll then returns
        the same records (those of partitions still ours) and they are retried. Retrying from
        the consumer, not from the batch in memory, keeps the consumer's position right (a
        rewound position left behind a committed batch would deliver it a second time) and
        keeps polling while waiting, so the group does not drop us. Returns the producer to
        go on with: the same one, or a new one after a recovery."""
        try:
            self._process_in_transaction(consumer, producer, batch)
        except RetryableError as exc:
            log.warning("%s: batch failed (%s); retrying in %.1fs", self.name, exc, self._delay)
            _rewind(consumer, batch)
        except _InDoubt as exc:
            producer = self._recover(consumer, producer, batch, exc)
        else:
            self._delay = self.backoff_s
            self._resets = 0
            return producer
        metrics.bind(metrics.retries, self.name).inc()
        stop.wait(self._delay)
        self._delay = min(self._delay * 2, 30.0)
        return producer

    def _process_in_transaction(
        self, consumer: Consumer, producer: Producer, batch: list[Message]
    ) -> None:
        started = time.perf_counter() if self._timed else 0.0
        if self.clock is not None:
            self._read_clock_floors(consumer, batch)
        outputs = self._outputs_of_batch(batch)
        dead = sum(1 for out in outputs if out.event_type == "DeadLetter")
        self._check_dead_letter_rate(batch, dead)
        encoded = self._encoded(outputs, batch)
        try:
            self._watched("begin_transaction", producer.begin_transaction)
            for topic, key, value in encoded:
                producer.produce(topic, key=key, value=value)
                producer.poll(0)
            offsets = next_offsets(batch, self.clock)
            group = consumer.consumer_group_metadata()
            self._watched(
                "send_offsets_to_transaction",
                lambda: producer.send_offsets_to_transaction(offsets, group, self.call_timeout_s),
            )
        except KafkaException as exc:
            self._abort_or_doubt(producer, exc)
        try:
            self._retrying("commit_transaction", producer.commit_transaction)
        except KafkaException as exc:
            err = _kafka_error(exc)
            if err is not None and err.fatal():
                raise _InDoubt(f"the producer is unusable: {exc}") from exc
            if err is not None and err.txn_requires_abort():
                self._abort_or_doubt(producer, exc)
            # Still failing after its retries: the commit may or may not have happened.
            raise _InDoubt(f"commit not confirmed: {exc}") from exc
        self.breaker.committed(dead)
        self._count(batch, encoded, started)

    def _count(
        self, batch: list[Message], encoded: list[tuple[str, bytes, bytes]], started: float
    ) -> None:
        """The metrics of a committed batch: records in and out per topic, its time."""
        if not self._timed:
            return
        self._processed.inc(len(batch))
        self._batch_records.observe(len(batch))
        if len(self.input_topics) == 1:
            metrics.bind(metrics.records_in, self.name, self.input_topics[0]).inc(len(batch))
        else:
            for topic, count in Counter(msg.topic() or "" for msg in batch).items():
                metrics.bind(metrics.records_in, self.name, topic).inc(count)
        for topic, count in Counter(topic for topic, _, _ in encoded).items():
            metrics.bind(metrics.records_out, self.name, topic).inc(count)
        self._batch_seconds.observe(time.perf_counter() - started)

    def _encoded(
        self, outputs: list[Outgoing], batch: list[Message]
    ) -> list[tuple[str, bytes, bytes]]:
        """Every output as (topic, key, value), before any transaction opens. An output the
        schema refuses is a bug of the stage, not of the input."""
        try:
            return [
                (
                    self.settings.topic(out.topic),
                    subject_key(out.record),
                    self.codec.encode(out.event_type, out.record),
                )
                for out in outputs
            ]
        except Exception as exc:
            where = f"{coordinates(batch[0])}..{coordinates(batch[-1])}"
            raise self._stopping(where, "an output of the batch could not be encoded", exc) from exc

    def _check_dead_letter_rate(self, batch: list[Message], dead: int) -> None:
        try:
            self.breaker.check(len(batch), dead)
        except DeadLetterRateExceeded as exc:
            log.critical(
                "%s: stopping without committing the batch at %s..%s: %s; a bad deploy or a "
                "schema mismatch is likelier than that many bad records: read %s and the log "
                "above, fix the cause, or raise the limit if the records truly are bad",
                self.name,
                coordinates(batch[0]),
                coordinates(batch[-1]),
                exc,
                ", ".join(t + DLQ_SUFFIX for t in self.input_topics),
            )
            raise

    def _abort_or_doubt(self, producer: Producer, exc: KafkaException) -> NoReturn:
        """After a failed send or commit: abort, and retry the batch from its start
        (``RetryableError``); or, when the producer is unusable or its state unclear (a fatal
        error, an unexpected one, a failed abort), ``_InDoubt``."""
        err = _kafka_error(exc)
        if err is None or err.fatal() or not (err.retriable() or err.txn_requires_abort()):
            raise _InDoubt(str(exc)) from exc
        try:
            self._watched(
                "abort_transaction", lambda: producer.abort_transaction(self.call_timeout_s)
            )
        except KafkaException as abort_failed:
            raise _InDoubt(f"{exc}; then the abort failed: {abort_failed}") from exc
        raise RetryableError(f"Kafka transaction aborted: {exc}") from exc

    def _recover(
        self, consumer: Consumer, producer: Producer, batch: list[Message], cause: Exception
    ) -> Producer:
        """A new producer under the same transactional id (its initialisation fences the old
        one and finishes or aborts what it left open), and the consumer rewound to what the
        group has committed: the batch counts once, whether or not its commit went through.
        While the broker stays away, tried again; after ``MAX_PRODUCER_RESETS`` in a row
        without a commit, ``TransactionsUnrecoverable`` stops the process."""
        log.error(
            "%s: the transaction of the batch at %s..%s is in doubt (%s): replacing the "
            "producer and resuming from the committed offsets",
            self.name,
            coordinates(batch[0]),
            coordinates(batch[-1]),
            cause,
        )
        self._discard(producer)
        while True:
            self._resets += 1
            if self._resets > MAX_PRODUCER_RESETS:
                message = (
                    f"{self.name}: Kafka transactions could not be brought back with "
                    f"{MAX_PRODUCER_RESETS} new producers in a row ({cause}); stopping for "
                    "the supervisor to restart the process"
                )
                log.critical("%s", message)
                raise TransactionsUnrecoverable(message) from cause
            log.info("%s: new producer (%d of %d)", self.name, self._resets, MAX_PRODUCER_RESETS)
            fresh: Producer | None = None
            try:
                fresh = self.new_producer()
                self._rewind_to_committed(consumer, batch)
                return fresh
            except KafkaException as exc:  # the broker is still away
                cause = exc
                if fresh is not None:
                    self._discard(fresh)
                time.sleep(self.backoff_s * 2**self._resets)

    def _discard(self, producer: Producer) -> None:
        """Close a producer whose state is unknown. What it still holds is purged first: a
        plain close would flush it, and with the broker away that waits without end."""

        def close() -> None:
            try:
                producer.purge(in_queue=True, in_flight=True, blocking=False)
                # confluent-kafka < 2.13 has no close(): the client goes when it is collected,
                # with nothing left in it to wait for.
                closing = getattr(producer, "close", None)
                if closing is not None:
                    closing()
            except (KafkaException, RuntimeError) as exc:  # fenced, or closed already
                log.info("%s: closing the old producer: %s", self.name, exc)

        self.watchdog.run("closing the producer", close, CLOSE_DEADLINE_S)

    def _rewind_to_committed(self, consumer: Consumer, batch: list[Message]) -> None:
        """Seek each partition of the batch to the offset its group committed (the batch's
        start where nothing was ever committed), and forget its clock floor: the committed
        metadata gives the floor again."""
        lowest = _lowest_offsets(batch)
        asked = [TopicPartition(topic, partition) for topic, partition in lowest]
        committed = consumer.committed(asked, timeout=self.call_timeout_s)
        for tp in committed:
            if tp.error is not None:  # unknown is not "nothing committed": try again
                raise KafkaException(tp.error)
            offset = tp.offset if tp.offset >= 0 else lowest[(tp.topic, tp.partition)]
            _seek(consumer, tp.topic, tp.partition, offset)
        if self.clock is not None:
            self.clock.forget(lowest)

    def _read_clock_floors(self, consumer: Consumer, batch: list[Message]) -> None:
        """Before dating records of a partition newly ours, read the last time its previous
        owner committed (see ``InputOrderClock``)."""
        assert self.clock is not None
        unknown = self.clock.unknown(batch)
        if not unknown:
            return
        asked = [TopicPartition(topic, partition) for topic, partition in unknown]
        try:
            committed = consumer.committed(asked, timeout=self.call_timeout_s)
        except KafkaException as exc:
            raise RetryableError(f"committed offsets unavailable: {exc}") from exc
        for tp in committed:
            self.clock.floor((tp.topic, tp.partition), clock_of_metadata(tp.metadata))

    def _watched(self, what: str, call: Callable[[], object]) -> None:
        self.watchdog.run(what, call, kafka_io.transaction_deadline_s(self.settings))

    def _retrying(self, what: str, call: Callable[[float], object]) -> None:
        """``call(timeout)`` (the commit), again after a back-off while it fails with an error
        Kafka calls retriable and that does not require an abort; librdkafka allows retrying
        ``commit_transaction`` then, and the transaction stays open meanwhile. The last
        failure, or any other, is raised."""
        delay = self.commit_backoff_s
        for attempt in range(1, self.commit_attempts + 1):
            try:
                self._watched(what, lambda: call(self.call_timeout_s))
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
                    "%s: %s failed (%s), retrying (%d of %d) in %.1fs",
                    self.name,
                    what,
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
        if self.batch_stage is not None:
            per_record = self._outputs_of_batch_stage(batch)
        elif self._pool is None:
            per_record = [self._outputs_for(msg) for msg in batch]
        else:
            per_record = self._concurrently(batch)
        if stamps is not None:
            for outputs, stamp in zip(per_record, stamps, strict=True):
                for out in outputs:
                    out.record["envelope"]["occurred_at"] = stamp
        outputs = [out for outputs in per_record for out in outputs]
        # A batch that outlasted the key cache would otherwise read its subjects' keys again
        # one query each when its outputs are sealed: read those that lapsed in one query.
        self.codec.prefetch_keys(out.record["envelope"]["subject_id"] for out in outputs)
        return outputs

    def _outputs_of_batch_stage(self, batch: list[Message]) -> list[Sequence[Outgoing]]:
        """Decode every record, then give the decoded ones to the batch stage at once."""
        assert self.batch_stage is not None
        per_record: list[Sequence[Outgoing]] = [[] for _ in batch]
        decoded: list[tuple[str, Record]] = []
        at: list[int] = []  # the batch position of each decoded record
        for i, msg in enumerate(batch):
            try:
                decoded.append(self.codec.decode(msg.value()))
                at.append(i)
            except Exception as exc:  # the one policy, as for a record in the per-record path
                action = action_for(exc)
                if action is Action.DEAD_LETTER:
                    per_record[i] = self._dead_letter(msg, exc)
                elif action is Action.RETRY or isinstance(exc, ConfigurationError):
                    raise
                else:
                    raise self._stopping(coordinates(msg), "decoding failed", exc) from exc
        if not decoded:
            return per_record
        started = time.perf_counter() if self._timed else 0.0
        try:
            results = self.batch_stage(decoded)
        except Exception as exc:  # per-record content errors come back as results, not raised
            if action_for(exc) is Action.RETRY or isinstance(exc, ConfigurationError):
                raise
            where = f"a batch of {len(decoded)} from {coordinates(batch[at[0]])}"
            raise self._stopping(where, "the batch stage failed", exc) from exc
        if self._timed:
            per_record_s = (time.perf_counter() - started) / len(decoded)
            self._stage_seconds.observe_many(per_record_s, len(decoded))
        if len(results) != len(decoded):
            raise RuntimeError(
                f"{self.name}: the batch stage answered {len(results)} of {len(decoded)} records"
            )
        for i, (_, record), result in zip(at, decoded, results, strict=True):
            if isinstance(result, PoisonMessage):
                per_record[i] = self._dead_letter(batch[i], result, record)
            else:
                per_record[i] = result
        return per_record

    def _concurrently(self, batch: list[Message]) -> list[Sequence[Outgoing]]:
        """The stage on every record, ``concurrency`` at a time: as many workers as that,
        each taking the next record not yet started until none is left (one task per worker
        and batch, not one per record: a queued task and its future cost more than a quick
        stage's call). When one fails the batch, no worker starts another record, and those
        running are waited for before the error goes up: nothing of a failed batch is still
        calling out (Claude, storage) while the batch is retried, so a retry never runs beside
        its own leftovers."""
        assert self._pool is not None
        results: list[Sequence[Outgoing]] = [()] * len(batch)
        positions = iter(range(len(batch)))  # next() on it is atomic: no record taken twice
        failed = threading.Event()

        def work() -> None:
            while not failed.is_set():
                i = next(positions, None)
                if i is None:
                    return
                try:
                    results[i] = self._outputs_for(batch[i])
                except BaseException:
                    failed.set()  # the other workers start nothing more
                    raise

        workers = [self._pool.submit(work) for _ in range(min(self.concurrency, len(batch)))]
        wait(workers)
        for worker in workers:
            error = worker.exception()
            if error is not None:
                raise error
        return results

    def _outputs_for(self, msg: Message) -> Sequence[Outgoing]:
        """The stage's outputs for one record; what an error means is ``action_for``'s call:
        a content error gives a dead letter, an infrastructure error fails the batch (it is
        retried), anything else stops the process (``StageFailed``)."""
        started = time.perf_counter() if self._timed else 0.0
        record: Record | None = None
        try:
            event_type, record = self.codec.decode(msg.value())
            return self.stage(event_type, record)
        except Exception as exc:
            action = action_for(exc)
            if action is Action.DEAD_LETTER:
                return self._dead_letter(msg, exc, record)
            if action is Action.RETRY or isinstance(exc, ConfigurationError):
                raise  # the batch waits and is retried / the process stops with one sentence
            raise self._stopping(coordinates(msg), "the stage failed", exc) from exc
        finally:
            if self._timed:
                self._stage_seconds.observe(time.perf_counter() - started)

    def _stopping(self, where: str, what: str, exc: BaseException) -> StageFailed:
        """The error that stops the process for a bug, logged as one line naming the record
        and where the error was raised; its message is left out (it may quote personal
        data), the stack is logged below the line."""
        frames = traceback.extract_tb(exc.__traceback__)
        origin = (
            f" at {frames[-1].filename}:{frames[-1].lineno} in {frames[-1].name}" if frames else ""
        )
        message = (
            f"{self.name}: {what} on {where} with {type(exc).__name__}{origin}: a bug or a "
            "schema this code does not expect, not a bad record; stopping without committing "
            "the batch (it is read again after a restart, nothing goes to the dead-letter topic)"
        )
        stack = "".join(traceback.format_list(frames))
        log.critical("%s\n%s", message, stack.rstrip())
        return StageFailed(message)

    def _dead_letter(
        self, msg: Message, exc: BaseException, record: Record | None = None
    ) -> list[Outgoing]:
        """The dead letter for ``msg``, and an exception event for an officer when the record
        decoded into a document (an officer must learn that it was not processed)."""
        log.warning("%s: %s -> dead letter: %s", self.name, coordinates(msg), exc)
        metrics.dead_letter(self.name, msg.topic(), exc)
        source = (msg.topic() or "").removeprefix(self.settings.topic_prefix)
        outputs = [Outgoing(source + DLQ_SUFFIX, "DeadLetter", dead_letter(msg, exc, self.name))]
        if record is not None and isinstance(record.get("document_id"), str):
            outputs.append(self._not_processed(msg, exc, record, source + DLQ_SUFFIX))
        return outputs

    def _not_processed(
        self, msg: Message, exc: BaseException, document: Record, dead_letter_topic: str
    ) -> Outgoing:
        return exception_event(
            document,
            stage=self.name,
            kind="dead_lettered",
            severity="high",
            reason=(
                f"document {document['document_id']} was not processed by {self.name}: "
                f"{str(exc)[:1000]}; the record is on {dead_letter_topic}"
            ),
            discriminator="dead_letter",
            details={"error_class": type(exc).__name__, "source": coordinates(msg)},
        )


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


def next_offsets(
    batch: list[Message], clock: InputOrderClock | None = None
) -> list[TopicPartition]:
    """The offsets to commit after ``batch``; with a ``clock``, each carries the partition's
    last decision time as its metadata."""
    highest: dict[Partition, int] = {}
    for msg in batch:
        key, offset = _position(msg)
        highest[key] = max(highest.get(key, -1), offset)
    if clock is None:
        return [TopicPartition(t, p, o + 1) for (t, p), o in highest.items()]
    return [
        TopicPartition(t, p, o + 1, clock_metadata(clock.last((t, p))) or "")
        for (t, p), o in highest.items()
    ]


def _lowest_offsets(batch: list[Message]) -> dict[Partition, int]:
    lowest: dict[Partition, int] = {}
    for msg in batch:
        key, offset = _position(msg)
        lowest[key] = min(lowest.get(key, offset), offset)
    return lowest


def _position(msg: Message) -> tuple[Partition, int]:
    """A consumed record's (topic, partition) and offset (always set on a data record)."""
    return (msg.topic() or "", msg.partition() or 0), msg.offset() or 0


def _rewind(consumer: Consumer, batch: list[Message]) -> None:
    for (topic, partition), offset in _lowest_offsets(batch).items():
        _seek(consumer, topic, partition, offset)


def _seek(consumer: Consumer, topic: str, partition: int, offset: int) -> None:
    try:
        consumer.seek(TopicPartition(topic, partition, offset))
    except KafkaException as exc:  # partition revoked meanwhile: its new owner resumes it
        log.info("rewind %s[%s] skipped: %s", topic, partition, exc)
