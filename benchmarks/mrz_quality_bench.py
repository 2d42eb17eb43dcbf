"""MRZ strings benchmark: how often the parser's verdict agrees with the known one.

Run from the project root:  .venv/bin/python benchmarks/mrz_quality_bench.py
Updates benchmarks/results/documents_quality.json (figures other benchmarks wrote there kept).

The labelled set starts from real public zones with the verdict and fields their sources state
(tests/data/mrz/specimens.json, sources in tests/data/mrz/SOURCES.md): ICAO 9303 specimens,
government specimen documents (PRADO, national specimens) and the test corpora of open MRZ
readers, valid ones and ones with a wrong check digit. Each real zone then gives variants whose
verdict follows from how they are made (seeded by the zone's id, so every run builds the same
set):

- ``ocr-digit``: a digit of a date or check digit read as its look-alike letter (0/O, 1/I, 2/Z,
  5/S, 6/G, 8/B): the document is the same, so is the verdict and every field;
- ``ocr-number``: one character of the document number read as its look-alike, on formats whose
  composite digit guards the number (TD1, TD2, TD3, French ID card): same verdict and fields.
  G/6 is left out here: G counts 16 and 6 counts 6, so under any weight the two give the same
  check digit, and no reader can tell them apart by the zone alone;
- ``embedded``: the zone inside other text, a space inside a line: same verdict and fields;
- ``wrong-check``: a check digit changed to another digit: invalid;
- ``wrong-birth``: a birth-date digit changed to another digit (not a look-alike): invalid
  (neither for the Swiss driving licence, which has no check digit);
- ``not-a-zone``: lines of zone lengths without fillers, and document text: nothing valid.

The split is deterministic: a zone and all its variants are held back when the SHA-256 of the
zone's id is 0 modulo 3. The figure ``mrz: strings agreement`` is measured on the held-back
part only; the parser is never tuned on it (the tuning part is reported beside it).
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter
from dataclasses import dataclass
from typing import Any

from host import ROOT, brief_machine, use_checkout, write_results

use_checkout()

from compliance.mrz import find_mrz  # noqa: E402
from compliance.mrz.formats import SPANS, format_of  # noqa: E402

SPECIMENS = ROOT / "tests" / "data" / "mrz" / "specimens.json"
RESULTS = ROOT / "benchmarks" / "results" / "documents_quality.json"
COMMAND = ".venv/bin/python benchmarks/mrz_quality_bench.py"
TARGET = 0.98
LOOK_ALIKE_LETTER = {"0": "O", "1": "I", "2": "Z", "5": "S", "6": "G", "8": "B"}
LOOK_ALIKE_DIGIT = {v: k for k, v in LOOK_ALIKE_LETTER.items()}
# Look-alikes a check digit can see (G/6 differ by 10: invisible to check digits).
NUMBER_LOOK_ALIKES = {
    a: b for a, b in (LOOK_ALIKE_LETTER | LOOK_ALIKE_DIGIT).items() if {a, b} != {"6", "G"}
}
FIELDS = ("format", "document_number", "birth_date", "expiry_date", "nationality")
COMPOSITE_GUARDED = {"TD1", "TD2", "TD3", "FRA_ID"}
DOCUMENT_TEXT = (
    "INVOICE NO 2024-118\nACME SUPPLIES LTD\nTOTAL DUE EUR 1,240.00\n"
    "IBAN GB29NWBK60161331926819 BIC NWBKGB2L\nTHANK YOU FOR YOUR BUSINESS\n"
)


@dataclass(frozen=True)
class Case:
    id: str
    base: str  # the real zone it comes from
    text: str
    expect: dict[str, Any]


def held_back(base_id: str) -> bool:
    return int(hashlib.sha256(base_id.encode()).hexdigest(), 16) % 3 == 0


def _positions(
    lines: list[str], kind: str, fields: set[str] | None = None
) -> list[tuple[int, int]]:
    fmt = format_of(lines)
    if fmt is None:
        return []
    return [
        (span.line, pos)
        for span in SPANS[fmt]
        if span.kind == kind and (fields is None or span.field in fields)
        for pos in range(span.start, span.end)
    ]


def _with(lines: list[str], line: int, pos: int, char: str) -> list[str]:
    changed = list(lines)
    changed[line] = changed[line][:pos] + char + changed[line][pos + 1 :]
    return changed


def variants(case: dict[str, Any]) -> list[Case]:
    """The real zone and the variants made from it (see the module's text)."""
    rng = random.Random(case["id"])
    lines: list[str] = case["lines"]
    expect: dict[str, Any] = case["expect"]
    base = case["id"]
    made = [Case(base, base, "\n".join(lines), expect)]
    spaced = _with(lines, 0, len(lines[0]) // 2, lines[0][len(lines[0]) // 2] + " ")
    embedded = f"DOCUMENT\nNAME AND DETAILS\n{chr(10).join(spaced)}\nEND OF PAGE"
    made.append(Case(f"{base}/embedded", base, embedded, expect))
    if not expect["valid"]:
        return made
    fmt = expect.get("format") or format_of(lines)
    digits = [
        (line, pos)
        for line, pos in _positions(lines, "N", {"birth_date", "expiry_date", "composite"})
        if lines[line][pos] in LOOK_ALIKE_LETTER
    ]
    if digits:
        line, pos = rng.choice(digits)
        noisy = _with(lines, line, pos, LOOK_ALIKE_LETTER[lines[line][pos]])
        made.append(Case(f"{base}/ocr-digit", base, "\n".join(noisy), expect))
    if fmt in COMPOSITE_GUARDED:
        number = [
            (line, pos)
            for line, pos in _positions(lines, "X", {"document_number"})
            if lines[line][pos] in NUMBER_LOOK_ALIKES
        ]
        if number:
            line, pos = rng.choice(number)
            char = lines[line][pos]
            swapped = NUMBER_LOOK_ALIKES[char]
            noisy = _with(lines, line, pos, swapped)
            made.append(Case(f"{base}/ocr-number", base, "\n".join(noisy), expect))
    if fmt == "CHE_DL":  # no check digit: a changed digit cannot be caught
        return made
    checks = [
        (line, pos)
        for line, pos in _positions(lines, "N", {"birth_date", "expiry_date", "composite"})
        if lines[line][pos].isdigit()
    ]
    if checks:
        line, pos = rng.choice(checks)
        other = rng.choice([d for d in "0123456789" if d != lines[line][pos]])
        wrong = _with(lines, line, pos, other)
        made.append(Case(f"{base}/wrong-check", base, "\n".join(wrong), {"valid": False}))
    return made + _wrong_birth(base, lines, rng)


def _wrong_birth(base: str, lines: list[str], rng: random.Random) -> list[Case]:
    births = [
        (line, pos)
        for line, pos in _positions(lines, "N", {"birth_date"})
        if lines[line][pos].isdigit()
    ][:-1]  # the date's digits, not its check digit
    if not births:
        return []
    line, pos = rng.choice(births)
    read = lines[line][pos]
    look_alike = LOOK_ALIKE_LETTER.get(read)
    choices = [d for d in "0123456789" if d != read and LOOK_ALIKE_DIGIT.get(look_alike or "") != d]
    wrong = _with(lines, line, pos, rng.choice(choices))
    return [Case(f"{base}/wrong-birth", base, "\n".join(wrong), {"valid": False})]


def not_zones() -> list[Case]:
    rng = random.Random("not-a-zone")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    made = [Case("document-text", "document-text", DOCUMENT_TEXT, {"valid": False})]
    for i, shape in enumerate(((44, 44), (30, 30, 30), (36, 36), (30,)) * 3):
        lines = ["".join(rng.choice(alphabet) for _ in range(n)) for n in shape]
        made.append(Case(f"not-a-zone-{i}", f"not-a-zone-{i}", "\n".join(lines), {"valid": False}))
    return made


def agrees(case: Case) -> bool:
    mrz = find_mrz(case.text)
    valid = mrz is not None and mrz.valid
    if valid != case.expect["valid"]:
        return False
    if not valid or mrz is None:
        return True
    return all(getattr(mrz, name) == case.expect[name] for name in FIELDS if name in case.expect)


def _variant(case: Case) -> str:
    return _variant_of(case.id)


def _variant_of(case_id: str) -> str:
    if case_id.startswith("not-a-zone") or case_id == "document-text":
        return "not-a-zone"
    return case_id.split("/", 1)[1] if "/" in case_id else "as printed"


def build() -> list[Case]:
    real = json.loads(SPECIMENS.read_text(encoding="utf-8"))
    return [variant for case in real for variant in variants(case)] + not_zones()


def main() -> None:
    cases = build()
    held = [c for c in cases if held_back(c.base)]
    tuning = [c for c in cases if not held_back(c.base)]
    misses = [c.id for c in held if not agrees(c)]
    tuning_misses = [c.id for c in tuning if not agrees(c)]
    held_value = round(1 - len(misses) / len(held), 3)
    tuning_value = round(1 - len(tuning_misses) / len(tuning), 3)
    print(f"held back: {len(held)} strings, agreement {held_value}; misses: {misses}")
    print(f"tuning part: {len(tuning)} strings, agreement {tuning_value}; misses: {tuning_misses}")
    for variant, count in sorted(Counter(_variant(c) for c in held).items()):
        missed = sum(1 for c in misses if _variant_of(c) == variant)
        print(f"  held back, {variant}: {count - missed}/{count}")
    figures = {
        "mrz: strings agreement": {"value": held_value, "unit": "fraction", "target": TARGET},
        "mrz: held-back strings": {"value": len(held), "unit": "strings", "target": None},
        "mrz: strings agreement, tuning part": {
            "value": tuning_value,
            "unit": "fraction",
            "target": None,
        },
    }
    write_results(RESULTS, COMMAND, brief_machine(), figures, keep_others=True)


if __name__ == "__main__":
    main()
