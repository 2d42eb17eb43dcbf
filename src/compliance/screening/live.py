"""The lists in force, and what keeps processors and commands on them.

The version in force is the latest one loaded into the database (``compliance sanctions
load``); before any load, the bundled lists in ``COMPLIANCE_SANCTIONS_DIR`` (default
``rules/watchlists``). Either way it has a list-set version, ``fingerprint``: the stored
version, or for a folder the same hash a load of that folder would store (``version_of``
over each list file's name and SHA-256), so results name the exact lists screened.

``start_screener`` gives a ``Screener`` that stays on the version in force (the CLI and
tests). ``LiveSanctions`` is what the checker's sanctions rule screens against: an immutable
snapshot of the lists in force, replaced by a ``ListWatcher`` when a new version is stored
(listeners hear of it: the checker brings a new ruleset version into force), and the
officers' clearances, looked up per hit; within ``batch(customers)``, a hit of a customer and
entity no officer ever acted on is answered without a query (the pairs that have clearance
records are read once for the whole batch).
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from sqlalchemy import Engine, select

from compliance.config import Settings
from compliance.errors import ConfigurationError
from compliance.screening.clearance_store import ClearanceStore
from compliance.screening.config import ScreeningConfig
from compliance.screening.events import Clearance
from compliance.screening.list_store import (
    ListStore,
    ListVersion,
    StoredFile,
    expand_list_paths,
    load_files,
    version_of,
)
from compliance.screening.list_watcher import ListWatcher
from compliance.screening.model import SanctionsList
from compliance.screening.screener import Screener
from compliance.screening.tables import clearances, create_screening_schema, database

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ListsInForce:
    version: str | None  # the stored list version; None for the bundled folder
    version_id: int | None
    description: str
    fingerprint: str  # the list-set version screened: ``version``, or the folder's hash
    load: Callable[[], Sequence[SanctionsList]] = field(repr=False, compare=False)

    @cached_property
    def lists(self) -> Sequence[SanctionsList]:
        """The lists, parsed on first use (an index of this fingerprint may exist already)."""
        return self.load()


def loaded(lists: Sequence[SanctionsList]) -> Callable[[], Sequence[SanctionsList]]:
    return lambda: lists


def read_list_folder(folder: Path) -> list[StoredFile]:
    """The list files of a folder with their contents, as ``sanctions load`` would take them
    (documentation files skipped)."""
    files = []
    for path in expand_list_paths([folder]):
        data = path.read_bytes()
        files.append(
            StoredFile(path.name, "", hashlib.sha256(data).hexdigest(), len(data), 0, data)
        )
    return files


def load_list_files(files: Sequence[StoredFile], where: Path) -> list[SanctionsList]:
    """The lists in files read by ``read_list_folder``; at least one must be recognised."""
    lists = load_files(files)
    if not lists:
        raise ConfigurationError(f"no recognised sanctions list files in {where}")
    return lists


def folder_in_force(folder: Path, description: str) -> ListsInForce:
    """The lists of a folder, loaded (when first used) from exactly the bytes its
    fingerprint hashes."""
    files = read_list_folder(folder)
    return ListsInForce(
        None, None, description, version_of(files), lambda: load_list_files(files, folder)
    )


def _require_folder(settings: Settings) -> Path:
    folder = settings.sanctions_dir
    if not folder.is_dir():
        raise ConfigurationError(
            f"sanctions list folder {folder} does not exist (set COMPLIANCE_SANCTIONS_DIR)"
        )
    return folder


def bundled_lists(settings: Settings) -> list[SanctionsList]:
    return list(bundled_in_force(settings).lists)


def bundled_in_force(settings: Settings) -> ListsInForce:
    folder = _require_folder(settings)
    return folder_in_force(folder, f"bundled lists in {folder}")


def _describe(version: ListVersion) -> str:
    loaded = version.loaded_at.isoformat(timespec="seconds") if version.loaded_at else "?"
    return f"list version {version.version} (loaded {loaded} by {version.loaded_by})"


def lists_in_force(settings: Settings, engine: Engine) -> ListsInForce:
    store = ListStore(engine, settings.topic_prefix)
    current = store.current()
    if current is None:
        return bundled_in_force(settings)
    return ListsInForce(
        current.version,
        current.id,
        _describe(current),
        current.version,
        loaded(store.lists(current.id)),
    )


class LiveSanctions:
    """The lists in force and the clearances, for a long-running processor.

    ``lists_in_force`` is one reference read: an immutable snapshot, replaced whole when the
    watcher (``watch``) finds a newer stored version. ``clearance`` asks the database each
    time, so a clearance counts from the next hit on (hits are rare; misses never ask)."""

    def __init__(self, settings: Settings, engine: Engine) -> None:
        create_screening_schema(engine)
        self.store = ListStore(engine, settings.topic_prefix)
        self.clearances = ClearanceStore(engine)
        self.poll_s = settings.sanctions_poll_s
        self._current = lists_in_force(settings, engine)
        self._listeners: list[Callable[[], None]] = []
        self._lock = threading.Lock()
        self._batch = threading.local()  # per thread: (customers, their pairs with records)

    def lists_in_force(self) -> ListsInForce:
        return self._current

    def clearance(
        self, customer_id: str, entity_id: str, entity_version: str, customer_version: str | None
    ) -> Clearance | None:
        # An outage raises RetryableError (the store's connections map it): the batch waits.
        known: tuple[frozenset[str], frozenset[tuple[str, str]]] | None = getattr(
            self._batch, "known", None
        )
        if (
            known is not None
            and customer_id in known[0]
            and (customer_id, entity_id) not in known[1]
        ):
            return None  # no officer ever cleared or revoked this pair
        return self.clearances.in_force(customer_id, entity_id, entity_version, customer_version)

    @contextmanager
    def batch(self, customer_ids: Iterable[str]) -> Iterator[None]:
        """Within it (on this thread), clearance lookups for ``customer_ids`` query the
        database only for the (customer, entity) pairs that have clearance records, read
        here in one query: a clearance recorded meanwhile counts from the next batch."""
        customers = frozenset(c for c in customer_ids if c)
        pairs: frozenset[tuple[str, str]] = frozenset()
        if customers:
            c = clearances.c
            query = select(c.customer_id, c.entity_id).where(c.customer_id.in_(sorted(customers)))
            with database(self.clearances.engine) as conn:
                pairs = frozenset((row[0], row[1]) for row in conn.execute(query.distinct()))
        self._batch.known = (customers, pairs)
        try:
            yield
        finally:
            self._batch.known = None

    def add_listener(self, listener: Callable[[], None]) -> None:
        """``listener()`` is called (on the watcher's thread) after a new version is in."""
        with self._lock:
            self._listeners.append(listener)

    def apply(self, version_id: int, version: str, lists: Sequence[SanctionsList]) -> None:
        """Make a stored version the lists in force (the watcher calls this)."""
        stored = self.store.by_id(version_id)
        description = _describe(stored) if stored is not None else f"list version {version}"
        self._current = ListsInForce(
            version_id=version_id,
            version=version,
            description=description,
            fingerprint=version,
            load=loaded(tuple(lists)),
        )
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            listener()

    def watch(self) -> ListWatcher:
        """The started watcher that keeps this on the version in force (stop it when done)."""
        return ListWatcher(
            self.apply, self.store, interval_s=self.poll_s, version=self._current.version
        ).start()


def start_screener(
    settings: Settings, engine: Engine, config: ScreeningConfig | None = None
) -> tuple[Screener, ListWatcher]:
    """A screener on the lists in force, applying the officers' clearances, and the started
    watcher that swaps newer versions in (stop it when done)."""
    create_screening_schema(engine)
    in_force = lists_in_force(settings, engine)
    screener = Screener(in_force.lists, config=config, is_cleared=ClearanceStore(engine).is_cleared)
    watcher = ListWatcher(
        lambda _id, _version, lists: screener.load(lists),
        ListStore(engine, settings.topic_prefix),
        interval_s=settings.sanctions_poll_s,
        version=in_force.version,
    )
    return screener, watcher.start()
