"""``compliance audit verify``: walk every chain and name what was changed out of band.

For each (topic, partition) chain, rows are read in ``chain_seq`` order and each is checked
two ways: its own hash (``row_hash`` = H(``prev_hash`` || its content)) and its link (its
``prev_hash`` is the hash of the row accepted before it). From which check fails:

- own hash wrong, link right: the row was **modified** after it was written;
- a gap in ``chain_seq``, or the chain ends before its recorded head: rows were **deleted**;
- a second row claiming a position, or a row past the chain's head: **inserted** out of band;
- own hash right, link wrong: the row before was modified and its hash recomputed to hide it;
- a signed checkpoint whose row no longer has the signed hash: the chain was **rewritten**
  (hashes recomputed end to end), or the checkpoint itself was **forged** (bad signature);
- a signed checkpoint whose row is not there at all: rows were **deleted**, even when the
  chain's recorded head was moved back to hide it (the database refuses that to the sink's
  role; an owner can disable the trigger, not forge a signature).

Event ids recorded with two contents (``audit_event_conflicts``) are not tampering: they are
listed apart, as conflicts, each version a row of its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from itertools import groupby
from typing import Any

from sqlalchemy import Engine, text

from compliance.audit.chain import (
    GENESIS,
    EventColumns,
    content_digest,
    fixed_content,
    link,
    timestamp_text,
)
from compliance.audit.checkpoints import Head, is_genuine


@dataclass(frozen=True)
class StoredRow:
    columns: EventColumns
    chain_seq: int
    recorded_at: datetime
    prev_hash: bytes
    row_hash: bytes

    def hash_is_own(self) -> bool:
        digest = content_digest(
            fixed_content(self.columns), self.chain_seq, timestamp_text(self.recorded_at)
        )
        return link(self.prev_hash, digest) == self.row_hash


@dataclass(frozen=True)
class Checkpoint:
    head: Head
    signed_at: datetime
    signature: bytes


@dataclass(frozen=True)
class Finding:
    kind: str  # modified, deleted, inserted, rewritten, forged
    topic: str
    partition: int
    chain_seq: int
    offset: int | None
    event_id: str | None
    detail: str

    def __str__(self) -> str:
        where = f"{self.topic}[{self.partition}] seq {self.chain_seq}"
        if self.offset is not None:
            where += f" (offset {self.offset}, event {self.event_id})"
        return f"{self.kind.upper():9} {where}: {self.detail}"


def _finding(kind: str, row: StoredRow, detail: str) -> Finding:
    c = row.columns
    return Finding(kind, c.topic, c.partition, row.chain_seq, c.offset, c.event_id, detail)


def walk_chain(
    topic: str,
    partition: int,
    rows: Iterable[StoredRow],
    head: Head | None,
    checkpoints: Iterable[Checkpoint] = (),
    signing_key: bytes | None = None,
) -> tuple[int, list[Finding]]:
    """Check one chain (rows in ``chain_seq`` order); return (rows read, findings)."""
    findings: list[Finding] = []
    accepted: dict[int, bytes] = {}
    trusted: bytes | None = GENESIS
    expected, last, count = 1, 0, 0
    previous: StoredRow | None = None
    head_seq = head.chain_seq if head is not None else None
    for seq, group in groupby(rows, key=lambda r: r.chain_seq):
        candidates = list(group)
        count += len(candidates)
        if head_seq is not None and seq > head_seq:
            findings += [
                _finding("inserted", r, "past the chain's recorded head") for r in candidates
            ]
            continue
        if seq > expected:
            findings.append(
                Finding(
                    "deleted",
                    topic,
                    partition,
                    expected,
                    None,
                    None,
                    f"rows {expected}..{seq - 1} are missing before offset "
                    f"{candidates[0].columns.offset}",
                )
            )
            trusted = None
        chosen, kinds = _choose(candidates, trusted)
        for row, kind, detail in kinds:
            findings.append(_finding(kind, row, detail))
        if chosen is None:  # own hash right, link wrong: the row before was rewritten
            chosen = next(r for r in candidates if r.hash_is_own())
            if previous is not None:
                findings.append(
                    _finding(
                        "modified",
                        previous,
                        "changed and its hash recomputed (the next "
                        "row still links to the original)",
                    )
                )
        accepted[seq] = chosen.row_hash
        trusted, previous, expected, last = chosen.row_hash, chosen, seq + 1, seq
    if head is not None and head.chain_seq > last:
        findings.append(
            Finding(
                "deleted",
                topic,
                partition,
                last + 1,
                None,
                None,
                f"rows {last + 1}..{head.chain_seq} are missing at the end of the chain",
            )
        )
    elif head is not None and accepted.get(head.chain_seq) not in (None, head.row_hash):
        findings.append(
            Finding(
                "rewritten",
                topic,
                partition,
                head.chain_seq,
                None,
                None,
                "the last row's hash differs from the recorded chain head",
            )
        )
    findings += _check_points(topic, partition, accepted, checkpoints, signing_key)
    return count, findings


def _choose(
    candidates: list[StoredRow], trusted: bytes | None
) -> tuple[StoredRow | None, list[tuple[StoredRow, str, str]]]:
    """The row that holds this chain position, and what the others are."""

    def links(row: StoredRow) -> bool:
        return trusted is None or row.prev_hash == trusted

    genuine = [r for r in candidates if links(r) and r.hash_is_own()]
    linked = [r for r in candidates if links(r)]
    if genuine:
        chosen: StoredRow | None = genuine[0]
        notes = []
    elif linked:
        chosen = linked[0]
        notes = [(chosen, "modified", "its content no longer matches its hash")]
    else:
        chosen = None
        notes = []
    own = [r for r in candidates if r.hash_is_own()]
    keep = chosen if chosen is not None else (own[0] if own else candidates[0])
    if chosen is None and not own:
        notes.append((keep, "modified", "neither its content nor its link matches"))
        chosen = keep
    notes += [
        (r, "inserted", "a second row at this chain position")
        for r in candidates
        if r is not keep and r is not chosen
    ]
    return chosen, notes


def _check_points(
    topic: str,
    partition: int,
    accepted: dict[int, bytes],
    checkpoints: Iterable[Checkpoint],
    key: bytes | None,
) -> list[Finding]:
    findings = []
    for cp in checkpoints:
        seq = cp.head.chain_seq
        if key is not None and not is_genuine(key, cp.head, cp.signed_at, cp.signature):
            findings.append(
                Finding(
                    "forged",
                    topic,
                    partition,
                    seq,
                    None,
                    None,
                    f"checkpoint of {timestamp_text(cp.signed_at)} has a bad signature",
                )
            )
        elif seq not in accepted:
            findings.append(
                Finding(
                    "deleted",
                    topic,
                    partition,
                    seq,
                    None,
                    None,
                    f"row {seq}, signed by the checkpoint of {timestamp_text(cp.signed_at)}, "
                    "is missing",
                )
            )
        elif accepted[seq] != cp.head.row_hash:
            findings.append(
                Finding(
                    "rewritten",
                    topic,
                    partition,
                    seq,
                    None,
                    None,
                    f"the row no longer has the hash signed at "
                    f"{timestamp_text(cp.signed_at)}: the chain was rewritten",
                )
            )
    return findings


@dataclass(frozen=True)
class Conflict:
    """An event id seen again with other content; both versions are rows of the trail."""

    event_id: str
    topic: str
    partition: int
    offset: int
    detected_at: datetime

    def __str__(self) -> str:
        return (
            f"CONFLICT  event {self.event_id}: {self.topic}[{self.partition}] offset "
            f"{self.offset} carries other content than the version recorded first "
            f"(detected {timestamp_text(self.detected_at)})"
        )


@dataclass(frozen=True)
class Report:
    chains: int
    rows: int
    checkpoints: int
    findings: list[Finding]
    conflicts: list[Conflict] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.findings


_ROWS = text(
    'SELECT event_id, event_type, topic, "partition", "offset", kafka_key, correlation_id, '
    "causation_id, subject_id, occurred_at, schema_fingerprint, raw_value, payload::text, "
    "chain_seq, recorded_at, prev_hash, row_hash FROM audit_events "
    'WHERE topic = :topic AND "partition" = :partition ORDER BY chain_seq, recorded_at'
)


def _stored(r: Any) -> StoredRow:
    return StoredRow(
        EventColumns(
            event_id=str(r[0]),
            event_type=r[1],
            topic=r[2],
            partition=r[3],
            offset=r[4],
            kafka_key=r[5],
            correlation_id=r[6],
            causation_id=r[7],
            subject_id=r[8],
            occurred_at=r[9],
            schema_fingerprint=r[10],
            raw_value=bytes(r[11]) if r[11] is not None else None,
            payload_json=r[12].encode(),
        ),
        chain_seq=r[13],
        recorded_at=r[14],
        prev_hash=bytes(r[15]),
        row_hash=bytes(r[16]),
    )


def _rows(engine: Engine, topic: str, partition: int) -> Iterator[StoredRow]:
    with engine.connect() as conn:
        result = conn.execute(
            _ROWS.execution_options(yield_per=2000), {"topic": topic, "partition": partition}
        )
        for row in result:
            yield _stored(row)


def verify(engine: Engine, signing_key: bytes | None, topic_prefix: str = "") -> Report:
    """Walk every chain whose topic starts with ``topic_prefix``."""
    like = {"p": topic_prefix.replace("%", r"\%").replace("_", r"\_") + "%"}
    with engine.connect() as conn:
        heads = {
            (t, p): Head(t, p, seq, off, bytes(h))
            for t, p, seq, off, h in conn.execute(
                text(
                    'SELECT topic, "partition", chain_seq, "offset", row_hash '
                    "FROM audit_chain_heads WHERE topic LIKE :p"
                ),
                like,
            )
        }
        chains = set(heads) | {
            (t, p)
            for t, p in conn.execute(
                text('SELECT DISTINCT topic, "partition" FROM audit_events WHERE topic LIKE :p'),
                like,
            )
        }
        points: dict[tuple[str, int], list[Checkpoint]] = {}
        for t, p, seq, h, at, sig in conn.execute(
            text(
                'SELECT topic, "partition", chain_seq, row_hash, signed_at, signature '
                "FROM audit_checkpoints WHERE topic LIKE :p ORDER BY id"
            ),
            like,
        ):
            points.setdefault((t, p), []).append(
                Checkpoint(Head(t, p, seq, -1, bytes(h)), at, bytes(sig))
            )
        conflicts = [
            Conflict(str(e), t, p, o, at)
            for e, t, p, o, at in conn.execute(
                text(
                    'SELECT event_id, topic, "partition", "offset", detected_at '
                    "FROM audit_event_conflicts WHERE topic LIKE :p ORDER BY detected_at"
                ),
                like,
            )
        ]
    total, findings = 0, []
    for topic, partition in sorted(chains):
        count, found = walk_chain(
            topic,
            partition,
            _rows(engine, topic, partition),
            heads.get((topic, partition)),
            points.get((topic, partition), ()),
            signing_key,
        )
        total += count
        findings += found
    checked = sum(len(v) for v in points.values())
    return Report(len(chains), total, checked, findings, conflicts)
