"""Keeps a running screener (or anything holding lists) on the list version in force, with
no downtime.

A ``ListWatcher`` polls the list store (one small query); when a newer version is stored
it reads the files and hands them to ``apply`` with the version's id and name: for a
``Screener``, ``screener.load`` (the index is built off to the side and swapped in while
``screen`` calls go on against the old one); for the checker, ``LiveSanctions.apply``. A
failure (database down, a file that no longer loads) is logged and the holder keeps the
lists it has; the next poll tries again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

from compliance.errors import ComplianceError
from compliance.screening.list_store import ListStore
from compliance.screening.model import SanctionsList

log = logging.getLogger(__name__)

# (version id, version, its lists) -> anything; raises when the lists cannot be taken in.
Apply = Callable[[int, str, Sequence[SanctionsList]], object]


class ListWatcher:
    def __init__(
        self,
        apply: Apply,
        store: ListStore,
        *,
        interval_s: float = 30.0,
        version: str | None = None,
    ) -> None:
        """``version``: the list version held already, if it came from the store (None when
        the bundled lists or none are held)."""
        self.apply = apply
        self.store = store
        self.interval_s = interval_s
        self.version = version
        self.swaps = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def poll_once(self) -> bool:
        """Swap in the version in force if it is not held yet; True if swapped. Raises what
        went wrong (what is held is unchanged then)."""
        marker = self.store.current_marker()
        if marker is None or marker[1] == self.version:
            return False
        version_id, version = marker
        self.apply(version_id, version, self.store.lists(version_id))
        self.version = version
        self.swaps += 1
        log.info("sanctions lists swapped to version %s (id %d)", version, version_id)
        return True

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except ComplianceError as exc:  # RetryableError, ListLoadError: keep the old lists
                log.warning("sanctions list update not applied, keeping %s: %s", self.version, exc)
            except Exception:
                log.exception("sanctions list update failed, keeping %s", self.version)
            self._stop.wait(self.interval_s)

    def start(self) -> ListWatcher:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="list-watcher", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout_s: float = 30.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def __enter__(self) -> ListWatcher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
