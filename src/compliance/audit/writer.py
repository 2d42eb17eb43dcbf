"""Appending a batch to the audit trail: sealed, chained, copied, in one transaction.

For each batch, in this order:

1. make sure the month partitions exist and the subjects have keys (short transactions of
   their own: harmless if the batch then fails);
2. seal personal fields with the subject's key and serialize each payload once (no lock held);
3. in ONE transaction: lock the heads of the batch's chains (sorted, so two writers never
   deadlock on them); claim the event ids in ``audit_event_ids`` (an id already there is an
   event recorded before: skipped, not chained); chain the new rows from the locked heads;
   ``COPY`` them into ``audit_events``; move the heads; sign a checkpoint when one is due;
   commit.

A crash anywhere before the commit leaves nothing; a replay of the batch then finds no id
claimed and writes it whole. A replay after the commit finds every id claimed and writes
nothing. Two sinks racing on the same event id serialize on the id's unique index.
"""

from __future__ import annotations

import io
import logging
import re
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager
from typing import NamedTuple

import psycopg2
import psycopg2.errors
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from psycopg2.extensions import cursor as Cursor
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, OperationalError

from compliance.audit.chain import (
    GENESIS,
    EventColumns,
    content_digest,
    fixed_content,
    link,
    timestamp_text,
)
from compliance.audit.checkpoints import Head, write_checkpoints
from compliance.audit.jsontext import dumps
from compliance.audit.partitions import Partitions
from compliance.audit.personal_data import seal
from compliance.audit.rows import AuditRow, first_of_each_event
from compliance.audit.subject_keys import KeyCache
from compliance.errors import RetryableError
from compliance.events import now

COLUMNS = (
    'event_id, event_type, topic, "partition", "offset", kafka_key, correlation_id, '
    "causation_id, subject_id, occurred_at, schema_fingerprint, raw_value, payload, "
    "chain_seq, recorded_at, prev_hash, row_hash"
)
log = logging.getLogger(__name__)
_SPECIAL = re.compile(r"[\\\t\n\r]")
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_TRANSIENT = (
    psycopg2.OperationalError,
    psycopg2.InterfaceError,
    psycopg2.errors.DeadlockDetected,
    psycopg2.errors.SerializationFailure,
)


class Prepared(NamedTuple):
    """A row sealed and serialized, waiting for its place in its chain: ``fixed`` is its
    hashed content, ``copy_text`` its COPY columns up to (not including) ``chain_seq``,
    ``occurred_text`` its instant as the chain spells it. A plain tuple: batches of these
    cross from the preparing process to the writing one, and tuples pickle cheaply."""

    event_id: str
    topic: str
    partition: int
    offset: int
    occurred_text: str
    fixed: bytes
    copy_text: bytes

    @property
    def chain(self) -> tuple[str, int]:
        return (self.topic, self.partition)


def _text(value: str | None) -> str:
    if value is None:
        return "\\N"
    return value.translate(_ESCAPES) if _SPECIAL.search(value) else value


def _bytea(value: bytes | None) -> str:
    return "\\N" if value is None else "\\\\x" + value.hex()


def _copy_text(c: EventColumns, occurred_text: str) -> bytes:
    line = "\t".join(
        (
            c.event_id,
            _text(c.event_type),
            _text(c.topic),
            str(c.partition),
            str(c.offset),
            _text(c.kafka_key),
            _text(c.correlation_id),
            _text(c.causation_id),
            _text(c.subject_id),
            occurred_text,
            _text(c.schema_fingerprint),
            _bytea(c.raw_value),
            "",
        )
    )
    return line.encode() + c.payload_json.replace(b"\\", b"\\\\") + b"\t"


def prepare(row: AuditRow, cipher: AESGCM | None) -> Prepared:
    """Seal ``row``'s personal fields and serialize it, ready to be chained."""
    payload = dict(row.payload)
    seal(row.event_type, row.event_id, payload, cipher)
    columns = EventColumns(
        event_id=row.event_id,
        event_type=row.event_type,
        topic=row.topic,
        partition=row.partition,
        offset=row.offset,
        kafka_key=_clean(row.kafka_key),
        correlation_id=_clean(row.correlation_id) or "",
        causation_id=_clean(row.causation_id),
        subject_id=_clean(row.subject_id),
        occurred_at=row.occurred_at,
        schema_fingerprint=row.schema_fingerprint,
        raw_value=row.raw_value,
        payload_json=dumps(payload),
    )
    occurred_text = timestamp_text(row.occurred_at)
    return Prepared(
        row.event_id,
        row.topic,
        row.partition,
        row.offset,
        occurred_text,
        fixed_content(columns, occurred_text),
        _copy_text(columns, occurred_text),
    )


def _clean(value: str | None) -> str | None:
    """PostgreSQL text cannot hold NUL; the payload keeps the exact value."""
    return value.replace("\x00", "\ufffd") if value is not None and "\x00" in value else value


def lock_heads(cur: Cursor, chains: Sequence[tuple[str, int]]) -> dict[tuple[str, int], Head]:
    topics = [t for t, _ in chains]
    partitions = [p for _, p in chains]
    cur.execute(
        'INSERT INTO audit_chain_heads (topic, "partition", chain_seq, "offset", row_hash, '
        "updated_at) SELECT t, p, 0, -1, %s, now() FROM unnest(%s::text[], %s::int[]) AS c(t, p) "
        "ORDER BY t, p ON CONFLICT DO NOTHING",
        (GENESIS, topics, partitions),
    )
    cur.execute(
        'SELECT topic, "partition", chain_seq, "offset", row_hash FROM audit_chain_heads '
        'WHERE (topic, "partition") IN (SELECT * FROM unnest(%s::text[], %s::int[])) '
        'ORDER BY topic, "partition" FOR UPDATE',
        (topics, partitions),
    )
    return {(t, p): Head(t, p, seq, off, bytes(h)) for t, p, seq, off, h in cur.fetchall()}


def claim_event_ids(cur: Cursor, rows: Sequence[Prepared]) -> set[str]:
    """Insert the ids not recorded yet; return those (the others are skipped).

    Usually none of them was recorded before, and they are COPYed in at once. When one was (a
    batch replayed after a crash, an event delivered twice), the unique index refuses the
    COPY; it is rolled back to a savepoint and the ids are inserted by a statement that skips
    the ones already there. Ids go in sorted, so two writers never wait on each other in a
    cycle."""
    ordered = sorted(rows, key=lambda p: p.event_id)
    copied = io.BytesIO("".join(f"{p.event_id}\t{p.occurred_text}\n" for p in ordered).encode())
    cur.execute("SAVEPOINT claim")
    try:
        cur.copy_expert(
            "COPY audit_event_ids (event_id, occurred_at) FROM STDIN",
            copied,
            size=max(copied.getbuffer().nbytes, 8192),
        )
    except psycopg2.errors.UniqueViolation:
        cur.execute("ROLLBACK TO SAVEPOINT claim")
        return _claim_skipping_recorded(cur, ordered)
    cur.execute("RELEASE SAVEPOINT claim")
    return {p.event_id for p in ordered}


def _claim_skipping_recorded(cur: Cursor, ordered: Sequence[Prepared]) -> set[str]:
    # Two array literals as plain text: adapting thousands of values one by one is slow.
    cur.execute(
        "INSERT INTO audit_event_ids (event_id, occurred_at) "
        "SELECT * FROM unnest(%s::uuid[], %s::timestamptz[]) ORDER BY 1 "
        "ON CONFLICT DO NOTHING RETURNING event_id::text",
        (
            "{" + ",".join(p.event_id for p in ordered) + "}",
            "{" + ",".join(f'"{p.occurred_text}"' for p in ordered) + "}",
        ),
    )
    return {event_id for (event_id,) in cur.fetchall()}


def move_heads(cur: Cursor, heads: Sequence[Head]) -> None:
    cur.execute(
        'UPDATE audit_chain_heads h SET chain_seq = v.seq, "offset" = v.off, '
        "row_hash = v.hash, updated_at = now() FROM unnest(%s::text[], %s::int[], "
        "%s::bigint[], %s::bigint[], %s::bytea[]) AS v(topic, part, seq, off, hash) "
        'WHERE h.topic = v.topic AND h."partition" = v.part',
        (
            [h.topic for h in heads],
            [h.partition for h in heads],
            [h.chain_seq for h in heads],
            [h.offset for h in heads],
            [h.row_hash for h in heads],
        ),
    )


def append(cur: Cursor, rows: Sequence[Prepared]) -> tuple[int, list[Head]]:
    """Chain and copy the rows not recorded yet (inside the caller's transaction); return
    how many were new and the chain heads moved."""
    heads = lock_heads(cur, sorted({p.chain for p in rows}))
    new_ids = claim_event_ids(cur, rows)
    recorded_at = timestamp_text(now())
    buffer = io.BytesIO()
    moved: dict[tuple[str, int], Head] = {}
    written = 0
    for prepared in rows:
        if prepared.event_id not in new_ids:
            continue
        new_ids.discard(prepared.event_id)  # a repeat later in the batch is not new
        head = heads[prepared.chain]
        seq = head.chain_seq + 1
        own_hash = link(head.row_hash, content_digest(prepared.fixed, seq, recorded_at))
        buffer.write(prepared.copy_text)
        buffer.write(
            f"{seq}\t{recorded_at}\t\\\\x{head.row_hash.hex()}\t\\\\x{own_hash.hex()}\n".encode()
        )
        head = Head(head.topic, head.partition, seq, prepared.offset, own_hash)
        heads[prepared.chain] = moved[prepared.chain] = head
        written += 1
    if moved:
        size = buffer.tell()
        buffer.seek(0)
        # The whole batch in one read: psycopg2 reads the buffer holding the GIL, 8 KB at a
        # time by default, and each read then waits for the thread preparing the next batch
        # to let go of the GIL (a convoy that cost more than the COPY itself).
        cur.copy_expert(f"COPY audit_events ({COLUMNS}) FROM STDIN", buffer, size=max(size, 8192))
        move_heads(cur, list(moved.values()))
    return written, list(moved.values())


def chain_groups(rows: Sequence[Prepared], groups: int) -> list[list[Prepared]]:
    """The rows shared out in at most ``groups`` groups of whole chains, each group about the
    same size, each chain's rows in their order."""
    chains: dict[tuple[str, int], list[Prepared]] = {}
    for row in rows:
        chains.setdefault(row.chain, []).append(row)
    if groups <= 1 or len(chains) == 1:
        return [list(rows)]
    shared: list[list[Prepared]] = [[] for _ in range(min(groups, len(chains)))]
    for chain_rows in sorted(chains.values(), key=len, reverse=True):
        min(shared, key=len).extend(chain_rows)
    return shared


def ciphers(keys: dict[str, bytes | None]) -> dict[str, AESGCM | None]:
    return {s: AESGCM(k) if k is not None else None for s, k in keys.items()}


@contextmanager
def _classified() -> Iterator[None]:
    """Database failures that a retry may cure become RetryableError."""
    try:
        yield
    except _TRANSIENT as exc:
        raise RetryableError(f"database unavailable: {exc}".strip()) from exc
    except OperationalError as exc:
        raise RetryableError(f"database unavailable: {exc.orig}") from exc
    except DBAPIError as exc:
        if exc.connection_invalidated or isinstance(exc.orig, _TRANSIENT):
            raise RetryableError(f"database connection lost: {exc.orig}") from exc
        raise


class AuditWriter:
    """Writes batches for one sink process; remembers keys, partitions and unsigned heads."""

    def __init__(
        self,
        engine: Engine,
        signing_key: bytes | None,
        checkpoint_interval_s: float = 30.0,
        connections: int = 1,
    ) -> None:
        self.engine = engine
        self.connections = connections
        self._threads: ThreadPoolExecutor | None = None
        self.signing_key = signing_key
        self.checkpoint_interval_s = checkpoint_interval_s
        self.keys = KeyCache()
        self.partitions = Partitions()
        self.unsigned: dict[tuple[str, int], Head] = {}
        self._last_checkpoint = time.monotonic()

    def write(self, rows: Sequence[AuditRow]) -> int:
        """Record the batch; return how many rows were new. Raises RetryableError when the
        database is unavailable: nothing is then written and the caller retries the batch."""
        return self.append_batch(self.prepare_batch(rows))

    def prepare_batch(self, rows: Sequence[AuditRow]) -> list[Prepared]:
        """Steps 1 and 2 for a batch: no lock held, nothing of the batch written yet. A
        sink prepares batch N+1 here while another thread appends batch N (``append_batch``).
        Raises RetryableError when the database is unavailable."""
        unique = first_of_each_event(list(rows))
        if not unique:
            return []
        with _classified():
            self.partitions.ensure(self.engine, (r.occurred_at for r in unique))
            subjects = {r.subject_id for r in unique if r.subject_id}
            keys = ciphers(self.keys.keys_for(self.engine, subjects))
        return [prepare(r, keys.get(r.subject_id) if r.subject_id else None) for r in unique]

    def append_batch(self, prepared: Sequence[Prepared]) -> int:
        """Step 3 for a prepared batch: chain, copy and commit it; return how many rows were
        new. Raises RetryableError when the database is unavailable; the caller then retries
        with the same ``prepared`` batch. Calls must not overlap.

        With ``connections`` > 1 the batch's chains are shared out between that many
        connections, each appending its chains in a transaction of its own, in parallel
        (PostgreSQL does the work on as many cores). When one of them fails after another
        committed, the retry finds the committed rows' ids claimed and writes only the rest,
        so every event is still recorded once; chains never span two transactions."""
        if not prepared:
            return 0
        groups = chain_groups(prepared, self.connections)
        if len(groups) > 1:
            futures = [self._pool().submit(self._append, group) for group in groups]
            wait(futures)  # every transaction has ended, committed or not, before we go on
            errors = [f.exception() for f in futures]
            results = [f.result() for f, e in zip(futures, errors, strict=True) if e is None]
            failed = [e for e in errors if e is not None]
        else:
            results, failed = [self._append(groups[0])], []
        # Heads a committed transaction moved are to be signed even when another one failed.
        for _, moved in results:
            self.unsigned |= {(h.topic, h.partition): h for h in moved}
        if failed:
            raise failed[0]  # type: ignore[misc]
        self._checkpoint_if_due()
        return sum(written for written, _ in results)

    def close(self) -> None:
        """Let the threads of the parallel connections go (the engine stays the caller's)."""
        if self._threads is not None:
            self._threads.shutdown(wait=True)
            self._threads = None

    def _pool(self) -> ThreadPoolExecutor:
        if self._threads is None:
            self._threads = ThreadPoolExecutor(self.connections, "audit-append")
        return self._threads

    def _append(self, prepared: Sequence[Prepared]) -> tuple[int, list[Head]]:
        """One transaction: chain and copy ``prepared``; (rows new, heads moved)."""
        with _classified(), self.engine.begin() as conn:
            cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            return append(cur, prepared)

    def _checkpoint_if_due(self) -> None:
        """Sign the heads moved since the last checkpoint, when one is due. Failing here
        loses nothing: the heads stay unsigned until the next checkpoint."""
        due = time.monotonic() - self._last_checkpoint >= self.checkpoint_interval_s
        if not due or not self.unsigned or self.signing_key is None:
            return
        try:
            self.checkpoint()
        except RetryableError as exc:
            log.warning("checkpoint not written (%s); retried with the next batch", exc)

    def checkpoint(self) -> int:
        """Sign the heads written since the last checkpoint (when due, and on a clean stop)."""
        if not self.unsigned or self.signing_key is None:
            return 0
        with _classified(), self.engine.begin() as conn:
            cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            signed = write_checkpoints(cur, self.signing_key, self.unsigned.values(), now())
        self.unsigned = {}
        self._last_checkpoint = time.monotonic()
        return signed
