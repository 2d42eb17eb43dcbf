"""Finding a machine-readable zone in a document's text: as printed first, then as OCR output
repaired where ICAO 9303 fixes the character class."""

from __future__ import annotations

import re

from compliance.mrz.ocr import find_ocr_mrz
from compliance.mrz.zone import MRZ, parse_lines

_LINE = re.compile(r"^[A-Z0-9<]{30,44}$")
# Every zone line holds the filler "<" (OCR may read it as the guillemets kept here): a text
# without any has no zone, whatever else it holds (most documents: checked in one pass).
_FILLERS = ("<", "\u00ab", "\u2039")


def find_mrz(text: str) -> MRZ | None:
    """The first MRZ in ``text``. Spaces inside lines are tolerated; when the zone as printed
    does not parse with valid check digits, it is read again as OCR output (see
    ``compliance.mrz.ocr``) and that reading is taken if it does."""
    if not any(filler in text for filler in _FILLERS):
        return None
    exact = find_exact_mrz(text)
    if exact is not None and exact.valid:
        return exact
    repaired = find_ocr_mrz(text)
    if repaired is not None and (repaired.valid or exact is None):
        return repaired
    return exact


def find_exact_mrz(text: str) -> MRZ | None:
    """The first zone printed as ICAO specifies it (spaces inside lines tolerated)."""
    lines = [re.sub(r"\s+", "", line).upper() for line in text.splitlines()]
    candidates = [line for line in lines if _LINE.match(line)]
    for i in range(len(candidates)):
        window = candidates[i : i + 3]
        for size, length in ((2, 44), (3, 30), (2, 36)):
            group = window[:size]
            if len(group) == size and all(len(line) == length and "<" in line for line in group):
                return parse_lines(group)
    return None
