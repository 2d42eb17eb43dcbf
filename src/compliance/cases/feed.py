"""Following ``cases.decisions`` into the case tables (the projection's reader).

The feed reads the topic from where the projection last stopped (``case_projection_positions``,
per scope and partition) and applies every decision not applied yet, the positions moving in
the same database transaction. So decisions made anywhere (the desk in the review application
or on the command line) and any decision whose direct apply was lost in a crash reach the
tables. ``catch_up`` reads to the topic's end as of the call; ``follow`` keeps reading until
stopped. ``rebuild`` empties the scope's tables and applies the whole topic from its
beginning.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid

from confluent_kafka import (
    Consumer,
    IsolationLevel,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)
from confluent_kafka.admin import OffsetSpec
from sqlalchemy import Connection, Engine, delete, select
from sqlalchemy.dialects.postgresql import insert

from compliance import kafka_io
from compliance.cases.decisions import TOPIC
from compliance.cases.projection import apply_many
from compliance.cases.tables import (
    case_exceptions,
    case_history,
    case_projection_positions,
    cases,
)
from compliance.codec import Record, SchemaRegistry, registry
from compliance.config import Settings
from compliance.db_errors import retryable_db_errors
from compliance.errors import PoisonMessage, RetryableError

log = logging.getLogger(__name__)
BATCH = 1000
# What a broker answers for a moment just after topics are created, or while leadership
# moves: asked again (within a bound), never a reason to stop.
TRANSIENT_KAFKA_ERRORS = frozenset(
    {
        KafkaError.NOT_LEADER_FOR_PARTITION,
        KafkaError.LEADER_NOT_AVAILABLE,
        KafkaError.UNKNOWN_TOPIC_OR_PART,
        KafkaError._UNKNOWN_PARTITION,
        KafkaError._UNKNOWN_TOPIC,
    }
)


def transient(exc: KafkaException) -> bool:
    """A broker error that passes on its own (leadership, a topic being created)."""
    err = exc.args[0] if exc.args else None
    return isinstance(err, KafkaError) and (err.code() in TRANSIENT_KAFKA_ERRORS or err.retriable())


class DecisionFeed:
    """A reader of every partition of cases.decisions (no consumer group: it keeps its
    positions in the database, beside what it applied). Safe to use from two threads (the
    processor's batches and its follower): one reads at a time."""

    def __init__(self, settings: Settings, engine: Engine, codec: SchemaRegistry | None = None):
        self.settings = settings
        self.engine = engine
        self.scope = settings.topic_prefix
        self.topic = settings.topic(TOPIC)
        # Without a keyring: personal values stay sealed, as the tables keep them.
        self.codec = codec or registry()
        self.consumer: Consumer = kafka_io.consumer(
            settings, f"{settings.group('cases-projection')}.{uuid.uuid4().hex[:8]}"
        )
        self.admin = kafka_io.admin(settings)
        self.partitions = self._partitions()
        self.positions: dict[int, int] = {}
        self._assigned = False
        self._lock = threading.Lock()

    def _partitions(self) -> list[int]:
        try:
            meta = self.consumer.list_topics(self.topic, timeout=10).topics[self.topic]
        except KafkaException as exc:
            raise RetryableError(f"{self.topic} unavailable: {exc}") from exc
        if meta.error is not None or not meta.partitions:
            raise RetryableError(f"{self.topic} unavailable: {meta.error}")
        return sorted(meta.partitions)

    def close(self) -> None:
        with self._lock:
            self.consumer.close()

    def catch_up(self, timeout_s: float = 30.0) -> int:
        """Apply every decision on the topic up to its end as of now; returns how many were
        new. A RetryableError when the end is not reached within ``timeout_s``."""
        with self._lock:
            self._assign()
            ends = self._ends()
            behind = {p for p in self.partitions if self.positions.get(p, 0) < ends[p]}
            applied = 0
            deadline = time.monotonic() + timeout_s
            while behind:
                if time.monotonic() > deadline:
                    raise RetryableError(f"{self.topic} not read to its end within {timeout_s:g} s")
                applied += self._read(0.2)
                asked = [TopicPartition(self.topic, p) for p in behind]
                try:
                    reached = self.consumer.position(asked)  # past transaction markers too
                except KafkaException as exc:
                    raise RetryableError(f"{self.topic}: positions unavailable: {exc}") from exc
                for tp in reached:
                    if tp.offset >= 0:
                        self.positions[tp.partition] = max(
                            self.positions.get(tp.partition, 0), tp.offset
                        )
                behind = {p for p in behind if self.positions.get(p, 0) < ends[p]}
            self._store_positions()
            return applied

    def follow(self, stop: threading.Event, poll_s: float = 0.5) -> None:
        """Apply decisions as they arrive until ``stop``; an outage pauses it."""
        while not stop.is_set():
            try:
                with self._lock:
                    self._assign()
                    self._read(poll_s)
            except RetryableError as exc:
                log.warning("cases projection: paused (%s)", exc)
                stop.wait(2.0)

    def _assign(self) -> None:
        if self._assigned:
            return
        self.positions = self._stored_positions()
        self.consumer.assign(
            [TopicPartition(self.topic, p, self.positions.get(p, 0)) for p in self.partitions]
        )
        self._assigned = True

    def _ends(self) -> dict[int, int]:
        """Each partition's last stable offset (the end of its committed transactions), all
        asked in one request."""
        asked = {TopicPartition(self.topic, p): OffsetSpec.latest() for p in self.partitions}
        try:
            futures = self.admin.list_offsets(
                asked, isolation_level=IsolationLevel.READ_COMMITTED, request_timeout=10
            )
            return {tp.partition: int(f.result().offset) for tp, f in futures.items()}
        except KafkaException as exc:
            raise RetryableError(f"{self.topic}: end offsets unavailable: {exc}") from exc

    def _read(self, timeout_s: float) -> int:
        """One consume call's decisions applied, with the positions, in one transaction."""
        batch = [m for m in self.consumer.consume(BATCH, timeout_s) if m.error() is None]
        if not batch:
            return 0
        decisions = self._decoded(batch)
        positions = dict(self.positions)
        for msg in batch:
            p, o = msg.partition() or 0, msg.offset() or 0
            positions[p] = max(positions.get(p, 0), o + 1)
        try:
            with retryable_db_errors("the case tables"), self.engine.begin() as conn:
                applied = apply_many(conn, decisions, self.scope)
                _write_positions(conn, self.scope, positions)
        except RetryableError:
            self._rewind()  # read the batch again once the database is back
            raise
        self.positions = positions
        return applied

    def _decoded(self, batch: list[Message]) -> list[Record]:
        decisions: list[Record] = []
        for msg in batch:
            try:
                event_type, record = self.codec.decode(msg.value())
            except PoisonMessage as exc:  # the audit sink dead-letters it; passed by here
                log.warning(
                    "cases projection: %s[%s]@%s: %s",
                    msg.topic(),
                    msg.partition(),
                    msg.offset(),
                    exc,
                )
                continue
            if event_type == "CaseDecision":
                decisions.append(record)
        return decisions

    def _rewind(self) -> None:
        for p in self.partitions:
            try:
                self.consumer.seek(TopicPartition(self.topic, p, self.positions.get(p, 0)))
            except KafkaException as exc:
                log.info("cases projection: rewind of partition %s: %s", p, exc)

    def _stored_positions(self) -> dict[int, int]:
        t = case_projection_positions
        with retryable_db_errors("the case tables"), self.engine.connect() as conn:
            rows = conn.execute(
                select(t.c.partition, t.c.next_offset).where(t.c.scope == self.scope)
            )
            return {int(p): int(o) for p, o in rows}

    def _store_positions(self) -> None:
        with retryable_db_errors("the case tables"), self.engine.begin() as conn:
            _write_positions(conn, self.scope, self.positions)


def _write_positions(conn: Connection, scope: str, positions: dict[int, int]) -> None:
    t = case_projection_positions
    for partition, offset in sorted(positions.items()):
        stmt = insert(t).values(scope=scope, partition=partition, next_offset=offset)
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=[t.c.scope, t.c.partition],
                set_={"next_offset": stmt.excluded.next_offset},
                where=t.c.next_offset < stmt.excluded.next_offset,
            )
        )


def started_feed(
    settings: Settings,
    engine: Engine,
    *,
    within_s: float,
    catch_up_s: float = 120.0,
    pause_s: float = 1.0,
) -> DecisionFeed:
    """A feed caught up with cases.decisions, for a processor starting: the broker's
    transient answers just after the topics are created (not leader, unknown topic or
    partition) and a broker or database not answering yet are asked again for up to
    ``within_s`` seconds; then the last error stops the start."""
    deadline = time.monotonic() + within_s
    attempt = 0
    while True:
        attempt += 1
        feed: DecisionFeed | None = None
        try:
            feed = DecisionFeed(settings, engine)
            feed.catch_up(timeout_s=catch_up_s)
            return feed
        except (RetryableError, KafkaException) as exc:
            if feed is not None:
                feed.close()
            if isinstance(exc, KafkaException) and not transient(exc):
                raise
            if time.monotonic() + pause_s > deadline:
                raise RetryableError(
                    f"{settings.topic(TOPIC)} not readable after {attempt} attempt(s) in "
                    f"{within_s:g} s: {exc}"
                ) from exc
            log.warning("cases projection: not ready yet (%s); trying again", exc)
            time.sleep(pause_s)


def drop_projection(engine: Engine, scope: str) -> int:
    """Empty the scope's case tables and forget how far they were read; returns how many
    cases there were."""
    with retryable_db_errors("the case tables"), engine.begin() as conn:
        ids = select(cases.c.case_id).where(cases.c.scope == scope)
        conn.execute(delete(case_history).where(case_history.c.case_id.in_(ids)))
        conn.execute(delete(case_exceptions).where(case_exceptions.c.case_id.in_(ids)))
        dropped = conn.execute(delete(cases).where(cases.c.scope == scope)).rowcount
        conn.execute(
            delete(case_projection_positions).where(case_projection_positions.c.scope == scope)
        )
        return int(dropped)


def rebuild(settings: Settings, engine: Engine, timeout_s: float = 600.0) -> tuple[int, int]:
    """Drop the projection and apply cases.decisions from its beginning: (cases dropped,
    decisions applied)."""
    dropped = drop_projection(engine, settings.topic_prefix)
    feed = DecisionFeed(settings, engine)
    try:
        return dropped, feed.catch_up(timeout_s)
    finally:
        feed.close()
