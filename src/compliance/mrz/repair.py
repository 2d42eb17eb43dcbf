"""Repairing OCR confusions in a zone, guided by each field's character class and decided by
the check digits.

OCR confuses look-alike characters: O/0, I/1, B/8, S/5, Z/2, G/6. Where ICAO 9303 fixes a
field's class the fix is certain: letters in a digit field (dates, check digits) become their
look-alike digits, digits in a letter field (codes, names) their look-alike letters. Fields that
hold both (document numbers, optional data) cannot be fixed by class; when a check digit over
them fails, the readings that swap one look-alike are tried (a letter for its digit anywhere, a
digit for its letter only next to a letter) and one is taken only if it is the single reading
for which every check digit holds. Two independent digits must agree (the field's own and the
composite), so formats without a composite (visas, most driving licences) get class fixes
only: one check digit alone passes a wrong reading once in ten. When two neighbouring
look-alikes both fit (weights 7 and 3 sum to 10, so swapping either satisfies every digit), the
one whose new character has the class of its neighbours wins if it alone does; otherwise
nothing is guessed. G/6 cannot be told apart by check digits at all (their values differ by
10). Names of Russian internal passports (``PNRUS``) keep their digits: their transliteration
uses them for letters. Every change is recorded in ``MRZ.repairs``.
"""

from __future__ import annotations

from dataclasses import replace

from compliance.mrz.formats import CHECKED, PARSERS, SPANS, Span, format_of
from compliance.mrz.result import MRZ, Repair

TO_DIGIT = {"O": "0", "Q": "0", "D": "0", "I": "1", "L": "1", "Z": "2", "S": "5", "G": "6",
            "B": "8", "T": "7"}  # fmt: skip
TO_LETTER = {"0": "O", "1": "I", "2": "Z", "5": "S", "6": "G", "8": "B"}
SWAPS = {"O": "0", "0": "O", "I": "1", "1": "I", "B": "8", "8": "B", "S": "5", "5": "S",
         "Z": "2", "2": "Z", "G": "6", "6": "G"}  # fmt: skip
_DIGITS_IN_NAMES = ("PNRUS",)  # zones whose names spell letters with digits
_MAX_POSITIONS = 16  # look-alikes tried in the fields a failing check covers


def read_zone(lines: list[str]) -> MRZ:
    """The zone as read, repaired where its classes and check digits allow (see module)."""
    fmt = format_of(lines)
    if fmt is None:
        raise ValueError("lines of no known zone format")
    parse = PARSERS[fmt]
    as_read = parse(lines)
    chars, repairs = fix_classes(fmt, lines)
    # nothing mapped: the characters are the lines as read, and so is their parse
    fixed = parse(["".join(line) for line in chars]) if repairs else as_read
    if not fixed.valid and as_read.valid:
        return as_read
    if not fixed.valid:
        found = _search(fmt, chars)
        if found is None:
            return as_read
        fixed, more = found
        repairs += more
    return replace(fixed, repairs=tuple(repairs))


def fix_classes(fmt: str, lines: list[str]) -> tuple[list[list[str]], list[Repair]]:
    """Map look-alikes to the class each position holds; returns the characters and repairs."""
    chars = [list(line) for line in lines]
    repairs: list[Repair] = []
    digits_in_names = lines[0].startswith(_DIGITS_IN_NAMES)
    for span in SPANS[fmt]:
        table = TO_DIGIT if span.kind == "N" else TO_LETTER if span.kind == "A" else None
        if table is None or (span.field == "names" and digits_in_names):
            continue
        for pos in range(span.start, span.end):
            read = chars[span.line][pos]
            if read in table:
                chars[span.line][pos] = table[read]
                repairs.append(Repair(span.field, span.line, pos, read, table[read]))
    return chars, repairs


def _search(fmt: str, chars: list[list[str]]) -> tuple[MRZ, list[Repair]] | None:
    parse = PARSERS[fmt]
    first = parse(["".join(line) for line in chars])
    if "composite" not in first.checks or len(first.checks) < 2:
        return None
    failing = first.failed_checks
    fields = {name for check in failing for name in CHECKED[fmt].get(check, ())}
    spans = [s for s in SPANS[fmt] if s.kind == "X" and s.field in fields]
    found: list[tuple[MRZ, Repair, bool]] = []
    for span, pos in _ambiguous(spans, chars)[:_MAX_POSITIONS]:
        trial = [row[:] for row in chars]
        read = trial[span.line][pos]
        trial[span.line][pos] = SWAPS[read]
        mrz = parse(["".join(row) for row in trial])
        if mrz.valid:
            repair = Repair(span.field, span.line, pos, read, SWAPS[read])
            found.append((mrz, repair, _fits(span, pos, trial[span.line])))
    if len(found) == 1:
        return found[0][0], [found[0][1]]
    # Several readings fit (two neighbouring look-alikes swap alike under weights 7 and 3):
    # the one whose new character has the class of its neighbours in the field wins, if alone.
    fitting = [(mrz, repair) for mrz, repair, fits in found if fits]
    return (fitting[0][0], [fitting[0][1]]) if len(fitting) == 1 else None


def _fits(span: Span, pos: int, line: list[str]) -> bool:
    """Whether the character at ``pos`` is of the class (letter or digit) of its neighbours
    within the field (fillers say nothing)."""
    near = [line[i] for i in (pos - 1, pos + 1) if span.start <= i < span.end and line[i] != "<"]
    return all(c.isalpha() == line[pos].isalpha() for c in near)


def _ambiguous(spans: list[Span], chars: list[list[str]]) -> list[tuple[Span, int]]:
    found = []
    for span in spans:
        for pos in range(span.start, span.end):
            char = chars[span.line][pos]
            if char not in SWAPS:
                continue
            line = chars[span.line]
            near = [line[i] for i in (pos - 1, pos + 1) if span.start <= i < span.end]
            if char.isalpha() or any(c.isalpha() for c in near):
                found.append((span, pos))
    return found
