"""Following ``cases.decisions`` into the case tables (the projection's reader).

The feed reads the topic from where the projection last stopped (``case_projection_positions``,
per scope and partition) to its end, and applies every decision it has not applied yet, the
positions moving in the same database transaction. So decisions made anywhere (the desk in the
review application or on the command line) and any decision whose direct apply was lost in a
crash reach the tables. ``rebuild`` empties the scope's tables and applies the whole topic
from its beginning.
"""

from __future__ import annotations

import logging
import time
import uuid

from confluent_kafka import Consumer, KafkaException, Message, TopicPartition
from sqlalchemy import Connection, Engine, delete, select

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


class DecisionFeed:
    """A reader of every partition of cases.decisions (no consumer group: it keeps its
    positions in the database, beside what it applied)."""

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
        self.partitions = self._partitions()
        self._assigned = False

    def _partitions(self) -> list[int]:
        try:
            meta = self.consumer.list_topics(self.topic, timeout=10).topics[self.topic]
        except KafkaException as exc:
            raise RetryableError(f"{self.topic} unavailable: {exc}") from exc
        if meta.error is not None or not meta.partitions:
            raise RetryableError(f"{self.topic} unavailable: {meta.error}")
        return sorted(meta.partitions)

    def close(self) -> None:
        self.consumer.close()

    def catch_up(self, timeout_s: float = 30.0) -> int:
        """Apply every decision on the topic up to its end as of now; returns how many were
        new. A RetryableError when the end is not reached within ``timeout_s``."""
        positions = self._stored_positions()
        if not self._assigned:
            self.consumer.assign(
                [TopicPartition(self.topic, p, positions.get(p, 0)) for p in self.partitions]
            )
            self._assigned = True
        ends = self._ends()
        behind = {p for p in self.partitions if positions.get(p, 0) < ends[p]}
        applied = 0
        deadline = time.monotonic() + timeout_s
        while behind:
            if time.monotonic() > deadline:
                raise RetryableError(f"{self.topic} not read to its end within {timeout_s:g} s")
            batch = [m for m in self.consumer.consume(BATCH, 0.2) if m.error() is None]
            applied += self._apply(batch, positions)
            for tp in self.consumer.position([TopicPartition(self.topic, p) for p in behind]):
                if tp.offset >= 0:
                    positions[tp.partition] = max(positions.get(tp.partition, 0), tp.offset)
            behind = {p for p in behind if positions.get(p, 0) < ends[p]}
        self._store_positions(positions)
        return applied

    def _ends(self) -> dict[int, int]:
        ends = {}
        try:
            for p in self.partitions:
                ends[p] = self.consumer.get_watermark_offsets(
                    TopicPartition(self.topic, p), timeout=10
                )[1]
        except KafkaException as exc:
            raise RetryableError(f"{self.topic}: end offsets unavailable: {exc}") from exc
        return ends

    def _apply(self, batch: list[Message], positions: dict[int, int]) -> int:
        if not batch:
            return 0
        decisions: list[Record] = []
        for msg in batch:
            try:
                event_type, record = self.codec.decode(msg.value())
            except PoisonMessage as exc:  # the audit sink dead-letters it; we pass it by
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
        for msg in batch:
            p, o = msg.partition() or 0, msg.offset() or 0
            positions[p] = max(positions.get(p, 0), o + 1)
        with retryable_db_errors("the case tables"), self.engine.begin() as conn:
            applied = apply_many(conn, decisions, self.scope)
            _write_positions(conn, self.scope, positions)
        return applied

    def _stored_positions(self) -> dict[int, int]:
        t = case_projection_positions
        with retryable_db_errors("the case tables"), self.engine.connect() as conn:
            rows = conn.execute(
                select(t.c.partition, t.c.next_offset).where(t.c.scope == self.scope)
            )
            return {int(p): int(o) for p, o in rows}

    def _store_positions(self, positions: dict[int, int]) -> None:
        with retryable_db_errors("the case tables"), self.engine.begin() as conn:
            _write_positions(conn, self.scope, positions)


def _write_positions(conn: Connection, scope: str, positions: dict[int, int]) -> None:
    from sqlalchemy.dialects.postgresql import insert

    t = case_projection_positions
    for partition, offset in positions.items():
        stmt = insert(t).values(scope=scope, partition=partition, next_offset=offset)
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=[t.c.scope, t.c.partition],
                set_={"next_offset": stmt.excluded.next_offset},
                where=t.c.next_offset < stmt.excluded.next_offset,
            )
        )


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
