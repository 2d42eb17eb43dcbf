"""PII redaction before text leaves the bank (``COMPLIANCE_LLM_REDACT_PII``).

Values that identify a person or an account by themselves are replaced by numbered
placeholders such as ``[IBAN_1]``; the mapping stays in this process, and placeholders in
Claude's reply are put back, so the extracted fields still carry the real values. Machine-
readable zones are replaced whole: they are parsed locally (``compliance.mrz``) and their
check-digit-verified fields win over Claude's reading anyway. Every line of a zone the parser
finds is replaced, also one with no ``<`` filler (a Chinese passport's data line, a Belgian
card's second line) or printed with spaces inside.

Names and street addresses are not redacted (no pattern finds them reliably): a bank that
must not send them should use the local classifier.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from compliance.mrz import find_mrz

# Order matters: the more specific patterns run first.
_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("MRZ", re.compile(r"^[A-Z0-9<]{28,46}$", re.MULTILINE)),
    ("EMAIL", re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")),
    ("IBAN", re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b")),
    ("CARD", re.compile(r"\b(?:\d[ -]?){12,18}\d\b")),
    ("SSN", re.compile(r"\b\d{3}-\d{2}-\d{4}\b|\b\d{2}-\d{7}\b")),
    ("PHONE", re.compile(r"(?<![\w+])\+\d[\d ()-]{7,}\d\b")),
)
_PLACEHOLDER = re.compile(r"\[(?:MRZ|EMAIL|IBAN|CARD|SSN|PHONE)_\d+\]")


def _zone_lines(text: str) -> frozenset[str]:
    """Every line of the zone the MRZ parser finds in ``text``, as repaired and as read (the
    text holds what was read: an O for a 0 in a document number, a digit in a name)."""
    zone = find_mrz(text)
    if zone is None:
        return frozenset()
    read = [list(line) for line in zone.lines]
    for repair in zone.repairs:
        read[repair.line][repair.position] = repair.read
    return frozenset(zone.lines) | {"".join(line) for line in read}


@dataclass
class Redaction:
    text: str
    originals: dict[str, str] = field(default_factory=dict)  # placeholder -> value

    def restore(self, value: str | None) -> str | None:
        if value is None or not self.originals:
            return value
        return _PLACEHOLDER.sub(lambda m: self.originals.get(m.group(0), m.group(0)), value)


def redact(text: str) -> Redaction:
    originals: dict[str, str] = {}
    seen: dict[str, str] = {}  # the same value twice gets the same placeholder
    counters: dict[str, int] = {}

    def placeholder(kind: str, value: str) -> str:
        if value not in seen:
            counters[kind] = counters.get(kind, 0) + 1
            seen[value] = f"[{kind}_{counters[kind]}]"
            originals[seen[value]] = value
        return seen[value]

    zone_lines = _zone_lines(text)
    if zone_lines:
        text = "\n".join(
            placeholder("MRZ", line) if re.sub(r"\s+", "", line).upper() in zone_lines else line
            for line in text.split("\n")
        )

    for kind, pattern in _PATTERNS:

        def replace(match: re.Match[str], kind: str = kind) -> str:
            value = match.group(0)
            if kind == "MRZ" and "<" not in value:
                return value
            return placeholder(kind, value)

        text = pattern.sub(replace, text)
    return Redaction(text, originals)
