"""AML name screening through the screening library (``compliance.screening``).

The watchlist a rule names is loaded and indexed once per ruleset (and reused by a reloaded
ruleset while its bytes are unchanged); its content hash is part of the ruleset version.
A hit is explained by the library: the matched entity, the score and its parts.
"""

from __future__ import annotations

import hashlib
import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import Field

from compliance.rules.checks import Context, Fields, Verdict, check, read_rules_file, text
from compliance.rules.kinds.params import Params
from compliance.screening import Hit, Screener, ScreeningConfig, load_ofac_sdn

CACHE_SIZE = 50_000  # screened (name, birth date, country) results kept per watchlist


class ScreeningParams(Params):
    field: str = "full_name"
    list: str  # an OFAC SDN CSV file in the rules folder
    threshold: float = Field(85.0, gt=0, le=100)
    dob_field: str | None = "date_of_birth"  # refines the score when present
    country_field: str | None = "nationality"


@dataclass
class Watchlist:
    """An indexed list and a bounded cache of results: the index is immutable, so a name
    screened again against it gets the same hits."""

    source: str  # file@sha256 prefix, written into each result's inputs
    screener: Screener
    _cache: OrderedDict[tuple[str, str, str], tuple[Hit, ...]] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def screen(self, name: str, dob: str, country: str) -> tuple[Hit, ...]:
        key = (name, dob, country)
        with self._lock:
            hits = self._cache.get(key)
            if hits is not None:
                self._cache.move_to_end(key)
                return hits
        found = tuple(
            self.screener.screen(name, dob=dob or None, countries=[country] if country else [])
        )
        with self._lock:
            self._cache[key] = found
            if len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        return found


_LOADED: dict[tuple[str, float], Watchlist] = {}
_LOADED_LOCK = threading.Lock()


def _load(params: ScreeningParams, folder: Path, digest: Any) -> Watchlist:
    raw = read_rules_file(folder, params.list, digest)
    sha = hashlib.sha256(raw).hexdigest()
    key = (sha, params.threshold)
    with _LOADED_LOCK:
        known = _LOADED.get(key)
        if known is None:
            with tempfile.TemporaryDirectory() as tmp:  # index exactly the bytes hashed
                copy = Path(tmp) / Path(params.list).name
                copy.write_bytes(raw)
                lists = [load_ofac_sdn(copy)]
            config = ScreeningConfig(threshold=params.threshold)
            known = Watchlist(f"{params.list}@sha256:{sha[:12]}", Screener(lists, config=config))
            while len(_LOADED) >= 4:  # the lists in force and the next (a reload)
                del _LOADED[next(iter(_LOADED))]
            _LOADED[key] = known
    return known


@check("sanctions_name", params=ScreeningParams, preparer=_load)
def sanctions_name(params: ScreeningParams, fields: Fields, wl: Watchlist, _: Context) -> Verdict:
    name = params.field
    value = text(fields, name)
    dob = text(fields, params.dob_field) if params.dob_field else ""
    country = text(fields, params.country_field) if params.country_field else ""
    inputs: dict[str, str | None] = {name: fields.get(name), "list": wl.source}
    if dob:
        inputs[params.dob_field or ""] = dob
    if country:
        inputs[params.country_field or ""] = country
    if not value:
        return Verdict(False, "there is no name on the document to screen", inputs)
    hits = wl.screen(value, dob, country)
    if not hits:
        return Verdict(True, f"no listed person scores {params.threshold:g} or more", inputs)
    best = hits[0]
    inputs.update(
        matched_name=best.matched_name,
        entity_id=best.entity_id,
        score=f"{best.score:.1f}",
        hits=str(len(hits)),
        why=best.explain(),
    )
    return Verdict(
        False,
        f"name matches listed {best.entity_type.value} {best.entity_name!r} "
        f"[{best.entity_id}] with score {best.score:.1f}",
        inputs,
    )
