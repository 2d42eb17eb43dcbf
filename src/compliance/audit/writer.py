"""Appending a batch to the audit trail: sealed, chained, copied, in one transaction.

For each batch, in this order:

1. make sure the month partitions exist and the subjects have keys (short transactions of
   their own: harmless if the batch then fails);
2. seal personal fields with the subject's key and serialize each payload once (no lock held);
3. in ONE transaction: lock the heads of the batch's chains (sorted, so two writers never
   deadlock on them); claim the event ids with their content hashes in ``audit_event_ids``
   (an id already there with the same hash is an event recorded before: skipped, not
   chained; with another hash it is a conflict, listed in ``audit_event_conflicts`` once and
   written as a row of its own); chain the rows to write from the locked heads; ``COPY``
   them into ``audit_events``; move the heads; commit. Then sign a checkpoint when due.
   Both COPYs use the binary format (``compliance.audit.copy_binary``): the server then
   parses nothing, about a fifth less of its time per row than text.

A crash anywhere before the commit leaves nothing; a replay of the batch then finds no id
claimed and writes it whole. A replay after the commit finds every id claimed with the same
hash and writes nothing. Two sinks racing on the same event id serialize on the id's unique
index. A transaction refused for the content of a row (``compliance.db_errors``) is replayed
in halves, each committed on its own, down to the single rows that are refused alone: those
are returned to the caller (who dead-letters them), the rest is written.
"""

from __future__ import annotations

import hashlib
import io
import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

import psycopg2.errors
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from psycopg2.extensions import cursor as Cursor
from sqlalchemy import Engine

from compliance.audit import copy_binary
from compliance.audit.chain import (
    GENESIS,
    header_json,
    timestamp_text,
)
from compliance.audit.checkpoints import Head, heads_behind, write_checkpoints
from compliance.audit.jsontext import dumps
from compliance.audit.partitions import Partitions
from compliance.audit.personal_data import seal
from compliance.audit.rows import AuditRow
from compliance.audit.subject_keys import KeyCache
from compliance.db_errors import is_content_error, refusal, retryable_db_errors
from compliance.errors import RetryableError
from compliance.events import now

COLUMNS = (
    'event_id, event_type, topic, "partition", "offset", kafka_key, correlation_id, '
    "causation_id, subject_id, occurred_at, schema_fingerprint, raw_value, payload, "
    "chain_seq, recorded_at, prev_hash, row_hash"
)
log = logging.getLogger(__name__)
DATABASE = "the audit database"
# A part of more rows than this refused row by row is a fault of ours, not of the records.
REFUSED_ALL_BREAKER = 8


class Prepared(NamedTuple):
    """A row sealed and serialized, waiting for its place in its chain: ``fixed`` is its
    hashed content, ``copy_row`` its fields in binary COPY format up to (not including)
    ``chain_seq`` (``compliance.audit.copy_binary``), ``occurred_text`` its instant as the
    chain spells it and ``occurred_us`` as PostgreSQL keeps it. A plain tuple: batches of
    these cross from the preparing process to the writing one, and tuples pickle cheaply."""

    event_id: str
    topic: str
    partition: int
    offset: int
    occurred_text: str
    fixed: bytes
    copy_row: bytes
    content_hash: bytes = b""
    occurred_us: int = 0

    @property
    def chain(self) -> tuple[str, int]:
        return (self.topic, self.partition)

    @property
    def coordinates(self) -> tuple[str, int, int]:
        return (self.topic, self.partition, self.offset)


def prepare(row: AuditRow, cipher: AESGCM | None) -> Prepared:
    """Seal ``row``'s personal fields and serialize it, ready to be chained (``row`` is left
    as it was)."""
    return prepare_event(
        row.event_id,
        row.event_type,
        row.topic,
        row.partition,
        row.offset,
        row.kafka_key,
        row.correlation_id,
        row.causation_id,
        row.subject_id,
        row.occurred_at,
        row.schema_fingerprint,
        dict(row.payload),
        row.raw_value,
        cipher,
    )


def prepare_event(
    event_id: str,
    event_type: str,
    topic: str,
    partition: int,
    offset: int,
    kafka_key: str | None,
    correlation_id: str | None,
    causation_id: str | None,
    subject_id: str | None,
    occurred_at: datetime,
    schema_fingerprint: str | None,
    payload: dict[str, Any],
    raw_value: bytes | None,
    cipher: AESGCM | None,
) -> Prepared:
    """``prepare`` for the sink's hot path, which has the event's values at hand and owns
    ``payload``: its top-level personal fields are sealed in place. ``fixed`` is
    ``chain.fixed_content`` byte for byte (a unit test holds them equal), built without the
    intermediate objects: this runs once per event, tens of thousands of times a second."""
    content_hash = _content_hash(event_type, payload, raw_value)
    seal(event_type, event_id, payload, cipher)
    payload_json = dumps(payload)
    if occurred_at.tzinfo is not UTC:
        occurred_at = occurred_at.astimezone(UTC)
    occurred_text = occurred_at.isoformat(timespec="microseconds")
    occurred_us = copy_binary.micros(occurred_at)
    kafka_key = _clean(kafka_key)
    correlation_id = _clean(correlation_id) or ""
    causation_id = _clean(causation_id)
    subject_id = _clean(subject_id)
    raw_hex = raw_value.hex() if raw_value is not None else None
    header = header_json(
        [
            event_id,
            event_type,
            topic,
            partition,
            offset,
            kafka_key,
            correlation_id,
            causation_id,
            subject_id,
            occurred_text,
            schema_fingerprint,
            raw_hex,
        ]
    )
    return Prepared(
        event_id,
        topic,
        partition,
        offset,
        occurred_text,
        header + b"\n" + payload_json,
        copy_binary.event_fields(
            event_id,
            event_type,
            topic,
            partition,
            offset,
            kafka_key,
            correlation_id,
            causation_id,
            subject_id,
            occurred_us,
            schema_fingerprint,
            raw_value,
            payload_json,
        ),
        content_hash,
        occurred_us,
    )


def content_hash_of(row: AuditRow) -> bytes:
    """What makes two events with one id the same event: their type, their payload before
    sealing (as JSON) and the bytes of an undecodable record, but not the envelope's
    ``occurred_at``, the time it was produced. A document published twice, or an input
    processed again with the same result, is the same event at another time (a duplicate);
    a corrected document or a different decision under the same id is a conflict."""
    return _content_hash(row.event_type, dict(row.payload), row.raw_value)


def _content_hash(event_type: str, payload: dict[str, Any], raw_value: bytes | None) -> bytes:
    """``content_hash_of`` for a payload the caller owns: its envelope's ``occurred_at`` is
    left out for the hash and put back (the same key order, so the same JSON)."""
    envelope = payload.get("envelope")
    if isinstance(envelope, dict) and "occurred_at" in envelope:
        # Blanked in place and put back (a key set again keeps its place): no copy made.
        occurred_at = envelope["occurred_at"]
        envelope["occurred_at"] = None
        try:
            payload_json = dumps(payload)
        finally:
            envelope["occurred_at"] = occurred_at
    else:
        payload_json = dumps(payload)
    digest = _type_digest(event_type)
    digest.update(payload_json)
    if raw_value is not None:
        digest.update(b"\n" + raw_value)
    return digest.digest()


_TYPE_DIGESTS: dict[str, hashlib._Hash] = {}


def _type_digest(event_type: str) -> hashlib._Hash:
    """SHA-256 fed with ``"<event_type>\n"``: a copy of one made once per type."""
    digest = _TYPE_DIGESTS.get(event_type)
    if digest is None:
        digest = _TYPE_DIGESTS[event_type] = hashlib.sha256(event_type.encode() + b"\n")
    return digest.copy()


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


@dataclass
class Claim:
    """What the claim found for a batch: the rows to chain (in batch order: new events, and
    the first sight of each conflicting version), and how many were duplicates or conflicts."""

    rows: list[Prepared]
    duplicates: int
    conflicts: int


def claim_event_ids(cur: Cursor, rows: Sequence[Prepared]) -> Claim:
    """Claim each event id of the batch with its content hash; sort out what to write.

    Usually none of the ids was recorded before, and they are COPYed in at once. When one was
    (a batch replayed after a crash, an event delivered twice, an id reused), the unique index
    refuses the COPY; it is rolled back to a savepoint, the ids are inserted by a statement
    that skips the ones already there, and the hashes recorded for those are read back. The
    same id with the same content hash is a duplicate (skipped); with another hash it is a
    conflict (``claim_conflicts``). Ids go in sorted, so two writers never wait on each other
    in a cycle."""
    first: dict[str, Prepared] = {}
    for p in rows:
        first.setdefault(p.event_id, p)
    ordered = sorted(first.values(), key=lambda p: p.event_id)
    copied = b"".join(
        [copy_binary.HEADER]
        + [copy_binary.claim_row(p.event_id, p.occurred_us, p.content_hash) for p in ordered]
        + [copy_binary.TRAILER]
    )
    cur.execute("SAVEPOINT claim")
    try:
        cur.copy_expert(
            "COPY audit_event_ids (event_id, occurred_at, content_hash) FROM STDIN BINARY",
            io.BytesIO(copied),
            size=max(len(copied), 8192),
        )
    except psycopg2.errors.UniqueViolation:
        cur.execute("ROLLBACK TO SAVEPOINT claim")
        recorded = _claim_skipping_recorded(cur, ordered)
    else:
        cur.execute("RELEASE SAVEPOINT claim")
        if len(first) == len(rows):
            return Claim(list(rows), 0, 0)
        recorded = {}
    return _sort_out(cur, rows, first, recorded)


def _claim_skipping_recorded(cur: Cursor, ordered: Sequence[Prepared]) -> dict[str, bytes | None]:
    """Insert the ids not recorded yet; return the content hash recorded before for each of
    the others (None for ids claimed before content hashes were kept)."""
    # Array literals as plain text: adapting thousands of values one by one is slow.
    ids = "{" + ",".join(p.event_id for p in ordered) + "}"
    cur.execute(
        "INSERT INTO audit_event_ids (event_id, occurred_at, content_hash) "
        "SELECT * FROM unnest(%s::uuid[], %s::timestamptz[], %s::bytea[]) ORDER BY 1 "
        "ON CONFLICT DO NOTHING RETURNING event_id::text",
        (
            ids,
            "{" + ",".join(f'"{p.occurred_text}"' for p in ordered) + "}",
            "{" + ",".join(f'"\\\\x{p.content_hash.hex()}"' for p in ordered) + "}",
        ),
    )
    new = {event_id for (event_id,) in cur.fetchall()}
    old = "{" + ",".join(p.event_id for p in ordered if p.event_id not in new) + "}"
    cur.execute(
        "SELECT event_id::text, content_hash FROM audit_event_ids WHERE event_id = ANY(%s::uuid[])",
        (old,),
    )
    return {event_id: bytes(h) if h is not None else None for event_id, h in cur.fetchall()}


def _sort_out(
    cur: Cursor,
    rows: Sequence[Prepared],
    first: dict[str, Prepared],
    recorded: dict[str, bytes | None],
) -> Claim:
    """The rows to write, given the ids recorded before this batch (id -> content hash)."""
    chosen: set[int] = set()
    duplicates = 0
    candidates: list[tuple[Prepared, bytes]] = []
    versions: dict[str, set[bytes]] = {}
    for p in rows:
        if p.event_id not in recorded and first[p.event_id] is p:
            chosen.add(id(p))  # new: claimed by this batch
            continue
        original = recorded.get(p.event_id, first[p.event_id].content_hash)
        seen = versions.setdefault(p.event_id, set())
        if original is None or p.content_hash == original or p.content_hash in seen:
            duplicates += 1  # the same bytes again (or an id claimed before hashes were kept)
            continue
        seen.add(p.content_hash)
        candidates.append((p, original))
    conflicts = claim_conflicts(cur, candidates)
    duplicates += len(candidates) - len(conflicts)
    chosen |= conflicts
    return Claim([p for p in rows if id(p) in chosen], duplicates, len(conflicts))


def claim_conflicts(cur: Cursor, candidates: Sequence[tuple[Prepared, bytes]]) -> set[int]:
    """Record each (event id, content hash) seen for the first time with an id already
    recorded with other content; return the candidates (by ``id()``) that were new: those
    are written as rows of their own. A version already recorded as a conflict (a replay) is
    a duplicate. Sorted, like the claim, so writers never wait on each other in a cycle."""
    if not candidates:
        return set()
    ordered = sorted(candidates, key=lambda c: (c[0].event_id, c[0].content_hash))
    cur.execute(
        "INSERT INTO audit_event_conflicts (event_id, content_hash, recorded_hash, topic, "
        '"partition", "offset", detected_at) SELECT e, c, r, t, p, o, now() FROM '
        "unnest(%s::uuid[], %s::bytea[], %s::bytea[], %s::text[], %s::int[], %s::bigint[]) "
        "AS v(e, c, r, t, p, o) ON CONFLICT DO NOTHING RETURNING event_id::text, content_hash",
        (
            [p.event_id for p, _ in ordered],
            [p.content_hash for p, _ in ordered],
            [original for _, original in ordered],
            [p.topic for p, _ in ordered],
            [p.partition for p, _ in ordered],
            [p.offset for p, _ in ordered],
        ),
    )
    new = {(event_id, bytes(h)) for event_id, h in cur.fetchall()}
    return {id(p) for p, _ in ordered if (p.event_id, p.content_hash) in new}


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


@dataclass
class Appended:
    """One transaction's result: rows written (conflicting versions included), duplicates
    skipped, conflicts recorded, and the chain heads moved."""

    written: int
    duplicates: int
    conflicts: int
    heads: list[Head]


def append(cur: Cursor, rows: Sequence[Prepared]) -> Appended:
    """Chain and copy the rows not recorded yet (inside the caller's transaction)."""
    heads = lock_heads(cur, sorted({p.chain for p in rows}))
    claim = claim_event_ids(cur, rows)
    data, moved = chain_rows(heads, claim.rows, now())
    if moved:
        # The whole batch in one read: psycopg2 reads the buffer holding the GIL, 8 KB at a
        # time by default, and each read then waits for the thread preparing the next batch
        # to let go of the GIL (a convoy that cost more than the COPY itself).
        cur.copy_expert(
            f"COPY audit_events ({COLUMNS}) FROM STDIN BINARY",
            io.BytesIO(data),
            size=max(len(data), 8192),
        )
        move_heads(cur, moved)
    return Appended(len(claim.rows), claim.duplicates, claim.conflicts, moved)


def chain_rows(
    heads: dict[tuple[str, int], Head], rows: Sequence[Prepared], recorded_at: datetime
) -> tuple[bytes, list[Head]]:
    """The binary COPY stream of ``rows`` linked to their chains' ``heads`` (empty when there
    are none), and the heads moved.

    ``chain.row_hash`` spelled out for the hot loop (a unit test holds them equal):
    ``SHA-256(prev_hash || SHA-256("<seq>\\n<recorded_at>\\n" || fixed))``."""
    sha256 = hashlib.sha256
    at = timestamp_text(recorded_at).encode()
    recorded_us = copy_binary.micros(recorded_at)
    chained = copy_binary.chain_fields
    tails: dict[tuple[str, int], _Tail] = {}
    parts: list[bytes] = [copy_binary.HEADER]
    for row in rows:
        chain = (row.topic, row.partition)
        tail = tails.get(chain)
        if tail is None:
            head = heads[chain]
            tail = tails[chain] = _Tail(head.chain_seq, head.row_hash, head.offset)
        seq = tail.seq + 1
        prev = tail.row_hash
        digest = sha256(b"%d\n%s\n" % (seq, at))
        digest.update(row.fixed)
        own = sha256(prev + digest.digest()).digest()
        parts.append(row.copy_row)
        parts.append(chained(seq, recorded_us, prev, own))
        tail.seq, tail.row_hash, tail.offset = seq, own, row.offset
    if not tails:
        return b"", []
    parts.append(copy_binary.TRAILER)
    moved = [Head(t, p, tail.seq, tail.offset, tail.row_hash) for (t, p), tail in tails.items()]
    return b"".join(parts), moved


class _Tail:
    """A chain's last link while a batch is chained (a mutable, slotted record)."""

    __slots__ = ("offset", "row_hash", "seq")

    def __init__(self, seq: int, row_hash: bytes, offset: int) -> None:
        self.seq = seq
        self.row_hash = row_hash
        self.offset = offset


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


class Refused(NamedTuple):
    """A record the database refused for its content, where it sat, and why."""

    topic: str
    partition: int
    offset: int
    why: str


@dataclass
class Outcome:
    """What became of a batch: rows written (a conflicting version of an event included),
    duplicates skipped, conflicts recorded, and the rows the database refused as content
    (with why), which the caller dead-letters."""

    written: int = 0
    duplicates: int = 0
    conflicts: int = 0
    rejected: list[Refused] = field(default_factory=list)

    def __add__(self, other: Outcome) -> Outcome:
        return Outcome(
            self.written + other.written,
            self.duplicates + other.duplicates,
            self.conflicts + other.conflicts,
            self.rejected + other.rejected,
        )


class Preparer:
    """Steps 1 and 2 of a batch (no lock held, nothing of the batch written yet), with the
    subject keys and month partitions it has seen remembered."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.keys = KeyCache()
        self.partitions = Partitions()
        self.refused: list[Refused] = []

    def prepare_batch(self, rows: Sequence[AuditRow], owned: bool = False) -> list[Prepared]:
        """The rows sealed and serialized. A row whose subject the database refuses a key
        for (its content, e.g. a subject id too long for the index) is left out and listed
        in ``refused`` (until the next call). Raises RetryableError when the database is
        unavailable. ``owned``: the payloads are the caller's to give away (the sink's, just
        decoded): their personal fields are sealed in place instead of in a copy."""
        self.refused = []
        if not rows:
            return []
        with retryable_db_errors(DATABASE):
            self.partitions.ensure(self.engine, (r.occurred_at for r in rows))
            subjects = {r.subject_id for r in rows if r.subject_id}
            keys, refused = self._keys_isolating(subjects)
        if refused:
            self.refused = [
                Refused(r.topic, r.partition, r.offset, refused[r.subject_id])
                for r in rows
                if r.subject_id in refused
            ]
            rows = [r for r in rows if r.subject_id not in refused]
        return first_of_each_version(
            [
                prepare_event(
                    *r[:11],
                    r.payload if owned else dict(r.payload),
                    r.raw_value,
                    keys.get(r.subject_id) if r.subject_id else None,
                )
                for r in rows
            ]
        )

    def _keys_isolating(
        self, subjects: set[str]
    ) -> tuple[dict[str, AESGCM | None], dict[str, str]]:
        """The subjects' ciphers; when the database refuses a key for its content, each
        subject is tried alone: (ciphers, refused subject -> why)."""
        try:
            return ciphers(self.keys.keys_for(self.engine, subjects)), {}
        except Exception as exc:
            if not is_content_error(exc) or len(subjects) <= 1:
                if len(subjects) == 1 and is_content_error(exc):
                    return {}, {next(iter(subjects)): refusal(exc)}
                raise
        keys: dict[str, AESGCM | None] = {}
        refused: dict[str, str] = {}
        for subject in sorted(subjects):
            found, why = self._keys_isolating({subject})
            keys |= found
            refused |= why
        return keys, refused


def first_of_each_version(prepared: list[Prepared]) -> list[Prepared]:
    """First occurrence of each (event id, content): a batch may hold a redelivered event
    twice; two versions of one id are both kept (the claim sorts them out)."""
    seen: set[tuple[str, bytes]] = set()
    result = []
    for p in prepared:
        version = (p.event_id, p.content_hash)
        if version not in seen:
            seen.add(version)
            result.append(p)
    return result


class AuditWriter:
    """Appends prepared batches for one sink process and signs the chain heads it moved."""

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
        self.unsigned: dict[tuple[str, int], Head] = {}
        self._heads_lock = threading.Lock()
        self._last_checkpoint = time.monotonic()

    def write(self, rows: Sequence[AuditRow]) -> Outcome:
        """Prepare and record the batch. Raises RetryableError when the database is
        unavailable: nothing is then written and the caller retries the batch."""
        preparer = Preparer(self.engine)
        outcome = self.append_batch(preparer.prepare_batch(rows))
        return outcome + Outcome(rejected=preparer.refused)

    def append_batch(self, prepared: Sequence[Prepared]) -> Outcome:
        """Step 3 for a prepared batch: chain, copy and commit it. Raises RetryableError when
        the database is unavailable; the caller then retries with the same ``prepared``
        batch. Calls must not overlap.

        With ``connections`` > 1 the batch's chains are shared out between that many
        connections, each appending its chains in a transaction of its own, in parallel
        (PostgreSQL does the work on as many cores). When one of them fails after another
        committed, the retry finds the committed rows' ids claimed and writes only the rest,
        so every event is still recorded once; chains never span two transactions.

        A transaction the database refuses for its content (``compliance.db_errors``) is
        replayed in halves, down to single rows, each part committed on its own: the rows
        that still fail alone are returned as rejected, the rest is written."""
        if not prepared:
            return Outcome()
        groups = chain_groups(prepared, self.connections)
        if len(groups) > 1:
            futures = [self._pool().submit(self._append_isolating, group) for group in groups]
            wait(futures)  # every transaction has ended, committed or not, before we go on
            failed = [e for e in (f.exception() for f in futures) if e is not None]
            if failed:
                raise failed[0]
            outcome = sum((f.result() for f in futures), Outcome())
        else:
            outcome = self._append_isolating(groups[0])
        self.checkpoint_if_due()
        return outcome

    def close(self) -> None:
        """Let the threads of the parallel connections go (the engine stays the caller's)."""
        if self._threads is not None:
            self._threads.shutdown(wait=True)
            self._threads = None

    def _pool(self) -> ThreadPoolExecutor:
        if self._threads is None:
            self._threads = ThreadPoolExecutor(self.connections, "audit-append")
        return self._threads

    def _append_isolating(self, prepared: Sequence[Prepared]) -> Outcome:
        """``_append``, with a content error narrowed down to the rows that cause it."""
        try:
            appended = self._append(prepared)
        except Exception as exc:
            if not is_content_error(exc):
                raise
            if len(prepared) == 1:
                refused = Refused(*prepared[0].coordinates, refusal(exc))
                log.warning("audit row %s/%d/%d refused: %s", *refused)
                return Outcome(rejected=[refused])
            half = len(prepared) // 2
            outcome = self._append_isolating(prepared[:half])
            outcome += self._append_isolating(prepared[half:])
            if len(outcome.rejected) == len(prepared) > REFUSED_ALL_BREAKER:
                # Every row refused alone: not the records, a fault of ours; stop visibly.
                raise exc
            return outcome
        with self._heads_lock:
            self.unsigned |= {(h.topic, h.partition): h for h in appended.heads}
        return Outcome(appended.written, appended.duplicates, appended.conflicts)

    def _append(self, prepared: Sequence[Prepared]) -> Appended:
        """One transaction: chain and copy ``prepared``."""
        with retryable_db_errors(DATABASE), self.engine.begin() as conn:
            cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            return append(cur, prepared)

    def checkpoint_due(self) -> bool:
        due = time.monotonic() - self._last_checkpoint >= self.checkpoint_interval_s
        return due and bool(self.unsigned) and self.signing_key is not None

    def checkpoint_if_due(self) -> None:
        """Sign the heads moved since the last checkpoint, when one is due (after a batch,
        and from the sink's loop when idle). Failing here loses nothing: the heads stay
        unsigned until the next checkpoint."""
        if not self.checkpoint_due():
            return
        try:
            self.checkpoint()
        except RetryableError as exc:
            log.warning("checkpoint not written (%s); retried later", exc)

    def checkpoint(self) -> int:
        """Sign the heads written since the last checkpoint (when due, and on a clean stop)."""
        with self._heads_lock:
            unsigned = dict(self.unsigned)
        if not unsigned or self.signing_key is None:
            return 0
        with retryable_db_errors(DATABASE), self.engine.begin() as conn:
            cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            signed = write_checkpoints(cur, self.signing_key, unsigned.values(), now())
        with self._heads_lock:
            for chain, head in unsigned.items():
                if self.unsigned.get(chain) == head:
                    del self.unsigned[chain]
        self._last_checkpoint = time.monotonic()
        return signed

    def sign_heads_behind(self, topics: Sequence[str]) -> int:
        """Sign the current head of each chain of ``topics`` that no checkpoint covers yet
        (rows written just before a crash, or by a sink that stopped): called at start-up,
        so no row stays unsigned for longer than one start."""
        if self.signing_key is None or not topics:
            return 0
        with retryable_db_errors(DATABASE), self.engine.begin() as conn:
            cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            return write_checkpoints(cur, self.signing_key, heads_behind(cur, topics), now())
