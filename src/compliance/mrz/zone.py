"""ICAO Doc 9303 machine-readable zones: the parsed zone, check digits, dates.

Formats (``MRZ.format``): ``TD3`` (passports, 2x44), ``TD2`` (2x36), ``TD1`` (ID cards, 3x30),
``MRVA`` (visas, 2x44) and ``MRVB`` (visas, 2x36), ``FRA_ID`` (the French national identity
card of 1988-2021, its own 2x36 layout), ``DL`` (the one-line 30-character zone of ISO/IEC
18013 driving licences, e.g. French and Dutch ones) and ``CHE_DL`` (the Swiss driving licence,
three lines of 9, 30 and 30). Each check digit is the weighted sum (weights 7, 3, 1) of the
character values modulo 10, where digits count as themselves, A-Z as 10-35 and the filler ``<``
as 0.
"""

from __future__ import annotations

import re
from datetime import date

from compliance.mrz.checksums import check_digit, digit_ok
from compliance.mrz.formats import parse_lines
from compliance.mrz.result import MRZ, Repair, document_kind

__all__ = ["MRZ", "Repair", "check_digit", "digit_ok", "document_kind", "mrz_date", "parse_lines"]


def mrz_date(yymmdd: str, *, future: bool, today: date | None = None) -> date | None:
    """YYMMDD -> date. A birth date is the latest reading that is not in the future; an expiry
    date is the reading within the 100 years that end 50 years from today."""
    if not re.fullmatch(r"\d{6}", yymmdd):
        return None
    today = today or date.today()
    yy, mm, dd = int(yymmdd[:2]), int(yymmdd[2:4]), int(yymmdd[4:6])
    readings = []
    for century in (today.year // 100 - 1, today.year // 100, today.year // 100 + 1):
        try:
            readings.append(date(century * 100 + yy, mm, dd))
        except ValueError:
            return None
    if future:
        horizon = (
            today.replace(year=today.year + 50)
            if not (today.month == 2 and today.day == 29)
            else date(today.year + 50, 2, 28)
        )
        return max(d for d in readings if d <= horizon)
    return max(d for d in readings if d <= today)
