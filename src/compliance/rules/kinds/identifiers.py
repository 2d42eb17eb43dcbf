"""Identifiers with check digits, validated by python-stdnum: IBAN (ISO 13616, mod 97 and the
country's length and layout), BIC (ISO 9362), LEI (ISO 17442, mod 97) and national personal
identity numbers (each country's own check-digit scheme)."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any, Literal

from stdnum import bic, iban, lei
from stdnum.exceptions import ValidationError

from compliance.rules.checks import Context, Fields, Verdict, check, label, text
from compliance.rules.kinds.params import Params

# ISO 3166 alpha-3 (as in an MRZ) -> the stdnum module of that country's personal number.
NATIONAL_IDS: dict[str, str] = {
    "AUT": "at.vnr",
    "BEL": "be.nn",
    "BGR": "bg.egn",
    "BRA": "br.cpf",
    "CHE": "ch.ssn",
    "CHL": "cl.rut",
    "CHN": "cn.ric",
    "CZE": "cz.rc",
    "DEU": "de.idnr",
    "DNK": "dk.cpr",
    "ESP": "es.dni",
    "EST": "ee.ik",
    "FIN": "fi.hetu",
    "FRA": "fr.nir",
    "HRV": "hr.oib",
    "IND": "in_.aadhaar",
    "IRL": "ie.pps",
    "ISL": "is_.kennitala",
    "ISR": "il.idnr",
    "ITA": "it.codicefiscale",
    "KOR": "kr.rrn",
    "LTU": "lt.asmens",
    "MEX": "mx.curp",
    "NLD": "nl.bsn",
    "NOR": "no.fodselsnummer",
    "POL": "pl.pesel",
    "PRT": "pt.cc",
    "ROU": "ro.cnp",
    "SVK": "sk.rc",
    "SVN": "si.emso",
    "SWE": "se.personnummer",
    "TUR": "tr.tckimlik",
    "USA": "us.ssn",
    "ZAF": "za.idnr",
}
SCHEMES: dict[str, tuple[ModuleType, str]] = {
    "iban": (iban, "IBAN"),
    "bic": (bic, "BIC"),
    "lei": (lei, "LEI"),
}


class IdentifierParams(Params):
    field: str
    scheme: Literal["iban", "bic", "lei", "national_id"]
    country_field: str = "nationality"  # national_id: whose scheme applies
    optional: bool = False  # pass when the document carries no such identifier


def national_scheme(country: str) -> tuple[ModuleType, str] | None:
    name = NATIONAL_IDS.get(country.upper())
    if name is None:
        return None
    module = importlib.import_module(f"stdnum.{name}")
    title = (module.__doc__ or name).split("(")[0].strip().rstrip(".")
    return module, f"{country.upper()} {title}"


@check("identifier", params=IdentifierParams)
def identifier(params: IdentifierParams, fields: Fields, _: Any, __: Context) -> Verdict:
    name = params.field
    value = text(fields, name)
    inputs: dict[str, str | None] = {name: fields.get(name)}
    if not value:
        if params.optional:
            return Verdict(True, f"the document carries no {label(name)} to validate", inputs)
        return Verdict(False, f"the document has no {label(name)}", inputs)
    if params.scheme == "national_id":
        country = text(fields, params.country_field).upper()
        inputs[params.country_field] = fields.get(params.country_field)
        found = national_scheme(country) if country else None
        if found is None:
            return Verdict(
                False,
                f"no national identity number scheme is known for {country or '(none)'}",
                inputs,
            )
        module, title = found
    else:
        module, title = SCHEMES[params.scheme]
    try:
        compact = module.validate(value)
    except ValidationError as exc:
        reason = str(exc).rstrip(".").lower()
        return Verdict(False, f"{value!r} is not a valid {title}: {reason}", inputs)
    return Verdict(True, f"{compact} is a valid {title}", inputs)
