"""List membership: a field's value among the values a rule names (inline or from a file in
the rules folder, one value per line, ``#`` for comments), compared without case."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import model_validator

from compliance.rules.checks import Context, Fields, Verdict, check, label, read_rules_file, text
from compliance.rules.kinds.params import Params


class OneOfParams(Params):
    field: str
    values: tuple[str, ...] = ()
    list: str | None = None  # a file in the rules folder
    list_name: str | None = None  # how the sentence names the list

    @model_validator(mode="after")
    def _some_values(self) -> OneOfParams:
        if not self.values and self.list is None:
            raise ValueError("give the allowed 'values' or a 'list' file")
        return self


def _load(params: OneOfParams, folder: Path, digest: Any) -> frozenset[str]:
    values = {v.strip().casefold() for v in params.values}
    if params.list is not None:
        for line in read_rules_file(folder, params.list, digest).decode("utf-8").splitlines():
            entry = line.split("#", 1)[0].strip()
            if entry:
                values.add(entry.casefold())
    return frozenset(values)


@check("one_of", params=OneOfParams, preparer=_load)
def one_of(params: OneOfParams, fields: Fields, allowed: frozenset[str], _: Context) -> Verdict:
    name = params.field
    value = text(fields, name)
    inputs = {name: fields.get(name)}
    listed = params.list_name or params.list or "the list"
    if not value:
        return Verdict(False, f"the document has no {label(name)}", inputs)
    if value.casefold() in allowed:
        return Verdict(True, f"{label(name)} {value!r} is on {listed}", inputs)
    return Verdict(False, f"{label(name)} {value!r} is not on {listed}", inputs)


class PatternParams(Params):
    field: str
    regex: str
    means: str  # the pattern in words, for the sentence

    @model_validator(mode="after")
    def _compiles(self) -> PatternParams:
        try:
            re.compile(self.regex)
        except re.error as exc:
            raise ValueError(f"regex does not compile: {exc}") from None
        return self


def _compile(params: PatternParams, _: Path, __: Any) -> re.Pattern[str]:
    return re.compile(params.regex)


@check("pattern", params=PatternParams, preparer=_compile)
def pattern(params: PatternParams, fields: Fields, regex: re.Pattern[str], _: Context) -> Verdict:
    """The whole value has a shape (a format check; combine with ``not`` or ``any``)."""
    name = params.field
    value = text(fields, name)
    inputs = {name: fields.get(name)}
    if value and regex.fullmatch(value.upper().replace(" ", "")):
        return Verdict(True, f"{label(name)} {value!r} has the form of {params.means}", inputs)
    shown = repr(value) if value else "(none)"
    return Verdict(False, f"{label(name)} {shown} does not have the form of {params.means}", inputs)
