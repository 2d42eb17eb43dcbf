"""Per-subject keys for crypto-shredding, in ``audit_subject_keys`` (apart from the rows).

A subject gets a key the first time one of its events is produced (the producers seal its
personal fields on Kafka with it, ``compliance.sealing``) or recorded. ``erase`` destroys the
key and leaves a tombstone: no new key is made for the subject, its events arriving later are
recorded without their personal data, and the processors refuse them
(``compliance.erased_subjects``). Destroyed keys may survive in old table versions until
VACUUM (run after an erasure), in WAL and in backups: production should keep keys in a KMS
with its own deletion guarantees.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from sqlalchemy import Connection, Engine, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY, BYTEA
from sqlalchemy.types import Text

from compliance.audit.personal_data import new_key

_SELECT = text(
    "SELECT subject_id, key FROM audit_subject_keys WHERE subject_id = ANY(:subjects)"
).bindparams(bindparam("subjects", type_=ARRAY(Text)))
_CREATE = text(
    "INSERT INTO audit_subject_keys (subject_id, key, created_at) "
    "SELECT s, k, now() FROM unnest(:subjects, :keys) AS new(s, k) "
    "ON CONFLICT (subject_id) DO NOTHING"
).bindparams(bindparam("subjects", type_=ARRAY(Text)), bindparam("keys", type_=ARRAY(BYTEA)))


def keys_for(conn: Connection, subjects: Iterable[str]) -> dict[str, bytes | None]:
    """The key of each subject (None when erased), creating keys for new subjects."""
    wanted = sorted(set(subjects))
    if not wanted:
        return {}
    found: dict[str, bytes | None] = {
        s: (bytes(k) if k is not None else None)
        for s, k in conn.execute(_SELECT, {"subjects": wanted})
    }
    missing = [s for s in wanted if s not in found]
    if missing:
        conn.execute(_CREATE, {"subjects": missing, "keys": [new_key() for _ in missing]})
        for s, k in conn.execute(_SELECT, {"subjects": missing}):
            found[s] = bytes(k) if k is not None else None
    return found


def existing_keys(conn: Connection, subjects: Iterable[str]) -> dict[str, bytes | None]:
    """Keys of the subjects that have one (readers never create keys)."""
    wanted = sorted(set(subjects))
    if not wanted:
        return {}
    return {
        s: (bytes(k) if k is not None else None)
        for s, k in conn.execute(_SELECT, {"subjects": wanted})
    }


def erase(engine: Engine, subject_id: str) -> bool:
    """Destroy the subject's key; True when a key existed. Idempotent."""
    with engine.begin() as conn:
        destroyed = conn.execute(
            text(
                "UPDATE audit_subject_keys SET key = NULL, erased_at = now() "
                "WHERE subject_id = :s AND key IS NOT NULL"
            ),
            {"s": subject_id},
        ).rowcount
        conn.execute(
            text(
                "INSERT INTO audit_subject_keys (subject_id, key, created_at, erased_at) "
                "VALUES (:s, NULL, now(), now()) ON CONFLICT (subject_id) DO NOTHING"
            ),
            {"s": subject_id},
        )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM audit_subject_keys"))  # drop the dead row version holding it
    return bool(destroyed)


class KeyCache:
    """Keys the sink used recently, so a batch asks the database only for new subjects.

    Entries expire after ``ttl_s``: a subject erased meanwhile stops getting the old key at the
    latest then (rows sealed with it in between are unreadable too: the key is gone).

    A key is remembered only once the transaction that read or created it has committed: a
    key created in a transaction that then fails (the server going down at COMMIT) never
    reached the database, and a row sealed with it could never be opened again.
    """

    def __init__(self, ttl_s: float = 30.0, max_entries: int = 200_000) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._keys: dict[str, tuple[float, bytes | None]] = {}

    def keys_for(self, engine: Engine, subjects: Iterable[str]) -> dict[str, bytes | None]:
        """The subjects' keys: cached ones, the others read or created in a transaction of
        their own (none when every key is cached)."""
        now = time.monotonic()
        result: dict[str, bytes | None] = {}
        missing = []
        for subject in set(subjects):
            cached = self._keys.get(subject)
            if cached is not None and now - cached[0] < self.ttl_s:
                result[subject] = cached[1]
            else:
                missing.append(subject)
        if missing:
            with engine.begin() as conn:
                fetched = keys_for(conn, missing)
            # Committed: only now may these keys seal rows of later batches too.
            if len(self._keys) + len(fetched) > self.max_entries:
                self._keys.clear()
            for subject, key in fetched.items():
                self._keys[subject] = (now, key)
            result.update(fetched)
        return result
