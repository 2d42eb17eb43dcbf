"""Signed checkpoints of chain heads: HMAC-SHA-256 with a key the database never holds.

Hashes alone do not stop someone with write access from rewriting a chain and recomputing
every hash after the change. A checkpoint states "row ``chain_seq`` of this chain had hash
``row_hash``", signed with ``COMPLIANCE_AUDIT_SIGNING_KEY``: a rewrite of anything up to a
signed head changes that row's hash, and a new signature cannot be made without the key.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from psycopg2.extensions import cursor as Cursor

from compliance.audit.chain import timestamp_text
from compliance.config import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Head:
    """The last link of one (topic, partition) chain."""

    topic: str
    partition: int
    chain_seq: int
    offset: int
    row_hash: bytes


def signing_key(settings: Settings) -> bytes:
    """The signing key; the development key is refused outside development mode."""
    return settings.audit_signing_secret


def signature(key: bytes, head: Head, signed_at: datetime) -> bytes:
    message = "\n".join(
        [
            head.topic,
            str(head.partition),
            str(head.chain_seq),
            head.row_hash.hex(),
            timestamp_text(signed_at),
        ]
    )
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


def is_genuine(key: bytes, head: Head, signed_at: datetime, signed: bytes) -> bool:
    return hmac.compare_digest(signature(key, head, signed_at), signed)


def write_checkpoints(cur: Cursor, key: bytes, heads: Iterable[Head], signed_at: datetime) -> int:
    rows = [
        (signed_at, h.topic, h.partition, h.chain_seq, h.row_hash, signature(key, h, signed_at))
        for h in heads
        if h.chain_seq > 0
    ]
    if rows:
        cur.executemany(
            "INSERT INTO audit_checkpoints "
            '(signed_at, topic, "partition", chain_seq, row_hash, signature) '
            "VALUES (%s, %s, %s, %s, %s, %s)",
            rows,
        )
    return len(rows)


def heads_behind(cur: Cursor, topics: Sequence[str]) -> list[Head]:
    """The heads of the chains of ``topics`` past their newest signed checkpoint."""
    cur.execute(
        'SELECT h.topic, h."partition", h.chain_seq, h."offset", h.row_hash '
        "FROM audit_chain_heads h WHERE h.topic = ANY(%s) AND h.chain_seq > 0 AND "
        "h.chain_seq > COALESCE((SELECT max(c.chain_seq) FROM audit_checkpoints c "
        'WHERE c.topic = h.topic AND c."partition" = h."partition"), 0) '
        'ORDER BY h.topic, h."partition"',
        (list(topics),),
    )
    return [Head(t, p, seq, off, bytes(h)) for t, p, seq, off, h in cur.fetchall()]
