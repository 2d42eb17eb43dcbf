"""Identity documents: fields present, document-number formats per type and issuing state,
and the ICAO 9303 machine-readable zone's check digits."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from compliance.mrz import MRZ, find_mrz
from compliance.rules.checks import Context, Fields, Verdict, check, label, read_rules_file, text
from compliance.rules.kinds.params import FieldParams, Params


@lru_cache(maxsize=4096)
def parsed_mrz(lines: str) -> MRZ | None:
    """The MRZ in a field's text, parsed once for all the rules that read it."""
    return find_mrz(lines)


@check("required_field", params=FieldParams)
def required_field(params: FieldParams, fields: Fields, _: Any, __: Context) -> Verdict:
    name = params.field
    value = fields.get(name)
    if not text(fields, name):
        return Verdict(False, f"the document has no {label(name)}", {name: value})
    return Verdict(True, f"{label(name)} is present", {name: value})


# --- document numbers ---------------------------------------------------------------------

_ICAO_NUMBER = re.compile(r"[A-Z0-9]{6,9}")


class DocumentNumberParams(Params):
    field: str = "document_number"
    country_fields: tuple[str, ...] = ("issuing_state", "nationality")
    formats: str | None = None  # a YAML table: document type -> state -> {pattern, means}
    mrz_field: str | None = None  # when the MRZ is present, the numbers must agree


@dataclass(frozen=True)
class NumberFormat:
    pattern: re.Pattern[str]
    means: str


Formats = dict[str, dict[str, NumberFormat]]


def _load_formats(params: DocumentNumberParams, folder: Path, digest: Any) -> Formats:
    if params.formats is None:
        return {}
    table = yaml.safe_load(read_rules_file(folder, params.formats, digest))
    if not isinstance(table, dict):
        raise ValueError(f"{params.formats}: expected document type -> state -> format")
    formats: Formats = {}
    for doc_type, states in table.items():
        if not isinstance(states, dict):
            raise ValueError(f"{params.formats}: {doc_type}: expected state -> format")
        formats[str(doc_type)] = {}
        for state, spec in states.items():
            try:
                entry = _FormatSpec.model_validate(spec)
                pattern = re.compile(entry.pattern)
            except (ValidationError, re.error) as exc:
                problem = str(exc).splitlines()[0]
                raise ValueError(f"{params.formats}: {doc_type}.{state}: {problem}") from None
            formats[str(doc_type)][str(state)] = NumberFormat(pattern, entry.means)
    return formats


class _FormatSpec(Params):
    pattern: str
    means: str


@check("document_number", params=DocumentNumberParams, preparer=_load_formats)
def document_number(
    params: DocumentNumberParams, fields: Fields, formats: Formats, ctx: Context
) -> Verdict:
    name = params.field
    value = text(fields, name).upper().replace(" ", "")
    inputs: dict[str, str | None] = {name: fields.get(name)}
    if not value:
        return Verdict(False, "the document has no document number", inputs)
    state = next((text(fields, f).upper() for f in params.country_fields if text(fields, f)), "")
    inputs["issuing_state"] = state or None
    known = (formats or {}).get(ctx.document_type, {}).get(state)
    if known is not None:
        if not known.pattern.fullmatch(value):
            return Verdict(
                False,
                f"document number {value!r} is not in the {state} {label(ctx.document_type)} "
                f"format ({known.means})",
                inputs,
            )
        how = f"the {state} {label(ctx.document_type)} format ({known.means})"
    elif not _ICAO_NUMBER.fullmatch(value):
        return Verdict(
            False, f"document number {value!r} is not 6-9 letters and digits (ICAO 9303)", inputs
        )
    else:
        how = "the ICAO 9303 general format"
    if params.mrz_field:
        mrz = parsed_mrz(text(fields, params.mrz_field))
        if mrz is not None:
            inputs["mrz_document_number"] = mrz.document_number
            if mrz.document_number != value:
                return Verdict(
                    False,
                    f"document number {value} differs from {mrz.document_number} in the MRZ",
                    inputs,
                )
            how += " and agrees with the MRZ"
    return Verdict(True, f"document number {value} matches {how}", inputs)


# --- machine-readable zone ----------------------------------------------------------------


@check("mrz_check_digits", params=FieldParams)
def mrz_check_digits(params: FieldParams, fields: Fields, _: Any, __: Context) -> Verdict:
    name = params.field
    inputs = {name: fields.get(name)}
    mrz = parsed_mrz(text(fields, name))
    if mrz is None:
        return Verdict(False, "no machine-readable zone was found on the document", inputs)
    if not mrz.valid:
        reasons = []
        digits = [name for name, ok in mrz.checks.items() if not ok]
        if digits:
            reasons.append(f"MRZ check digits do not match for: {', '.join(digits)}")
        for field_name in mrz.unknown_codes:
            code = getattr(mrz, field_name, "")
            reasons.append(f"the MRZ's {field_name.replace('_', ' ')} {code!r} names no state")
        return Verdict(False, "; ".join(reasons), inputs)
    checked = ", ".join(mrz.checks)
    note = " (a specimen document)" if mrz.specimen else ""
    return Verdict(
        True,
        f"all {len(mrz.checks)} MRZ check digits match ({mrz.format}: {checked}){note}",
        inputs,
    )
