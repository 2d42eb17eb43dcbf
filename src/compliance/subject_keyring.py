"""Subjects' keys for sealing personal values on Kafka, from PostgreSQL, cached.

The keys are the audit trail's crypto-shredding keys (``audit_subject_keys``,
``compliance.audit.subject_keys``); ``compliance gdpr erase`` destroys them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable

from sqlalchemy import Engine, text

from compliance.audit.subject_keys import existing_keys, keys_for
from compliance.bounds import MAX_ID_BYTES, utf8_length
from compliance.codec import SchemaRegistry, registry
from compliance.db_errors import retryable_db_errors
from compliance.errors import ConfigurationError
from compliance.sealing import SubjectKey

# How long a processor keeps a subject's key (or that it has none) before reading it again: a
# key destroyed by an erasure stops being used within this time. One query per batch reads
# every key it needs, so a short time costs little.
KEY_CACHE_TTL_S = 5.0
# Cache entries: a key, or one of these.
_ERASED = "erased"
_NO_KEY = "no key"
_Entry = SubjectKey | str


class DatabaseKeyring:
    """Subjects' keys from ``audit_subject_keys`` in PostgreSQL, cached for ``ttl_s``.

    ``prefetch`` reads (and creates, for new subjects) the keys of a whole batch in one
    transaction; a key is cached only once that transaction has committed. A subject erased
    meanwhile stops getting its old key after ``ttl_s`` at the latest (and a value sealed with
    it in between cannot be opened either: the key is gone).
    """

    def __init__(
        self, engine: Engine, ttl_s: float = KEY_CACHE_TTL_S, max_entries: int = 200_000
    ) -> None:
        self.engine = engine
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._entries: dict[str, tuple[float, _Entry]] = {}
        self._lock = threading.Lock()

    def sealing_key(self, subject: str) -> SubjectKey | None:
        entry = self._cached(subject)
        if entry is None or entry == _NO_KEY:
            entry = self._load([subject], create=True)[subject]
        return entry if isinstance(entry, SubjectKey) else None

    def opening_key(self, subject: str) -> SubjectKey | None:
        entry = self._cached(subject)
        if entry is None:
            entry = self._load([subject], create=False)[subject]
        return entry if isinstance(entry, SubjectKey) else None

    def is_erased(self, subject: str) -> bool:
        entry = self._cached(subject)
        if entry is None:
            entry = self._load([subject], create=False)[subject]
        return entry == _ERASED

    def prefetch(self, subjects: Iterable[str]) -> None:
        """Keys of ``subjects`` read, or created for new ones, in one transaction."""
        missing = [
            s
            for s in set(subjects)
            # A longer one, or one holding a NUL, is dead-lettered, never keyed.
            if utf8_length(s) <= MAX_ID_BYTES
            and "\x00" not in s
            and self._cached(s) in (None, _NO_KEY)
        ]
        if missing:
            self._load(missing, create=True)

    def _cached(self, subject: str) -> _Entry | None:
        found = self._entries.get(subject)
        if found is None or time.monotonic() - found[0] >= self.ttl_s:
            return None
        return found[1]

    def _load(self, subjects: list[str], create: bool) -> dict[str, _Entry]:
        with retryable_db_errors("the subject key store"), self.engine.begin() as conn:
            keys = keys_for(conn, subjects) if create else existing_keys(conn, subjects)
        # Committed: only now may these keys seal values.
        now = time.monotonic()
        entries: dict[str, _Entry] = {}
        for subject in subjects:
            if subject not in keys:
                entries[subject] = _NO_KEY
            else:
                key = keys[subject]
                entries[subject] = _ERASED if key is None else SubjectKey.of(subject, key)
        with self._lock:
            if len(self._entries) + len(entries) > self.max_entries:
                self._entries.clear()
            for subject, entry in entries.items():
                self._entries[subject] = (now, entry)
        return entries


def sealing_codec(engine: Engine) -> SchemaRegistry:
    """The bundled schemas, sealing personal fields with keys from ``engine`` (a processor's).
    Stops with one sentence when the key store does not exist yet."""
    with retryable_db_errors("the subject key store"), engine.connect() as conn:
        found = conn.execute(text("SELECT to_regclass('audit_subject_keys')")).scalar()
    if found is None:
        raise ConfigurationError(
            "the subjects' keys (table audit_subject_keys) are not there: run "
            "`compliance db init` first; personal data is never sent unsealed"
        )
    return registry().with_keyring(DatabaseKeyring(engine))
