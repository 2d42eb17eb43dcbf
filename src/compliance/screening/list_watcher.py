"""Keeps a running screener on the list version in force, with no downtime.

A ``ListWatcher`` polls the list store (one small query); when a newer version is stored
it reads the files, builds the index off to the side and swaps it into the screener
(``Screener.load``), while ``screen`` calls go on against the old index until the swap. A
failure (database down, a file that no longer loads) is logged and the screener keeps the
lists it has; the next poll tries again.
"""

from __future__ import annotations

import logging
import threading

from compliance.errors import ComplianceError
from compliance.screening.list_store import ListStore
from compliance.screening.screener import Screener

log = logging.getLogger(__name__)


class ListWatcher:
    def __init__(
        self,
        screener: Screener,
        store: ListStore,
        *,
        interval_s: float = 30.0,
        version: str | None = None,
    ) -> None:
        """``version``: the list version the screener holds already, if it came from the
        store (None when it holds bundled lists or none)."""
        self.screener = screener
        self.store = store
        self.interval_s = interval_s
        self.version = version
        self.swaps = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def poll_once(self) -> bool:
        """Swap in the version in force if the screener does not hold it; True if swapped.
        Raises what went wrong (the screener is unchanged then)."""
        marker = self.store.current_marker()
        if marker is None or marker[1] == self.version:
            return False
        version_id, version = marker
        self.screener.load(self.store.lists(version_id))
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
