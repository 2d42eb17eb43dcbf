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
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer
from confluent_kafka import TopicPartition as Partition

from compliance import kafka_io, metrics
from compliance.codec import registry
from compliance.config import Settings
from compliance.dead_letters import dead_letter
from compliance.errors import PoisonMessage, RetryableError
from compliance.events import now, subject_key
from compliance.rules.store import ConsumedConsent, StateStore
from compliance.runner import next_offsets
from compliance.topics import CONSENTS_RECORDED

log = logging.getLogger(__name__)
NAME = "checker.consents"
LATENESS = timedelta(seconds=1)  # how late a consent may be appended after its timestamp
REPORT_EVERY_S = 0.1  # how often the feed says how far it has read, while at the end
WAIT_LIMIT_S = 30.0  # how long a batch of documents waits for consents before it is retried


def _timestamp(msg: Message) -> datetime:
    kind, millis = msg.timestamp()
    if kind == 0:  # TIMESTAMP_NOT_AVAILABLE: a pre-0.10 record; read time is all there is
        return now()
    return datetime.fromtimestamp(millis / 1000, UTC)


class ConsentFeed:
    """Reads consents.recorded into the checker's state, in a thread of its own."""

    def __init__(self, settings: Settings, store: StateStore) -> None:
        self.settings = settings
        self.store = store
        self.codec = registry()
        self.error: BaseException | None = None
        self._at_end: set[int] = set()  # assigned partitions read to their end since
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self, stop: threading.Event) -> None:
        """Run the feed until ``stop``; a failure it cannot retry sets ``stop`` and is kept
        in ``error``, so the process stops with it instead of deciding on stale consents."""

        def run() -> None:
            try:
                self.run(stop)
            except BaseException as exc:
                log.exception("checker: the consent feed stopped")
                self.error = exc
                stop.set()

        self._thread = threading.Thread(target=run, name=NAME, daemon=True)
        self._thread.start()

    def join(self, timeout_s: float = 30.0) -> None:
        if self._thread is not None:
            self._thread.join(timeout_s)

    def run(self, stop: threading.Event) -> None:
        topic = self.settings.topic(CONSENTS_RECORDED)
        consumer = kafka_io.consumer(
            self.settings, self.settings.group(NAME), **{"enable.partition.eof": True}
        )
        producer = kafka_io.idempotent_producer(self.settings)  # dead letters
        kafka_io.subscribe(consumer, [topic])
        consumer.subscribe(
            [topic], on_assign=self._assigned, on_revoke=self._revoked, on_lost=self._revoked
        )
        reported = 0.0
        delay = 0.5
        try:
            while not stop.is_set():
                polled_at = now()
                batch = consumer.consume(self.settings.batch_size, self.settings.poll_timeout_s)
                records = self._records(batch)
                try:
                    if records:
                        self._store(records, producer)
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
        finally:
            consumer.close()
            producer.flush(10)

    def _commit(self, consumer: Consumer, records: list[Message]) -> None:
        """Commit what is stored. A failed commit loses nothing: the statements are stored,
        and whoever reads the partition next reads them again and keeps each once."""
        try:
            consumer.commit(offsets=next_offsets(records), asynchronous=False)
        except KafkaException as exc:
            err = exc.args[0] if exc.args else None
            if isinstance(err, KafkaError) and err.fatal():
                raise
            log.warning("%s: offsets not committed (%s); they are read again later", NAME, exc)

    def _assigned(self, _consumer: Consumer, partitions: list[Partition]) -> None:
        with self._lock:
            self._at_end -= {p.partition for p in partitions}

    def _revoked(self, _consumer: Consumer, partitions: list[Partition]) -> None:
        with self._lock:
            self._at_end -= {p.partition for p in partitions}

    def _records(self, batch: list[Message]) -> list[Message]:
        records = []
        for msg in batch:
            err = msg.error()
            if err is None:
                records.append(msg)
                with self._lock:
                    self._at_end.discard(msg.partition() or 0)
            elif err.code() == KafkaError._PARTITION_EOF:
                with self._lock:
                    self._at_end.add(msg.partition() or 0)
            elif err.fatal():
                raise KafkaException(err)
            else:
                log.warning("kafka: %s", err)
        return records

    def _store(self, records: list[Message], producer: Producer) -> None:
        """Dead letters first (delivered, or the batch is retried), then the statements and
        the partitions' stream times in one database transaction."""
        consumed, letters = [], []
        for msg in records:
            statement = None
            try:
                event_type, record = self.codec.decode(msg.value())
                if event_type != "ConsentRecorded":
                    raise PoisonMessage(f"{event_type} does not belong on {msg.topic()}")
                statement = record
            except PoisonMessage as exc:
                log.warning("%s: %s -> dead letter: %s", NAME, _where(msg), exc)
                metrics.dead_letters.labels(NAME, msg.topic()).inc()
                letters.append(dead_letter(msg, exc, NAME))
            consumed.append(ConsumedConsent(msg.partition() or 0, _timestamp(msg), statement))
        for letter in letters:
            producer.produce(
                self.settings.topic(CONSENTS_RECORDED.dead_letter),
                key=subject_key(letter),
                value=self.codec.encode("DeadLetter", letter),
            )
        if letters and producer.flush(30) > 0:
            raise RetryableError("dead letters of consents.recorded not delivered within 30 s")
        self.store.record_consents(consumed)


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


def _where(msg: Message) -> str:
    return f"{msg.topic()}[{msg.partition()}]@{msg.offset()}"


def _rewind(consumer: Consumer, records: list[Message]) -> None:
    lowest: dict[tuple[str, int], int] = {}
    for msg in records:
        key = (msg.topic() or "", msg.partition() or 0)
        lowest[key] = min(lowest.get(key, msg.offset() or 0), msg.offset() or 0)
    for (topic, partition), offset in lowest.items():
        try:
            consumer.seek(Partition(topic, partition, offset))
        except KafkaException as exc:  # revoked meanwhile: its new owner resumes it
            log.info("rewind %s[%s] skipped: %s", topic, partition, exc)
