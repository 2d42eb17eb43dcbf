"""Parsing the many ways lists write (partial) dates of birth."""

from __future__ import annotations

import re
from datetime import date
from functools import lru_cache

from compliance.screening.model import DateOfBirth, PartialDate

_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"),
            ("may",), ("jun", "june"), ("jul", "july"), ("aug", "august"),
            ("sep", "sept", "september"), ("oct", "october"), ("nov", "november"),
            ("dec", "december"),
        ),
        start=1,
    )
    for name in names
}  # fmt: skip

_ISO = re.compile(r"^(\d{4})(?:-(\d{1,2})(?:-(\d{1,2}))?)?$")
_DMY_NUMERIC = re.compile(r"^(\d{1,2})[/.](\d{1,2})[/.](\d{4})$")
_DMY_TEXT = re.compile(r"^(?:(\d{1,2})\s+)?([a-z]{3,9})\.?\s+(\d{4})$")
_RANGE = re.compile(r"\s+(?:to|-|until|and)\s+|(?<=\d)-(?=\d{4}$)")
_CIRCA = re.compile(r"^(?:circa|ca\.?|c\.|approx\.?|approximately|about)\s+")


def _partial(year: str, month: str | int | None, day: str | None) -> PartialDate | None:
    y = int(year)
    m = int(month) if month not in (None, "", "0", "00") else None
    d = int(day) if day not in (None, "", "0", "00") and m is not None else None
    try:
        return PartialDate(y, m, d)
    except ValueError:
        return None


@lru_cache(maxsize=50_000)  # dates of birth repeat; the result is immutable
def parse_partial_date(text: str) -> PartialDate | None:
    """'1960', '1960-01', '1960-01-12', '12 Jan 1960', 'Jan 1960', '12/01/1960',
    '00/00/1960' (unknown day and month written as zeros); None when not a date."""
    text = text.strip().rstrip(".").casefold()
    if m := _ISO.match(text):
        return _partial(m.group(1), m.group(2), m.group(3))
    if m := _DMY_NUMERIC.match(text):
        return _partial(m.group(3), m.group(2), m.group(1))
    if (m := _DMY_TEXT.match(text)) and m.group(2) in _MONTHS:
        return _partial(m.group(3), _MONTHS[m.group(2)], m.group(1))
    return None


def parse_date_of_birth(text: str) -> DateOfBirth | None:
    """A listed date of birth, including 'circa 1960' and ranges '1960 to 1962'."""
    text = " ".join(text.strip().rstrip(".").split())
    circa = False
    if m := _CIRCA.match(text.casefold()):
        circa = True
        text = text[m.end() :]
    parts = _RANGE.split(text, maxsplit=1)
    start = parse_partial_date(parts[0])
    if start is None:
        return None
    end = parse_partial_date(parts[1]) if len(parts) == 2 else None
    if len(parts) == 2 and (end is None or end < start):
        return None
    return DateOfBirth(start, end, circa)


def coerce_query_date(value: str | date | PartialDate | None) -> PartialDate | None:
    """The date of birth given with a screening request, in whatever form the caller has."""
    if value is None or isinstance(value, PartialDate):
        return value
    if isinstance(value, date):
        return PartialDate(value.year, value.month, value.day)
    return parse_partial_date(value)
