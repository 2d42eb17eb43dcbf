"""Rules reload without a restart: when the rule files change (polled) or on SIGHUP.

A new ruleset is loaded off to the side, its examples are run, and it comes into force only
if both succeed *and* its announcement (a ``RulesetChanged`` event) has been delivered, so
every version that decided anything is in the audit trail. Until then, and whenever the new
files are broken, the version in force stays; a rejected reload is announced too. Readers
take ``holder.current`` once per document: a single reference swap, never a half-loaded set.

With a ``SanctionsSource`` (the checker's lists in force), the ruleset in force is bound to
one snapshot of the sanctions lists and its version covers them (``Ruleset.with_lists``).
When the source takes in a new list version, ``lists_changed`` wakes the loop, which binds
the verified rules to the new lists, announces that version and only then swaps it in: a
list change is a ruleset change, audited the same way. Examples always run against the
rules' offline lists (they test the rules, not the list of the day), so no list update is
ever refused because of an example.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable
from pathlib import Path

from compliance.errors import ConfigurationError
from compliance.rules.examples import run_examples
from compliance.rules.kinds.screening import SanctionsSource
from compliance.rules.model import RulesetError
from compliance.rules.ruleset import Ruleset, load_ruleset

log = logging.getLogger(__name__)
LIST_RETRY_S = 5.0  # after a list change could not be announced

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
    """Load a ruleset (on its offline lists) and run its examples; a failing example rejects
    it like a bad file."""
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
    """The ruleset in force, and the loop that replaces it when the files or the sanctions
    lists in force change."""

    def __init__(
        self, folder: Path, announce: Announce, sanctions: SanctionsSource | None = None
    ) -> None:
        self.folder = folder
        self.announce = announce
        self.sanctions = sanctions
        self._wake = threading.Event()
        self._signalled = threading.Event()
        self._seen = folder_digest(folder)
        self._verified = load_verified(folder)  # on the offline lists: what examples ran on
        self.current = self._bound(self._verified)
        announce(None, self.current, "start", None, None)

    def _bound(self, verified: Ruleset) -> Ruleset:
        return verified if self.sanctions is None else verified.with_lists(self.sanctions)

    def wake(self) -> None:
        """Reload now (SIGHUP)."""
        self._signalled.set()
        self._wake.set()

    def lists_changed(self) -> None:
        """A new sanctions list version is in force in the source: follow it now."""
        self._wake.set()

    def watch(self, stop: threading.Event, interval_s: float) -> threading.Thread:
        thread = threading.Thread(
            target=self._loop, args=(stop, interval_s), name="rules-reload", daemon=True
        )
        thread.start()
        return thread

    def _loop(self, stop: threading.Event, interval_s: float) -> None:
        retry_s: float | None = None  # set while a list change waits to be announced
        while not stop.is_set():
            waits = [w for w in (interval_s if interval_s > 0 else None, retry_s) if w]
            self._wake.wait(min(waits) if waits else None)
            self._wake.clear()
            if stop.is_set():
                return
            signalled = self._signalled.is_set()
            self._signalled.clear()
            try:
                self.reload("signal" if signalled else "files changed", force=signalled)
            except Exception:  # the watcher must outlive any failure; the old rules stay
                log.exception("rules reload failed; version %s stays", self.current.version)
            try:
                self.follow_lists()
                retry_s = None
            except Exception:  # the old lists stay meanwhile; retried soon, even when rule
                # files are only reloaded on SIGHUP (the list watcher will not ask again)
                retry_s = LIST_RETRY_S
                log.exception(
                    "sanctions lists not followed; version %s stays, retry in %.0f s",
                    self.current.version,
                    retry_s,
                )

    def reload(self, reason: str, force: bool = False) -> bool:
        """Replace the ruleset if the files changed; True when a new version came into force."""
        digest = folder_digest(self.folder)
        if digest == self._seen and not force:
            return False
        try:
            verified = load_verified(self.folder)
            candidate = self._bound(verified)
        except (ConfigurationError, OSError) as exc:
            if digest != self._seen:
                log.error("rules in %s not reloaded: %s", self.folder, exc)
                self.announce(self.current, self.current, reason, str(exc), digest[:16])
                self._seen = digest
            return False
        if candidate.version == self.current.version:
            self._seen = digest
            self._verified = verified
            return False
        self._swap(candidate, verified, reason)  # raises: not swapped
        self._seen = digest
        return True

    def follow_lists(self) -> bool:
        """Bring the rules in force onto the source's lists in force, if they moved; True
        when a new version came into force. Reads no rule file."""
        if self.sanctions is None or self.current.lists_version is None:
            return False
        in_force = self.sanctions.lists_in_force()
        if in_force.fingerprint == self.current.lists_version:
            return False
        candidate = self._verified.with_lists(self.sanctions)
        if candidate.version == self.current.version:
            return False
        self._swap(candidate, self._verified, f"sanctions lists changed: {candidate.lists_version}")
        return True

    def _swap(self, candidate: Ruleset, verified: Ruleset, reason: str) -> None:
        self.announce(self.current, candidate, reason, None, None)  # raises: not swapped
        log.info("ruleset %s -> %s (%s)", self.current.version, candidate.version, reason)
        self._verified = verified
        self.current = candidate
