"""Dates as printed on documents, read into ISO 8601 (``YYYY-MM-DD``)."""

from __future__ import annotations

import re
from datetime import date, datetime

_FORMATS = (
    "%Y-%m-%d",
    "%d %b %Y",
    "%d %B %Y",
    "%d/%m/%Y",
    "%d.%m.%Y",
    "%d-%m-%Y",
    "%B %d, %Y",
    "%b %d, %Y",
    "%Y/%m/%d",
    "%d %b %y",
)


# Each format with the characters it prints between its fields: a text without one of them
# cannot be read with it, and a failed strptime costs more than the test.
_SEPARATED = tuple((fmt, frozenset(fmt.replace("%", "")) - set("YmdbBy")) for fmt in _FORMATS)


def parse_printed_date(text: str) -> date | None:
    """The date in ``text`` if it is one of the usual printed forms, else None. Day-first is
    assumed for numeric dates (the ICAO and European convention)."""
    cleaned = re.sub(r"\s+", " ", text.strip().rstrip(".")).title()
    held = set(cleaned)
    for fmt, separators in _SEPARATED:
        if not separators <= held:
            continue
        try:
            return datetime.strptime(cleaned, fmt).date()
        except ValueError:
            continue
    return None
