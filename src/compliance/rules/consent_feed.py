"""Consent statements for the checker, read so that a decision never depends on consumer lag.

Whether a consent counts for a document must not depend on whether the checker happened to
have read it yet: a replay would decide differently. So "had the stream seen this consent
when the document was decided?" is answered from the topics, not from a consumer's position:

- each consent statement carries its partition's *stream time*: the latest Kafka timestamp of
  consents.recorded's partition up to and including it (the timestamp the producer or broker
  gave the record when it was appended; the running maximum, so it never goes back);
- it counts for a document classified at T when its stream time is not after T (and, as
  before, it was recorded by T);
- a document that needs consents is decided only once every partition of consents.recorded is
  known to be stored past T: its stream time has passed T (some later record is stored, and
  everything before it), or the feed read it to its end at a moment at least ``lateness``
  after T (a record appended later carries a later timestamp).

Both are facts of the logs, so a replay from scratch, a consumer far behind, or a partition
moving to another checker copy decide the same way. The feed is a consumer group of its own
(``<prefix>compliance.checker.consents``): partitions of the two topics may be owned by
different copies, and the progress each copy's feed makes is kept in PostgreSQL
(``rules_consent_progress``), where every copy's documents read it. While a partition has no
owner (a copy crashed, its session not yet expired), documents needing consents wait for a
bounded time and then their batch is retried; documents of other types never wait.

What is assumed: a consent is appended at most ``lateness`` after the timestamp it carries
(producers' clocks within that of the classifier's; set ``message.timestamp.type`` to
``LogAppendTime`` on consents.recorded to have the broker stamp them). A record with a
timestamp older than that, arriving after documents of a later time were decided, would
count on a replay but did not count live.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer
from confluent_kafka import TopicPartition as Partition

from compliance import kafka_io, metrics
from compliance.codec import Record, SchemaRegistry
from compliance.config import Settings
from compliance.dead_letter_breaker import DeadLetterBreaker
from compliance.dead_letters import dead_letter
from compliance.errors import (
    Action,
    DeadLetterRateExceeded,
    PoisonMessage,
    RetryableError,
    StageFailed,
    action_for,
)
from compliance.events import now, subject_key
from compliance.rules.store import ConsumedConsent, StateStore
from compliance.runner import (
    CLOSE_DEADLINE_S,
    STOP_GRACE_S,
    _kafka_error,
    _rewind,
    coordinates,
    next_offsets,
    records_in,
)
from compliance.topics import CONSENTS_RECORDED
from compliance.watchdog import Watchdog

log = logging.getLogger(__name__)
NAME = "checker.consents"
LATENESS = timedelta(seconds=1)  # how late a consent may be appended after its timestamp
REPORT_EVERY_S = 0.1  # how often the feed says how far it has read, while at the end
WAIT_LIMIT_S = 30.0  # how long a batch of documents waits for consents before it is retried
DELIVERY_TIMEOUT_S = 30.0  # how long a batch's dead letters may take to be delivered


def _timestamp(msg: Message) -> datetime:
    kind, millis = msg.timestamp()
    if kind == 0:  # TIMESTAMP_NOT_AVAILABLE: a pre-0.10 record; read time is all there is
        return now()
    return datetime.fromtimestamp(millis / 1000, UTC)


class ConsentFeed:
    """Reads consents.recorded into the checker's state, in a thread of its own.

    Its errors follow the one policy (``compliance.errors.action_for``), as the runner's do: a
    record that cannot be a consent statement goes to consents.recorded.dlq once, with the
    reason, sealed by ``codec`` (the checker's sealing codec: a dead letter's error and
    original bytes are personal); an infrastructure error rewinds the batch and retries it
    after a back-off; anything else stops the checker with one line naming the record. The
    dead-letter breaker stops it too when dead letters come too fast. A batch is stored
    first, then its dead letters are delivered, then its offsets committed: a database retry
    never sends a dead letter again (a crash after the delivery may, with the same event id).
    Committing and closing run under a watchdog; once asked to stop, the feed's watched calls
    end within ``STOP_GRACE_S`` or the process does (status 3).
    """

    def __init__(self, settings: Settings, store: StateStore, codec: SchemaRegistry) -> None:
        self.settings = settings
        self.store = store
        self.codec = codec
        self.error: BaseException | None = None
        self.watchdog = Watchdog(NAME)
        self.breaker = DeadLetterBreaker(
            settings.dead_letter_limit,
            settings.dead_letter_window_s,
            settings.dead_letter_batch_limit,
        )
        self._at_end: set[int] = set()  # assigned partitions read to their end since
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self, stop: threading.Event) -> None:
        """Run the feed until ``stop``; a failure it cannot retry sets ``stop`` and is kept
        in ``error``, so the process stops with it instead of deciding on stale consents."""

        def run() -> None:
            try:
                self.run(stop)
            except (StageFailed, DeadLetterRateExceeded) as exc:  # logged where raised
                self.error = exc
                stop.set()
            except BaseException as exc:
                log.exception("checker: the consent feed stopped")
                self.error = exc
                stop.set()

        self._thread = threading.Thread(target=run, name=NAME, daemon=True)
        self._thread.start()

    def join(self, timeout_s: float = STOP_GRACE_S + 5) -> bool:
        """Wait for the feed to end; False if it is still running after ``timeout_s`` (its
        watchdog ends the process if a watched call holds it past the grace)."""
        if self._thread is None:
            return True
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    def run(self, stop: threading.Event) -> None:
        topic = self.settings.topic(CONSENTS_RECORDED)
        consumer = kafka_io.consumer(
            self.settings, self.settings.group(NAME), **{"enable.partition.eof": True}
        )
        producer = kafka_io.idempotent_producer(self.settings)  # dead letters
        kafka_io.subscribe(consumer, [topic], on_revoke=self._revoked)
        self.watchdog.stop_within(stop, STOP_GRACE_S)
        reported = 0.0
        delay = 0.5
        try:
            while not stop.is_set():
                polled_at = now()
                batch = consumer.consume(self.settings.batch_size, self.settings.poll_timeout_s)
                self._note_ends(batch)
                records = records_in(batch)
                try:
                    dead = self._store(records, producer) if records else 0
                    if time.monotonic() - reported >= REPORT_EVERY_S:
                        with self._lock:
                            at_end = sorted(self._at_end)
                        self.store.caught_up(at_end, polled_at)
                        reported = time.monotonic()
                except RetryableError as exc:
                    log.warning("%s: batch failed (%s); retrying in %.1fs", NAME, exc, delay)
                    metrics.retries.labels(NAME).inc()
                    with self._lock:  # read again before claiming the end again
                        self._at_end -= {msg.partition() or 0 for msg in records}
                    _rewind(consumer, records)
                    stop.wait(delay)
                    delay = min(delay * 2, 30.0)
                    continue
                delay = 0.5
                if records:
                    self._commit(consumer, records)
                    self.breaker.committed(dead)
        finally:
            self.watchdog.run("closing the consent consumer", consumer.close, CLOSE_DEADLINE_S)
            self.watchdog.run(
                "flushing the dead-letter producer", lambda: producer.flush(10), CLOSE_DEADLINE_S
            )

    def _commit(self, consumer: Consumer, records: list[Message]) -> None:
        """Commit what is stored. A failed commit loses nothing: the statements are stored,
        and whoever reads the partition next reads them again and keeps each once."""
        offsets = next_offsets(records)
        try:
            self.watchdog.run(
                "committing consent offsets",
                lambda: consumer.commit(offsets=offsets, asynchronous=False),
                kafka_io.transaction_deadline_s(self.settings),
            )
        except KafkaException as exc:
            err = _kafka_error(exc)
            if err is not None and err.fatal():
                raise
            log.warning("%s: offsets not committed (%s); they are read again later", NAME, exc)

    def _revoked(self, partitions: list[Partition]) -> None:
        with self._lock:
            self._at_end -= {p.partition for p in partitions}

    def _note_ends(self, batch: list[Message]) -> None:
        """Note the partitions the batch read to their end, and those it read records of."""
        with self._lock:
            for msg in batch:
                err = msg.error()
                if err is None:
                    self._at_end.discard(msg.partition() or 0)
                elif err.code() == KafkaError._PARTITION_EOF:
                    self._at_end.add(msg.partition() or 0)

    def _store(self, records: list[Message], producer: Producer) -> int:
        """Store the batch's statements and its partitions' stream times in one database
        transaction, then deliver its dead letters (or the batch is retried from the
        consumer); returns how many dead letters it had. Storing twice keeps each statement
        once, and the dead letters go out only once the database has the batch, so a
        database retry never sends them again."""
        consumed: list[ConsumedConsent] = []
        letters: list[tuple[Message, bytes, bytes]] = []
        for msg in records:
            statement = self._statement(msg)
            if isinstance(statement, PoisonMessage):  # stored as moving the stream time only
                letters.append((msg, *self._dead_letter(msg, statement)))
            kept = None if isinstance(statement, PoisonMessage) else statement
            consumed.append(ConsumedConsent(msg.partition() or 0, _timestamp(msg), kept))
        self._check_dead_letter_rate(records, len(letters))
        try:
            self.store.record_consents(consumed)
        except Exception as exc:
            if action_for(exc) is Action.RETRY:
                raise
            where = f"{coordinates(records[0])}..{coordinates(records[-1])}"
            raise _stopping(where, "storing consent statements failed", exc) from exc
        if letters:
            self._deliver(letters, producer)
        return len(letters)

    def _deliver(self, letters: list[tuple[Message, bytes, bytes]], producer: Producer) -> None:
        """Produce the dead letters and wait (bounded) until every one is delivered."""
        topic = self.settings.topic(CONSENTS_RECORDED.dead_letter)
        try:
            for _, key, value in letters:
                producer.produce(topic, key=key, value=value)
            undelivered = producer.flush(DELIVERY_TIMEOUT_S)
        except (BufferError, KafkaException) as exc:
            undelivered, reason = len(letters), str(exc)
        else:
            reason = f"not delivered within {DELIVERY_TIMEOUT_S:g} s"
        if undelivered:
            # What is still queued would go out beside the retry's own copies.
            producer.purge(in_queue=True, in_flight=False)
            raise RetryableError(f"dead letters of consents.recorded: {reason}")
        for msg, _, _ in letters:
            metrics.bind(metrics.dead_letters, NAME, msg.topic() or "", "PoisonMessage").inc()

    def _statement(self, msg: Message) -> Record | PoisonMessage:
        """The consent statement of ``msg``, or why it goes to the dead-letter topic; an
        infrastructure error is raised (the batch is retried), anything else stops."""
        try:
            event_type, record = self.codec.decode(msg.value())
            if event_type != "ConsentRecorded":
                raise PoisonMessage(f"{event_type} does not belong on {msg.topic()}")
            return record
        except Exception as exc:
            action = action_for(exc)
            if action is Action.DEAD_LETTER:
                assert isinstance(exc, PoisonMessage)
                log.warning("%s: %s -> dead letter: %s", NAME, coordinates(msg), exc)
                return exc
            if action is Action.RETRY:
                raise
            raise _stopping(coordinates(msg), "reading a consent statement failed", exc) from exc

    def _dead_letter(self, msg: Message, exc: PoisonMessage) -> tuple[bytes, bytes]:
        """The dead letter of ``msg`` as (key, value), its personal fields sealed."""
        letter = dead_letter(msg, exc, NAME)
        try:
            return subject_key(letter), self.codec.encode("DeadLetter", letter)
        except Exception as error:  # sealing reads the subject's key from the database
            if action_for(error) is Action.RETRY:
                raise
            where = coordinates(msg)
            raise _stopping(where, "a dead letter could not be encoded", error) from error

    def _check_dead_letter_rate(self, records: list[Message], dead: int) -> None:
        try:
            self.breaker.check(len(records), dead)
        except DeadLetterRateExceeded as exc:
            log.critical(
                "%s: stopping without storing or committing the batch at %s..%s: %s; a bad "
                "deploy or a schema mismatch is likelier than that many bad records: read "
                "the log above, fix the cause, or raise the limit if the records truly are bad",
                NAME,
                coordinates(records[0]),
                coordinates(records[-1]),
                exc,
            )
            raise


class ConsentsRead:
    """The documents' side: waits until consents.recorded is stored past a moment."""

    def __init__(
        self,
        store: StateStore,
        partitions: int,
        *,
        lateness: timedelta = LATENESS,
        wait_limit_s: float = WAIT_LIMIT_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.partitions = partitions
        self.lateness = lateness
        self.wait_limit_s = wait_limit_s
        self.clock = clock

    def behind(self, at: datetime) -> list[int]:
        """The partitions not yet known to be stored past ``at``."""
        progress = self.store.consent_progress()
        late = []
        for partition in range(self.partitions):
            stream_time, caught_up_at = progress.get(partition, (None, None))
            if stream_time is not None and stream_time > at:
                continue
            if caught_up_at is not None and caught_up_at >= at + self.lateness:
                continue
            late.append(partition)
        return late

    def wait_until(self, at: datetime) -> None:
        """Return once every partition is stored past ``at``; a bounded wait, after which
        RetryableError makes the runner retry the batch (nothing is decided meanwhile)."""
        deadline = self.clock() + self.wait_limit_s
        while late := self.behind(at):
            if self.clock() > deadline:
                raise RetryableError(
                    f"consents.recorded is not read up to {at.isoformat()} yet "
                    f"(partitions {late}): documents needing consents wait"
                )
            time.sleep(0.05)


def consent_partitions(settings: Settings) -> int:
    name = settings.topic(CONSENTS_RECORDED)
    topics = kafka_io.admin(settings).list_topics(name, timeout=10).topics
    found = topics.get(name)
    if found is None or found.error is not None or not found.partitions:
        return CONSENTS_RECORDED.partitions
    return len(found.partitions)


def _stopping(where: str, what: str, exc: BaseException) -> StageFailed:
    """The error that stops the checker for a bug: one line naming the record and the error's
    type and origin, never its message (it may quote personal data); the stack below it."""
    frames = traceback.extract_tb(exc.__traceback__)
    origin = f" at {frames[-1].filename}:{frames[-1].lineno} in {frames[-1].name}" if frames else ""
    message = (
        f"{NAME}: {what} on {where} with {type(exc).__name__}{origin}: a bug or a schema this "
        "code does not expect, not a bad record; stopping without committing the batch (it "
        "is read again after a restart, nothing goes to the dead-letter topic)"
    )
    log.critical("%s\n%s", message, "".join(traceback.format_list(frames)).rstrip())
    return StageFailed(message)
