"""AML name screening through the screening library (``compliance.screening``).

``list: in_force`` (the default) screens against the sanctions lists in force in the
process: the checker gives its ruleset a ``SanctionsSource`` (the latest list version loaded
with ``compliance sanctions load``, else the bundled lists, and the officers' clearances).
The ruleset is bound to one snapshot of those lists, whose version is part of the ruleset
version (``Ruleset.with_lists``), so a document is decided by one (rules, lists) pair and a
list change is a ruleset change. Where no process provides lists (``rules test``, offline
backtests, the examples a reload runs), the rule screens against its ``offline`` folder or
file in the rules folder, without clearances. ``list: <file or folder>`` pins a list of the
rules folder instead (part of the rule files' own version).

Each indexed list version keeps a bounded cache of raw hits per (name, birth date,
country); clearances are applied after it, per hit, so a clearance counts from the next
document on. The screener returns at most ``max_hits`` hits: when it returns that many and
the customer is cleared against every one, the name is screened again keeping every hit
scored, so hits cleared for the customer never hide one that is not. A hit is explained by
the library: the matched entity, the score and its parts.
"""

from __future__ import annotations

import hashlib
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from pydantic import Field

from compliance.rules.checks import Context, Fields, Inputs, Verdict, check, read_rules_file, text
from compliance.rules.kinds.params import Params
from compliance.screening import Hit, SanctionsList, Screener, ScreeningConfig, load_ofac_sdn
from compliance.screening.customers import customer_version
from compliance.screening.events import Clearance
from compliance.screening.list_store import version_of
from compliance.screening.live import ListsInForce, load_list_files, read_list_folder

CACHE_SIZE = 50_000  # screened (name, birth date, country, hit limit) results per list version
IN_FORCE = "in_force"


class ScreeningParams(Params):
    field: str = "full_name"
    # "in_force": the lists the process provides; else a list file (OFAC SDN CSV) or folder
    # of list files in the rules folder, pinned.
    list: str = IN_FORCE
    offline: str = "watchlists"  # for "in_force" where no process provides lists
    threshold: float = Field(85.0, gt=0, le=100)
    dob_field: str | None = "date_of_birth"  # refines the score when present
    country_field: str | None = "nationality"


class SanctionsSource(Protocol):
    """What a process provides the sanctions rule (``compliance.screening.live``)."""

    def lists_in_force(self) -> ListsInForce: ...

    def clearance(
        self, customer_id: str, entity_id: str, entity_version: str, customer_version: str | None
    ) -> Clearance | None: ...


class ClearanceLookup(Protocol):
    def __call__(
        self, customer_id: str, entity_id: str, entity_version: str, customer_version: str | None
    ) -> Clearance | None: ...


@dataclass
class Watchlist:
    """An indexed list version and a bounded cache of its raw hits: the index is immutable,
    so a name screened again against it gets the same hits."""

    version: str  # the list-set version (``lists:...``), or a pinned file's sha256
    screener: Screener
    _cache: OrderedDict[tuple[str, str, str, int], tuple[Hit, ...]] = field(
        default_factory=OrderedDict
    )
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def screen(
        self, name: str, dob: str, country: str, *, every_hit: bool = False
    ) -> tuple[Hit, ...]:
        """The hits for a name, best first: at most the config's ``max_hits``, or with
        ``every_hit`` every hit scored (up to ``max_candidates``)."""
        config = self.screener.config
        limit = config.max_candidates if every_hit else config.max_hits
        key = (name, dob, country, limit)
        with self._lock:
            hits = self._cache.get(key)
            if hits is not None:
                self._cache.move_to_end(key)
                return hits
        found = tuple(
            self.screener.screen(
                name, dob=dob or None, countries=[country] if country else [], max_hits=limit
            )
        )
        with self._lock:
            self._cache[key] = found
            if len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        return found


@dataclass(frozen=True)
class Screening:
    """What one sanctions rule of one ruleset screens against."""

    watchlist: Watchlist
    source: str  # what is screened, for a reader: a file@hash, a folder, a stored version
    clearance: ClearanceLookup | None = None  # None: clearances are not applied (offline)


_LOADED: dict[tuple[str, float], Watchlist] = {}
_LOADED_LOCK = threading.Lock()


def watchlist(
    version: str, lists: Callable[[], Sequence[SanctionsList]], threshold: float
) -> Watchlist:
    """The indexed lists of ``version`` (``lists()`` loads them), built once per version and
    threshold and shared by the rulesets that use them (the one in force and the next)."""
    key = (version, threshold)
    with _LOADED_LOCK:
        known = _LOADED.get(key)
        if known is None:
            config = ScreeningConfig(threshold=threshold)
            known = Watchlist(version, Screener(lists(), config=config))
            while len(_LOADED) >= 4:  # offline, in force and the next (a reload)
                del _LOADED[next(iter(_LOADED))]
            _LOADED[key] = known
    return known


@dataclass(frozen=True)
class InForce:
    """A rule on the lists in force, prepared but not yet bound: ``bind`` gives what it
    screens, the process's lists or the offline ones."""

    threshold: float
    offline: Screening

    def bind(self, lists: ListsInForce | None, clearance: ClearanceLookup | None) -> Screening:
        if lists is None:
            return self.offline
        wl = watchlist(lists.fingerprint, lambda: lists.lists, self.threshold)
        return Screening(wl, lists.description, clearance)


def _inside(folder: Path, relative: str) -> Path:
    root = folder.resolve()
    path = (root / relative).resolve()
    if not path.is_relative_to(root):
        raise ValueError(f"{relative} is outside the rules folder")
    if not path.exists():
        raise FileNotFoundError(f"{relative} does not exist in the rules folder")
    return path


def _folder_screening(folder: Path, relative: str, threshold: float) -> Screening:
    """The list files of a folder, indexed from exactly the bytes hashed."""
    where = _inside(folder, relative)
    files = read_list_folder(where)
    wl = watchlist(version_of(files), lambda: load_list_files(files, where), threshold)
    return Screening(wl, f"lists in {relative}")


def _file_screening(relative: str, raw: bytes, threshold: float) -> Screening:
    """An OFAC SDN CSV file, indexed from exactly the bytes hashed."""
    sha = hashlib.sha256(raw).hexdigest()

    def load() -> list[SanctionsList]:
        with tempfile.TemporaryDirectory() as tmp:
            copy = Path(tmp) / Path(relative).name
            copy.write_bytes(raw)
            return [load_ofac_sdn(copy)]

    return Screening(watchlist(f"sha256:{sha}", load, threshold), f"{relative}@sha256:{sha[:12]}")


def _load(params: ScreeningParams, folder: Path, digest: Any) -> Screening | InForce:
    threshold = params.threshold
    if params.list != IN_FORCE:  # pinned: the list is part of the rule files' version
        if _inside(folder, params.list).is_dir():
            pinned = _folder_screening(folder, params.list, threshold)
            digest.update(f"{params.list}\0{pinned.watchlist.version}\n".encode())
            return pinned
        return _file_screening(params.list, read_rules_file(folder, params.list, digest), threshold)
    # in force: the offline lists are not part of the rule files' version; the ruleset's
    # version takes in the version of the lists it is bound to (these, or the process's)
    offline = _inside(folder, params.offline)
    if offline.is_dir():
        return InForce(threshold, _folder_screening(folder, params.offline, threshold))
    return InForce(threshold, _file_screening(params.offline, offline.read_bytes(), threshold))


def _cleared(
    screening: Screening, ctx: Context, hits: tuple[Hit, ...], name: str, dob: str, country: str
) -> dict[str, Clearance]:
    """Entity id -> the clearance that clears it for this customer, for the hits cleared."""
    lookup = screening.clearance
    if lookup is None or not ctx.customer_id or not hits:
        return {}
    details = customer_version(name, dob or None, [country] if country else [])
    found = {}
    for hit in hits:
        clearance = lookup(ctx.customer_id, hit.entity_id, hit.entity_version, details)
        if clearance is not None:
            found[hit.entity_id] = clearance
    return found


@check("sanctions_name", params=ScreeningParams, preparer=_load)
def sanctions_name(
    params: ScreeningParams, fields: Fields, screening: Screening, ctx: Context
) -> Verdict:
    wl = screening.watchlist
    name = params.field
    value = text(fields, name)
    dob = text(fields, params.dob_field) if params.dob_field else ""
    country = text(fields, params.country_field) if params.country_field else ""
    inputs: Inputs = {
        name: fields.get(name),
        "list": screening.source,
        "list_version": wl.version,
    }
    if dob:
        inputs[params.dob_field or ""] = dob
    if country:
        inputs[params.country_field or ""] = country
    if not value:
        return Verdict(False, "there is no name on the document to screen", inputs)
    hits = wl.screen(value, dob, country)
    if not hits:
        return Verdict(True, f"no listed person scores {params.threshold:g} or more", inputs)
    cleared = _cleared(screening, ctx, hits, value, dob, country)
    if len(cleared) == len(hits) >= wl.screener.config.max_hits:
        # every hit returned is cleared, but the screener cut the hits at max_hits: one it
        # cut may not be, so screen again keeping every hit scored
        hits = wl.screen(value, dob, country, every_hit=True)
        more = tuple(h for h in hits if h.entity_id not in cleared)
        cleared |= _cleared(screening, ctx, more, value, dob, country)
    if cleared:
        inputs.update(
            cleared_entities=", ".join(cleared),
            clearances=", ".join(c.event_id for c in cleared.values()),
        )
    open_hits = [h for h in hits if h.entity_id not in cleared]
    if not open_hits:
        best = hits[0]
        by = cleared[best.entity_id]
        inputs.update(matched_name=best.matched_name, entity_id=best.entity_id)
        return Verdict(
            True,
            f"name matches listed {best.entity_type.value} {best.entity_name!r} "
            f"[{best.entity_id}], but officer {by.officer} cleared customer {ctx.customer_id} "
            f"against it (clearance {by.event_id})"
            + (f" and {len(cleared) - 1} more listed entity(ies)" if len(cleared) > 1 else ""),
            inputs,
        )
    best = open_hits[0]
    inputs.update(
        matched_name=best.matched_name,
        entity_id=best.entity_id,
        score=f"{best.score:.1f}",
        hits=str(len(open_hits)),
        why=best.explain(),
    )
    return Verdict(
        False,
        f"name matches listed {best.entity_type.value} {best.entity_name!r} "
        f"[{best.entity_id}] with score {best.score:.1f}",
        inputs,
    )
