"""Masking what a notification shows: identifiers keep only their last characters.

``mask_value("X71K42Q90", 3)`` is ``"••••••Q90"``: enough for an officer to tell two
documents apart, not enough to use the number. In free text (an exception's reason), every
word that looks like a number or an identifier (five or more letters and digits, at least one
digit) is masked the same way, and so is every value the caller knows to be personal (the
rule's inputs, e.g. a name that the text quotes).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MASK = "•"
# A document number, an IBAN, a phone or tax number: letters and digits, with a digit in it.
_IDENTIFIER = re.compile(r"(?<![\w])(?=[\w-]*\d)[A-Za-z0-9][\w-]{4,}(?![\w])")
# Personal values shorter than this are left to the identifier pattern (too common to mask).
MIN_KNOWN_VALUE = 3


def mask_value(value: str, keep_last: int = 3) -> str:
    """All but the last ``keep_last`` characters replaced; a value no longer than that is
    masked whole (its last characters would be all of it)."""
    if len(value) <= keep_last:
        return MASK * len(value)
    kept = value[-keep_last:] if keep_last else ""
    return MASK * (len(value) - keep_last) + kept


def mask_text(text: str, keep_last: int = 3, known: Iterable[str] = ()) -> str:
    """``text`` with its identifier-like words and the ``known`` personal values masked."""
    values = sorted({v for v in known if len(v.strip()) >= MIN_KNOWN_VALUE}, key=len, reverse=True)
    if values:
        pattern = re.compile("|".join(re.escape(v) for v in values))
        text = pattern.sub(lambda m: mask_value(m.group(0), keep_last), text)
    return _IDENTIFIER.sub(lambda m: mask_value(m.group(0), keep_last), text)
