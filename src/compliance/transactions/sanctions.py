"""Counterparty names through the sanctions screening component, with the officers'
clearances (the allowlist): a counterparty an officer cleared for the account's owner, against
the same version of the listed entity, does not alert again."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

from compliance.rules.kinds.screening import ClearanceLookup, SanctionsSource, watchlist
from compliance.screening.hits import Hit
from compliance.screening.live import ListsInForce, folder_in_force
from compliance.subject_keyring import KEY_CACHE_TTL_S

HITS_CACHED = 100_000  # counterparty names screened, per screener process
# Counterparty names are personal data sealed with the account's key: the cache of their
# hits, keyed by the plain name, is emptied at least this often, so no name outlives an
# erasure longer than a cached key does (``gdpr erase`` waits for that).
HITS_TTL_S = KEY_CACHE_TTL_S


class ListsScreen:
    """Screens against the lists ``in_force()`` returns (a snapshot, replaced whole when a
    new list version is loaded), applying ``clearance`` when given."""

    def __init__(
        self, in_force: Callable[[], ListsInForce], clearance: ClearanceLookup | None = None
    ) -> None:
        self._in_force = in_force
        self._clearance = clearance
        # Raw hits by (list version, threshold, name, country): counterparties repeat, and
        # a list version's hits for a name never change. Clearances are applied after.
        self._hits: dict[tuple[str, float, str, str], Sequence[Hit]] = {}
        self._hits_since = time.monotonic()

    @property
    def source(self) -> str:
        lists = self._in_force()
        return f"{lists.description} ({lists.fingerprint})"

    def open_hits(
        self, name: str, country: str | None, customer_id: str | None, threshold: float
    ) -> list[Hit]:
        lists = self._in_force()
        key = (lists.fingerprint, threshold, name, country or "")
        now = time.monotonic()
        if now - self._hits_since >= HITS_TTL_S or len(self._hits) >= HITS_CACHED:
            self._hits.clear()
            self._hits_since = now
        hits = self._hits.get(key)
        if hits is None:
            hits = watchlist(lists.fingerprint, lambda: lists.lists, threshold).screen(
                name, "", country or ""
            )
            self._hits[key] = hits
        if not hits or customer_id is None or self._clearance is None:
            return list(hits)
        lookup = self._clearance
        return [h for h in hits if lookup(customer_id, h.entity_id, h.entity_version, None) is None]


def live_screen(source: SanctionsSource) -> ListsScreen:
    """The lists in force in this process and the clearances (``LiveSanctions``)."""
    return ListsScreen(source.lists_in_force, source.clearance)


def folder_screen(folder: Path) -> ListsScreen:
    """The list files of a folder, without clearances (examples, offline backtests)."""
    lists = folder_in_force(folder, f"lists in {folder}")
    return ListsScreen(lambda: lists)
