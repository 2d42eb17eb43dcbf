"""Reading a machine-readable zone out of Tesseract's output, which is imperfect on the OCR-B
font: the filler ``<`` often comes out as ``K`` or ``X`` (or is dropped), and O/0, I/1, S/5,
B/8, Z/2 swap places. The repairs, each limited to where ICAO 9303 fixes the character class:

- only ``A-Z``, ``0-9`` and ``<`` are kept;
- positions that hold digits (dates, check digits) map look-alike letters to digits, and
  positions that hold letters (state and nationality codes) map digits to letters;
- the data line (line 2 of TD3/TD2) must have its exact length: its check digits then say
  whether the reading is right, and a reading whose digits fail stays invalid;
- the name line is padded or cut to its length with fillers; a name token made only of K/X is
  filler; a token in which K/X may stand for ``<`` (``ANNAXMARIAK``) is split only when the
  words that gives are printed elsewhere on the document (the visual zone), since names carry
  no check digit.
"""

from __future__ import annotations

import itertools
import re

from compliance.mrz.zone import MRZ, parse_lines

_TO_DIGIT = str.maketrans({"O": "0", "Q": "0", "D": "0", "I": "1", "L": "1", "Z": "2",
                           "S": "5", "G": "6", "B": "8", "T": "7"})  # fmt: skip
_TO_LETTER = str.maketrans({"0": "O", "1": "I", "2": "Z", "5": "S", "6": "G", "8": "B"})
# Digit and letter positions of the data lines, by format (line index, slice).
_DIGITS = {
    "TD3": ((1, slice(9, 10)), (1, slice(13, 20)), (1, slice(21, 28)), (1, slice(43, 44))),
    "TD2": ((1, slice(9, 10)), (1, slice(13, 20)), (1, slice(21, 28)), (1, slice(35, 36))),
    "TD1": ((0, slice(14, 15)), (1, slice(0, 7)), (1, slice(8, 15)), (1, slice(29, 30))),
}
_LETTERS = {
    "TD3": ((0, slice(2, 5)), (1, slice(10, 13))),
    "TD2": ((0, slice(2, 5)), (1, slice(10, 13))),
    "TD1": ((0, slice(2, 5)), (1, slice(15, 18))),
}
_FORMATS = (("TD3", 2, 44), ("TD2", 2, 36), ("TD1", 3, 30))
_NAME_START = {"TD3": 5, "TD2": 5, "TD1": 0}  # where the name field starts on its line
_MAX_AMBIGUOUS = 4


def _clean(line: str) -> str:
    line = line.upper().replace("«", "<<").replace("\u2039", "<")
    return re.sub(r"[^A-Z0-9<]", "", line)


def find_ocr_mrz(text: str) -> MRZ | None:
    raw = text.splitlines()
    lines = [_clean(line) for line in raw]
    for fmt, count, length in _FORMATS:
        for i in range(len(lines) - count + 1):
            group = lines[i : i + count]
            if not _plausible(fmt, group, length):
                continue
            fixed = _fix_classes(fmt, [_fit(line, length) for line in group])
            visual = _words(raw[:i] + raw[i + count :])
            fixed = _fix_names(fmt, fixed, visual)
            mrz = parse_lines(fixed)
            if mrz.valid:
                return mrz
    return None


def _plausible(fmt: str, group: list[str], length: int) -> bool:
    """The data line(s) must have their exact length; the name line may be off by a few."""
    if not all("<" in line for line in group):
        return False
    if fmt == "TD1":
        return all(len(line) == length for line in group[:2]) and abs(len(group[2]) - length) <= 6
    return len(group[1]) == length and abs(len(group[0]) - length) <= 6 and group[0][0] in "PIAC"


def _fit(line: str, length: int) -> str:
    return line[:length].ljust(length, "<")


def _fix_classes(fmt: str, lines: list[str]) -> list[str]:
    chars = [list(line) for line in lines]
    for table, spans in ((_TO_DIGIT, _DIGITS[fmt]), (_TO_LETTER, _LETTERS[fmt])):
        for index, span in spans:
            start, stop, _ = span.indices(len(chars[index]))
            for pos in range(start, stop):
                if chars[index][pos] != "<":
                    chars[index][pos] = chars[index][pos].translate(table)
    return ["".join(line) for line in chars]


def _words(lines: list[str]) -> set[str]:
    return {w for line in lines for w in re.findall(r"[A-Z]{2,}", line.upper())}


def _fix_names(fmt: str, lines: list[str], visual: set[str]) -> list[str]:
    index = 2 if fmt == "TD1" else 0
    line = lines[index]
    start = _NAME_START[fmt]
    field = line[start:]
    tokens = re.split(r"(<+)", field)
    repaired = "".join(_fix_token(t, visual) if t and t[0] != "<" else t for t in tokens)
    # A misread filler may have split the zone's trailing fillers: keep the length.
    repaired = _fit(repaired, len(field))
    return [*lines[:index], line[:start] + repaired, *lines[index + 1 :]]


def _fix_token(token: str, visual: set[str]) -> str:
    if set(token) <= {"K", "X"}:
        return "<" * len(token)
    if not visual or token in visual:
        return token
    ambiguous = [i for i, c in enumerate(token) if c in "KX"]
    if not ambiguous or len(ambiguous) > _MAX_AMBIGUOUS:
        return token
    for size in range(1, len(ambiguous) + 1):
        for chosen in itertools.combinations(ambiguous, size):
            candidate = "".join("<" if i in chosen else c for i, c in enumerate(token))
            words = [w for w in candidate.split("<") if w]
            if words and all(w in visual for w in words):
                return candidate
    return token
