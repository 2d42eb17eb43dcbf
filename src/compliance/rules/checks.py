"""The registry of check kinds a rule can use, and what every check receives and returns.

A check is a plain function ``(params, fields, resource, context) -> Verdict``: whether it
passed, one human sentence saying why, and the inputs it read. It never raises for bad *data*
(that is a failed check); an exception means the check itself is broken, and the engine
records that as outcome ``error``.

Check kinds live in ``compliance.rules.kinds``, one module per family (identity documents,
dates, identifiers, lists, customer consistency, consent, screening). Each registers itself
with ``@check(kind, params=Model)``: the pydantic model validates the rule's parameters when
the rule file is loaded, so a misspelt parameter stops start-up instead of failing later.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any, NamedTuple

from pydantic import BaseModel

from compliance.rules.state import NO_STATE, CustomerState

Fields = Mapping[str, str | None]
Inputs = dict[str, str | None]


class Verdict(NamedTuple):
    """A check's outcome (a named tuple: every check of every document makes one, and a
    frozen dataclass costs three times as much to build). ``inputs`` is always given: a
    check's own dict, never one shared with another verdict."""

    passed: bool
    explanation: str
    inputs: Inputs


@dataclass(frozen=True)
class Context:
    """What a decision is made against besides the document's own fields."""

    as_of: date  # the decision date: the input event's date, so a replay decides the same way
    at: datetime | None = None  # the decision instant (consent withdrawals act from it on)
    document_type: str = ""
    customer_id: str | None = None
    customer: CustomerState = NO_STATE  # earlier documents and consents of the customer
    declared_type: str | None = None  # what the publisher said the document is
    covered_types: frozenset[str] = frozenset()  # types some rule of the ruleset names

    @property
    def instant(self) -> datetime:
        return self.at or datetime.combine(self.as_of, time.max, tzinfo=UTC)

    @classmethod
    def for_decision(
        cls,
        as_of: date | datetime,
        document_type: str = "",
        customer_id: str | None = None,
        customer: CustomerState = NO_STATE,
        *,
        declared_type: str | None = None,
        covered_types: frozenset[str] = frozenset(),
    ) -> Context:
        if isinstance(as_of, datetime):
            at = as_of if as_of.tzinfo else as_of.replace(tzinfo=UTC)
            day = at.astimezone(UTC).date()
        else:
            at, day = None, as_of
        return cls(day, at, document_type, customer_id, customer, declared_type, covered_types)


CheckFn = Callable[[Any, Fields, Any, Context], Verdict]
Preparer = Callable[[Any, Path, Any], Any]


@dataclass(frozen=True)
class Kind:
    name: str
    fn: CheckFn
    params: type[BaseModel] | None  # validates the rule's parameters at load time
    needs: frozenset[str]  # customer state the check reads: "documents", "consents"
    preparer: Preparer | None  # loads what the check needs once per ruleset (a watchlist)


KINDS: dict[str, Kind] = {}
CHECKS: dict[str, CheckFn] = {}  # kind -> function (tests may register a kind here directly)
REQUIRED_PARAMS: dict[str, tuple[str, ...]] = {}  # for kinds registered without a model


def check(
    kind: str,
    requires: tuple[str, ...] = (),
    *,
    params: type[BaseModel] | None = None,
    needs: tuple[str, ...] = (),
    preparer: Preparer | None = None,
) -> Callable[[CheckFn], CheckFn]:
    """Register a check kind, the model of its parameters and the state it reads."""

    def register(fn: CheckFn) -> CheckFn:
        KINDS[kind] = Kind(kind, fn, params, frozenset(needs), preparer)
        CHECKS[kind] = fn
        REQUIRED_PARAMS[kind] = requires
        return fn

    return register


def kind_of(name: str) -> Kind:
    """The registered kind; a function placed in CHECKS alone counts as a kind without a
    parameter model (its parameters arrive as a dict)."""
    known = KINDS.get(name)
    fn = CHECKS[name]
    if known is not None and known.fn is fn:
        return known
    return Kind(name, fn, None, frozenset(), None)


def text(fields: Fields, name: str) -> str:
    """A field's value stripped, '' when absent; a value that is not text is a broken input
    and raises (the engine records the rule as ``error``)."""
    value = fields.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise TypeError(f"field {name!r} is {type(value).__name__}, not text")
    return value.strip()


def label(name: str) -> str:
    return name.replace("_", " ")


def read_rules_file(folder: Path, relative: str, digest: Any) -> bytes:
    """A data file a rule names (a watchlist, a format table), folded into the ruleset's
    version. It must lie inside the rules folder."""
    root = folder.resolve()
    path = (root / relative).resolve()
    if not path.is_relative_to(root):
        raise ValueError(f"{relative} is outside the rules folder")
    raw = path.read_bytes()
    digest.update(relative.encode() + b"\0" + raw)
    return raw
