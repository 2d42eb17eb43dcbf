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


def parse_printed_date(text: str) -> date | None:
    """The date in ``text`` if it is one of the usual printed forms, else None. Day-first is
    assumed for numeric dates (the ICAO and European convention)."""
    cleaned = re.sub(r"\s+", " ", text.strip().rstrip(".")).title()
    for fmt in _FORMATS:
        try:
            return datetime.strptime(cleaned, fmt).date()
        except ValueError:
            continue
    return None
