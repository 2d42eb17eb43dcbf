"""Finding a machine-readable zone in a document's text: runs of lines whose count and lengths
are a zone's, read with the class- and check-digit-guided repair of ``compliance.mrz.repair``;
then, if none holds, the text is read again as raw OCR output (``compliance.mrz.ocr``).

A zone line need not contain the filler ``<``: a Chinese passport's data line or a Belgian
card's second line is often full. A group of lines is taken when at least one of its lines has
a filler, or when its check digits hold (the one-line driving-licence zone of the Netherlands
has none). A group whose check digits fail is reported (invalid) when one of its lines has a
filler.
"""

from __future__ import annotations

import re

from compliance.mrz.ocr import find_ocr_mrz
from compliance.mrz.repair import read_zone
from compliance.mrz.zone import MRZ

_LINE = re.compile(r"^[A-Z0-9<]+$")
_LENGTHS = {9, 30, 36, 44}
# Line counts and lengths of every zone, tried in this order at each line of the text.
_SHAPES = ((44, 44), (30, 30, 30), (36, 36), (9, 30, 30), (30,))
_FILLERS = ("<", "\u00ab", "\u2039")
# A one-line driving-licence zone without any filler: a line that holds nothing else once its
# spaces and tabs are taken out (searched from each line break of the text framed by two).
_LICENCE = re.compile(r"\n[^\S\n]*D[0-9A-Z][A-Z<]{3}[A-Z0-9<]{25}[^\S\n]*(?=\n)")


def find_mrz(text: str) -> MRZ | None:
    """The first MRZ in ``text``. Spaces inside lines are tolerated; when no zone as printed
    (repaired where check digits decide) is valid, the text is read again as OCR output and
    that reading is taken if it is."""
    if not any(filler in text for filler in _FILLERS) and not _has_licence_line(text):
        return None
    exact = find_exact_mrz(text)
    if exact is not None and exact.valid:
        return exact
    repaired = find_ocr_mrz(text)
    if repaired is not None and (repaired.valid or exact is None):
        return repaired
    return exact


def _has_licence_line(text: str) -> bool:
    squeezed = text.upper().replace(" ", "").replace("\t", "")
    return _LICENCE.search(f"\n{squeezed}\n") is not None


def find_exact_mrz(text: str) -> MRZ | None:
    """The first valid zone printed as ICAO specifies it (spaces inside lines tolerated), else
    the first invalid one with a filler in one of its lines, one whose layout holds before one
    whose layout does not (a card's printed number just above its TD1 zone reads as the first
    line of a Swiss licence's zone)."""
    lines = [re.sub(r"\s+", "", line).upper() for line in text.splitlines()]
    candidates = [line for line in lines if len(line) in _LENGTHS and _LINE.match(line)]
    invalid: MRZ | None = None
    for i in range(len(candidates)):
        for shape in _SHAPES:
            group = candidates[i : i + len(shape)]
            if tuple(len(line) for line in group) != shape:
                continue
            mrz = _read(group)
            if mrz is None:
                continue
            if mrz.valid:
                return mrz
            if any("<" in line for line in group) and (
                invalid is None
                or ("layout" in invalid.failed_checks and "layout" not in mrz.failed_checks)
            ):
                invalid = mrz
    return invalid


def _read(group: list[str]) -> MRZ | None:
    if len(group) == 1 and not re.match(r"D[0-9A-Z][A-Z<]{3}", group[0]):
        return None
    try:
        return read_zone(group)
    except ValueError:  # no format has these lines (e.g. 30 characters not opening with D)
        return None
