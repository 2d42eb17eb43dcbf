"""Issuing-state and nationality codes of machine-readable zones: ISO 3166-1 alpha-3, the codes
ICAO Doc 9303 Part 3 adds for organisations and special nationalities, and the fictional codes
of specimen documents."""

from __future__ import annotations

from functools import cache
from typing import Literal

import pycountry

CodeStatus = Literal["iso3166", "icao", "former", "specimen", "unknown"]

# ICAO Doc 9303 Part 3 (section 5): codes that are not ISO 3166-1 alpha-3.
ICAO_CODES = {
    "D": "Germany",
    "EUE": "European Union",
    "GBD": "British Overseas Territories Citizen",
    "GBN": "British National (Overseas)",
    "GBO": "British Overseas Citizen",
    "GBP": "British Protected Person",
    "GBS": "British Subject",
    "UNO": "United Nations Organization",
    "UNA": "specialized agency of the United Nations",
    "UNK": "resident of Kosovo, document issued by UNMIK",
    "RKS": "Kosovo",
    "XBA": "African Development Bank",
    "XIM": "African Export-Import Bank",
    "XCC": "Caribbean Community (CARICOM)",
    "XCE": "Council of Europe",
    "XCO": "Common Market for Eastern and Southern Africa",
    "XDC": "Southern African Development Community",
    "XEC": "Economic Community of West African States",
    "XES": "Organisation of Eastern Caribbean States",
    "XMP": "Parliamentary Assembly of the Mediterranean",
    "XOM": "Sovereign Military Order of Malta",
    "XPO": "International Criminal Police Organization (INTERPOL)",
    "XXA": "stateless person (1954 Convention)",
    "XXB": "refugee (1951 Convention)",
    "XXC": "refugee (other than the 1951 Convention)",
    "XXX": "person of unspecified nationality",
}

# Fictional states printed on specimen documents: Utopia is ICAO's own specimen state.
SPECIMEN_CODES = {"UTO": "Utopia"}


@cache
def code_status(code: str) -> CodeStatus:
    """What a three-letter (or ``D``) state code of a zone is; fillers already removed."""
    if code in SPECIMEN_CODES:
        return "specimen"
    if code in ICAO_CODES:
        return "icao"
    if len(code) == 3 and pycountry.countries.get(alpha_3=code) is not None:
        return "iso3166"
    if len(code) == 3 and pycountry.historic_countries.get(alpha_3=code) is not None:
        return "former"
    return "unknown"
