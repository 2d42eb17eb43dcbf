"""Rules reload without a restart: when the rule files change (polled) or on SIGHUP.

A new ruleset is loaded off to the side, its examples are run, and it comes into force only
if both succeed *and* its announcement (a ``RulesetChanged`` event) has been delivered, so
every version that decided anything is in the audit trail. Until then, and whenever the new
files are broken, the version in force stays; a rejected reload is announced too. Readers
take ``holder.current`` once per document: a single reference swap, never a half-loaded set.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable
from pathlib import Path

from compliance.errors import ConfigurationError
from compliance.rules.examples import run_examples
from compliance.rules.model import RulesetError
from compliance.rules.ruleset import Ruleset, load_ruleset

log = logging.getLogger(__name__)

# (previous, current, reason, error, rejected folder digest) -> delivered; raises if not.
Announce = Callable[[Ruleset | None, Ruleset, str, str | None, str | None], None]


def folder_digest(folder: Path) -> str:
    """A cheap change signal for the rules folder: every file's path, size and modification
    time (the watchlists are megabytes; re-reading them every few seconds would not be). A
    changed signal triggers a full load, whose content hash decides whether anything changed.
    """
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        stat = path.stat()
        digest.update(f"{path.relative_to(folder)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def load_verified(folder: Path) -> Ruleset:
    """Load a ruleset and run its examples; a failing example rejects it like a bad file."""
    ruleset = load_ruleset(folder)
    failed = [run for run in run_examples(ruleset) if not run.ok]
    if failed:
        first = failed[0]
        raise RulesetError(
            f"rule {first.rule.id}: example {first.example.name!r} expected "
            f"{first.example.expect} but got {first.outcome} ({first.explanation})"
            + (f"; {len(failed) - 1} more example(s) fail" if len(failed) > 1 else "")
        )
    return ruleset


class RulesetHolder:
    """The ruleset in force, and the loop that replaces it when the files change."""

    def __init__(self, folder: Path, announce: Announce) -> None:
        self.folder = folder
        self.announce = announce
        self._wake = threading.Event()
        self._seen = folder_digest(folder)
        self.current = load_verified(folder)
        announce(None, self.current, "start", None, None)

    def wake(self) -> None:
        """Reload now (SIGHUP)."""
        self._wake.set()

    def watch(self, stop: threading.Event, interval_s: float) -> threading.Thread:
        thread = threading.Thread(
            target=self._loop, args=(stop, interval_s), name="rules-reload", daemon=True
        )
        thread.start()
        return thread

    def _loop(self, stop: threading.Event, interval_s: float) -> None:
        while not stop.is_set():
            signalled = self._wake.wait(interval_s if interval_s > 0 else None)
            self._wake.clear()
            if stop.is_set():
                return
            try:
                self.reload("signal" if signalled else "files changed", force=signalled)
            except Exception:  # the watcher must outlive any failure; the old rules stay
                log.exception("rules reload failed; version %s stays", self.current.version)

    def reload(self, reason: str, force: bool = False) -> bool:
        """Replace the ruleset if the files changed; True when a new version came into force."""
        digest = folder_digest(self.folder)
        if digest == self._seen and not force:
            return False
        try:
            candidate = load_verified(self.folder)
        except (ConfigurationError, OSError) as exc:
            if digest != self._seen:
                log.error("rules in %s not reloaded: %s", self.folder, exc)
                self.announce(self.current, self.current, reason, str(exc), digest[:16])
                self._seen = digest
            return False
        if candidate.version == self.current.version:
            self._seen = digest
            return False
        self.announce(self.current, candidate, reason, None, None)  # raises: not swapped
        self._seen = digest
        log.info("ruleset %s -> %s (%s)", self.current.version, candidate.version, reason)
        self.current = candidate
        return True
