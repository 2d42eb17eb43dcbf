"""Identifiers with check digits, validated by python-stdnum: IBAN (ISO 13616, mod 97 and the
country's length and layout), BIC (ISO 9362), LEI (ISO 17442, mod 97), VAT identification
numbers (each country's own scheme, chosen by the country prefix), US taxpayer identification
numbers (SSN, ITIN, EIN: the numbers a Form W-9 takes), Canadian social insurance numbers
(a T4's) and national personal identity numbers
(each country's own check-digit scheme)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from types import ModuleType
from typing import Any, Literal

from stdnum import bic, iban, lei, vatin
from stdnum.ca import sin
from stdnum.exceptions import InvalidComponent, ValidationError
from stdnum.us import ein, itin, ssn

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


def us_tin(number: str) -> str:
    """A US taxpayer identification number as a Form W-9 takes it: a valid SSN, ITIN or EIN.
    (``stdnum.us.tin`` also accepts any nine digits as an ATIN, which a W-9 never carries.)"""
    for module in (ssn, itin, ein):
        try:
            return str(module.validate(number))
        except ValidationError:
            continue
    raise InvalidComponent("it is neither a valid SSN, nor an ITIN, nor an EIN")


Validate = Callable[[str], str]
SCHEMES: dict[str, tuple[Validate, str]] = {
    "iban": (iban.validate, "IBAN"),
    "bic": (bic.validate, "BIC"),
    "lei": (lei.validate, "LEI"),
    "vat": (vatin.validate, "VAT identification number"),
    "us_ssn": (ssn.validate, "US social security number"),
    "us_itin": (itin.validate, "US individual taxpayer identification number"),
    "us_ein": (ein.validate, "US employer identification number"),
    "us_tin": (us_tin, "US taxpayer identification number"),
    "ca_sin": (sin.validate, "Canadian social insurance number"),
}
Scheme = Literal[
    "iban", "bic", "lei", "vat", "us_ssn", "us_itin", "us_ein", "us_tin", "ca_sin", "national_id"
]


class IdentifierParams(Params):
    field: str
    scheme: Scheme
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
        validate: Validate = module.validate
    else:
        validate, title = SCHEMES[params.scheme]
    try:
        compact = validate(value)
    except ValidationError as exc:
        reason = str(exc).rstrip(".").lower()
        return Verdict(False, f"{value!r} is not a valid {title}: {reason}", inputs)
    return Verdict(True, f"{compact} is a valid {title}", inputs)
