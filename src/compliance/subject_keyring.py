"""Subjects' keys for sealing personal values on Kafka, from PostgreSQL, cached.

The keys are the audit trail's crypto-shredding keys (``audit_subject_keys``,
``compliance.audit.subject_keys``); ``compliance gdpr erase`` destroys them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable

from sqlalchemy import Engine, text
from sqlalchemy.pool import PoolProxiedConnection

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
# A keyring following erasures asks for those since its last look minus this much: an
# erasure's transaction started (its erased_at) before it committed, never this long before.
ERASURE_LOOKBACK = "60 seconds"
_ERASED_SINCE = text(
    "SELECT subject_id FROM audit_subject_keys WHERE erased_at >= CAST(:since AS timestamptz)"
)
# Run by the driver itself: SQLAlchemy's statement machinery costs more than the read.
_ONE_KEY = "SELECT key FROM audit_subject_keys WHERE subject_id = %(s)s"
_DATABASE_NOW = text(f"SELECT now() - interval '{ERASURE_LOOKBACK}'")


class DatabaseKeyring:
    """Subjects' keys from ``audit_subject_keys`` in PostgreSQL, cached for ``ttl_s``.

    ``prefetch`` reads (and creates, for new subjects) the keys of a whole batch in one
    transaction; a key is cached only once that transaction has committed. A subject erased
    meanwhile stops getting its old key after ``ttl_s`` at the latest (and a value sealed with
    it in between cannot be opened either: the key is gone).

    With ``follow_erasures`` (a stage that reads one record at a time, where a key read
    again every ``ttl_s`` would cost a round trip per record), a key read stays in use until
    an erasure says otherwise: every ``ttl_s`` at most, when a cached entry is older than
    that, one query asks which subjects were erased since the last (``erased_at``), and
    those are dropped. An erasure still stops the key's use within ``ttl_s`` of that query.
    """

    def __init__(
        self,
        engine: Engine,
        ttl_s: float = KEY_CACHE_TTL_S,
        max_entries: int = 200_000,
        follow_erasures: bool = False,
    ) -> None:
        self.engine = engine
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self.follow_erasures = follow_erasures
        self._entries: dict[str, tuple[float, _Entry]] = {}
        self._lock = threading.Lock()
        self._erasures_seen_at = 0.0  # monotonic time of the last look at the erasures
        self._erasures_since: object = None  # the database's time to look from next
        # Following erasures: the connection of single reads (``_one``), the driver's own.
        self._lookup: PoolProxiedConnection | None = None
        self._lookups = threading.Lock()

    def sealing_key(self, subject: str) -> SubjectKey | None:
        entry = self._cached(subject)
        if entry is None or entry == _NO_KEY:
            entry = self._one(subject, create=True)
        return entry if isinstance(entry, SubjectKey) else None

    def opening_key(self, subject: str) -> SubjectKey | None:
        entry = self._cached(subject)
        if entry is None or (entry == _NO_KEY and self._stale(subject)):
            entry = self._one(subject, create=False)
        return entry if isinstance(entry, SubjectKey) else None

    def is_erased(self, subject: str) -> bool:
        entry = self._cached(subject)  # "no key" will do: erasures are followed
        if entry is None:
            entry = self._one(subject, create=False)
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
        if found is None:
            return None
        if time.monotonic() - found[0] < self.ttl_s:
            return found[1]
        if not self.follow_erasures:
            return None
        self._follow_erasures()
        found = self._entries.get(subject)
        return None if found is None else found[1]

    def _stale(self, subject: str) -> bool:
        found = self._entries.get(subject)
        return found is None or time.monotonic() - found[0] >= self.ttl_s

    def _follow_erasures(self) -> None:
        """Drop the subjects erased since the last look (at most one query per ``ttl_s``)."""
        if time.monotonic() - self._erasures_seen_at < self.ttl_s:
            return
        # The look counts from before its query: an erasure committed while the query ran is
        # seen by the next look, which must come within ttl_s of this one's snapshot.
        now = time.monotonic()
        with retryable_db_errors("the subject key store"), self.engine.connect() as conn:
            started = conn.execute(_DATABASE_NOW).scalar_one()
            erased = [
                subject
                for (subject,) in conn.execute(_ERASED_SINCE, {"since": self._erasures_since})
            ]
        with self._lock:
            for subject in erased:
                if subject in self._entries:
                    self._entries[subject] = (now, _ERASED)
            self._erasures_since = started
            self._erasures_seen_at = now
            # The values a key sealed or opened lately are remembered with it; a key kept
            # past its lifetime keeps them no longer than an expiring keyring's key would.
            for stamped, entry in self._entries.values():
                if isinstance(entry, SubjectKey) and now - stamped >= self.ttl_s:
                    entry.sealed.clear()
                    entry.opened.clear()

    def _one(self, subject: str, create: bool) -> _Entry:
        """One subject's entry read (``create``: its key made when it has none). Following
        erasures, an existing key is read on a connection of the keyring's own, one
        statement and no transaction: a record-at-a-time stage meets each new subject
        with a round trip, which this keeps to a fraction of ``_load``'s cost."""
        if not self.follow_erasures:
            return self._load([subject], create=create)[subject]
        if self._erasures_since is None:
            self._load([], create=False)  # starts following erasures first
        with retryable_db_errors("the subject key store"), self._lookups:
            try:
                if self._lookup is None:
                    lookup = self.engine.raw_connection()
                    # Out of the pool for good: a connection switched to autocommit must
                    # never be handed to another user of the engine (its savepoints and
                    # named cursors need transactions), not even once this keyring is gone.
                    lookup.detach()
                    lookup.dbapi_connection.autocommit = True  # type: ignore[union-attr]
                    self._lookup = lookup
                cursor = self._lookup.cursor()
                try:
                    cursor.execute(_ONE_KEY, {"s": subject})
                    row = cursor.fetchone()
                finally:
                    cursor.close()
            except Exception:
                if self._lookup is not None:
                    self._lookup.invalidate()
                    self._lookup = None
                raise
        if row is None:
            return (
                self._load([subject], create=True)[subject]
                if create
                else self._keep(subject, _NO_KEY)
            )
        key = row[0]
        return self._keep(subject, _ERASED if key is None else SubjectKey.of(subject, bytes(key)))

    def _keep(self, subject: str, entry: _Entry) -> _Entry:
        with self._lock:
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
            self._entries[subject] = (time.monotonic(), entry)
        return entry

    def _load(self, subjects: list[str], create: bool) -> dict[str, _Entry]:
        with retryable_db_errors("the subject key store"), self.engine.begin() as conn:
            if self.follow_erasures and self._erasures_since is None:
                # Erasures are followed from before the first keys were read.
                self._erasures_since = conn.execute(_DATABASE_NOW).scalar_one()
                self._erasures_seen_at = time.monotonic()
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


def sealing_codec(engine: Engine, follow_erasures: bool = False) -> SchemaRegistry:
    """The bundled schemas, sealing personal fields with keys from ``engine`` (a processor's;
    ``follow_erasures``: see ``DatabaseKeyring``). Stops with one sentence when the key store
    does not exist yet."""
    with retryable_db_errors("the subject key store"), engine.connect() as conn:
        found = conn.execute(text("SELECT to_regclass('audit_subject_keys')")).scalar()
    if found is None:
        raise ConfigurationError(
            "the subjects' keys (table audit_subject_keys) are not there: run "
            "`compliance db init` first; personal data is never sent unsealed"
        )
    return registry().with_keyring(DatabaseKeyring(engine, follow_erasures=follow_erasures))
