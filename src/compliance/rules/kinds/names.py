"""Comparing two renderings of one person's name, explainably.

Names are compared word by word after folding case, accents and punctuation, whatever the
word order ("HALVORSEN INGRID" = "Ingrid Halvorsen"). Every word of the shorter name must
match a distinct word of the longer one: spelled alike (similarity from 0.85, so one typo
in a long word is tolerated) or as an initial ("D." for "Daniel"). Words of the longer name
left over (a middle name one document omits) are reported, not held against the match; but
a single word (a surname alone) never matches a longer name.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from rapidfuzz.distance import Indel

TOKEN_SIMILARITY = 0.85
_NOT_LETTER = re.compile(r"[^a-z0-9]+")


@lru_cache(maxsize=65536)
def name_tokens(name: str) -> tuple[str, ...]:
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    if decomposed.isascii():
        plain = decomposed
    else:
        plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return tuple(_NOT_LETTER.sub(" ", plain).split())


@dataclass(frozen=True)
class NameAgreement:
    matches: bool
    score: float  # 0..100: mean similarity of the shorter name's words
    unmatched: tuple[str, ...]  # words of the shorter name with no counterpart
    left_over: tuple[str, ...]  # words of the longer name the shorter one omits

    def describe(self) -> str:
        parts = [f"similarity {self.score:.0f}"]
        if self.unmatched:
            parts.append("no counterpart for " + ", ".join(self.unmatched))
        if self.left_over:
            parts.append("not in the shorter name: " + ", ".join(self.left_over))
        return "; ".join(parts)


def _similarity(short: str, long: str) -> float:
    if len(short) == 1 or len(long) == 1:  # an initial
        return 1.0 if short[0] == long[0] else 0.0
    return Indel.normalized_similarity(short, long)


@lru_cache(maxsize=65536)
def compare_names(first: str, second: str) -> NameAgreement:
    a, b = name_tokens(first), name_tokens(second)
    short, long = (a, b) if len(a) <= len(b) else (b, a)
    if not short:
        return NameAgreement(False, 0.0, (), tuple(long))
    free = list(long)
    sims: list[float] = []
    unmatched: list[str] = []
    for token in sorted(short, key=len, reverse=True):  # whole words before initials
        if len(token) > 1 and token in free and min(map(len, free)) > 1:
            # spelled alike: nothing scores higher, and among whole words only the same
            # spelling scores 1 (an initial left in ``free`` could tie, hence the guard)
            free.remove(token)
            sims.append(1.0)
            continue
        best = max(free, key=lambda cand: _similarity(token, cand), default=None)
        sim = _similarity(token, best) if best is not None else 0.0
        if best is not None and sim >= TOKEN_SIMILARITY:
            free.remove(best)
            sims.append(sim)
        else:
            unmatched.append(token)
            sims.append(sim)
    matched = [t for t in short if t not in unmatched]
    whole_words = sum(1 for t in matched if len(t) > 1)
    enough = whole_words >= 1 and len(matched) >= min(2, len(long))  # never a surname alone
    score = 100 * sum(sims) / len(sims)
    return NameAgreement(not unmatched and enough, score, tuple(unmatched), tuple(free))
