"""The typed check kinds a rule can use. Each is a plain function of the document's fields.

A check returns a ``Verdict``: whether it passed, one human sentence saying why, and the
inputs it read. It never raises for bad *data* (that is a failed check); an exception means
the check itself is broken, and the engine records that as outcome ``error``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from rapidfuzz import fuzz, process

from compliance.mrz import find_mrz

Fields = Mapping[str, str | None]


@dataclass(frozen=True)
class Verdict:
    passed: bool
    explanation: str
    inputs: dict[str, str | None] = field(default_factory=dict)


@dataclass(frozen=True)
class Context:
    as_of: date  # the date the decision is made for: the input event's date, for replays


CheckFn = Callable[[dict[str, Any], Fields, Any, Context], Verdict]
CHECKS: dict[str, CheckFn] = {}
REQUIRED_PARAMS: dict[str, tuple[str, ...]] = {}
PREPARERS: dict[str, Callable[[dict[str, Any], Path, Any], Any]] = {}


def check(kind: str, requires: tuple[str, ...] = ("field",)) -> Callable[[CheckFn], CheckFn]:
    """Register a check kind and the parameters a rule must give it (checked at load time)."""

    def register(fn: CheckFn) -> CheckFn:
        CHECKS[kind] = fn
        REQUIRED_PARAMS[kind] = requires
        return fn

    return register


def prepare(kind: str, params: dict[str, Any], folder: Path, digest: Any) -> Any:
    """Load what a check needs once (e.g. a watchlist), folding its bytes into the digest."""
    preparer = PREPARERS.get(kind)
    return preparer(params, folder, digest) if preparer else None


def _field(params: dict[str, Any]) -> str:
    name = params.get("field")
    if not isinstance(name, str):
        raise ValueError("parameter 'field' is required")
    return name


@check("required_field")
def required_field(params: dict[str, Any], fields: Fields, _: Any, __: Context) -> Verdict:
    name = _field(params)
    value = fields.get(name)
    if value is None or not value.strip():
        return Verdict(False, f"the document has no {name.replace('_', ' ')}", {name: value})
    return Verdict(True, f"{name.replace('_', ' ')} is present", {name: value})


_ICAO_NUMBER = re.compile(r"^[A-Z0-9]{6,9}$")


@check("document_number")
def document_number(params: dict[str, Any], fields: Fields, _: Any, __: Context) -> Verdict:
    """ICAO 9303 document numbers: up to 9 upper-case letters and digits (6 at least here)."""
    name = _field(params)
    value = (fields.get(name) or "").strip().upper()
    inputs = {name: fields.get(name)}
    if not value:
        return Verdict(False, "the document has no document number", inputs)
    if not _ICAO_NUMBER.match(value):
        return Verdict(
            False, f"document number {value!r} is not 6-9 letters and digits (ICAO 9303)", inputs
        )
    return Verdict(True, f"document number {value} has a valid format", inputs)


@check("mrz_check_digits")
def mrz_check_digits(params: dict[str, Any], fields: Fields, _: Any, __: Context) -> Verdict:
    name = _field(params)
    lines = fields.get(name)
    inputs = {name: lines}
    mrz = find_mrz(lines or "")
    if mrz is None:
        return Verdict(False, "no machine-readable zone was found on the document", inputs)
    if not mrz.valid:
        failed = ", ".join(mrz.failed_checks)
        return Verdict(False, f"MRZ check digits do not match for: {failed}", inputs)
    return Verdict(True, f"all {len(mrz.checks)} MRZ check digits match ({mrz.format})", inputs)


@check("not_expired")
def not_expired(params: dict[str, Any], fields: Fields, _: Any, ctx: Context) -> Verdict:
    name = _field(params)
    raw = fields.get(name)
    inputs = {name: raw, "as_of": ctx.as_of.isoformat()}
    if not raw:
        return Verdict(False, "the document shows no expiry date", inputs)
    try:
        expiry = date.fromisoformat(raw.strip())
    except ValueError:
        return Verdict(False, f"expiry date {raw!r} is not a date", inputs)
    if expiry < ctx.as_of:
        return Verdict(False, f"the document expired on {expiry.isoformat()}", inputs)
    return Verdict(True, f"the document is valid until {expiry.isoformat()}", inputs)


# --- sanctions name screening -------------------------------------------------------------


@dataclass(frozen=True)
class Watchlist:
    source: str
    names: tuple[str, ...]  # normalised, index-aligned with originals
    originals: tuple[str, ...]


def normalise_name(name: str) -> str:
    decomposed = unicodedata.normalize("NFKD", name)
    ascii_only = "".join(c for c in decomposed if not unicodedata.combining(c))
    tokens = re.sub(r"[^a-z0-9 ]+", " ", ascii_only.lower()).split()
    return " ".join(sorted(tokens))


def _load_watchlist(params: dict[str, Any], folder: Path, digest: Any) -> Watchlist:
    relative = params.get("list")
    if not isinstance(relative, str):
        raise ValueError("parameter 'list' is required")
    path = (folder / relative).resolve()
    raw = path.read_bytes()
    digest.update(relative.encode() + b"\0" + raw)
    originals: list[str] = []
    for row in csv.reader(io.StringIO(raw.decode("utf-8", "replace"))):
        if not row or row[0].startswith("\x1a"):  # blank line, DOS end-of-file marker
            continue
        if len(row) < 3:
            raise ValueError(f"{relative}: row {len(originals) + 1} has {len(row)} columns")
        if row[2].strip() == "individual":
            originals.append(row[1].strip())
    return Watchlist(
        source=f"{relative}@sha256:{hashlib.sha256(raw).hexdigest()[:12]}",
        names=tuple(normalise_name(n) for n in originals),
        originals=tuple(originals),
    )


PREPARERS["sanctions_name"] = _load_watchlist


@check("sanctions_name", requires=("field", "list"))
def sanctions_name(params: dict[str, Any], fields: Fields, wl: Watchlist, _: Context) -> Verdict:
    name = _field(params)
    threshold = float(params.get("threshold", 90))
    value = fields.get(name)
    inputs: dict[str, str | None] = {name: value, "list": wl.source}
    if not value:
        return Verdict(False, "there is no name on the document to screen", inputs)
    best = process.extractOne(
        normalise_name(value), wl.names, scorer=fuzz.token_sort_ratio, score_cutoff=threshold
    )
    if best is None:
        return Verdict(True, f"no listed person scores {threshold:g} or more", inputs)
    _, score, index = best
    inputs["matched_name"] = wl.originals[index]
    inputs["score"] = f"{score:.1f}"
    return Verdict(
        False,
        f"name matches sanctioned person {wl.originals[index]!r} with score {score:.1f}",
        inputs,
    )
