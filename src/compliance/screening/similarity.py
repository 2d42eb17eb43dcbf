"""Similarity of two normalised name tokens, in [0, 1]."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from rapidfuzz import process
from rapidfuzz.distance import JaroWinkler, Levenshtein

from compliance.screening.normalise import phonetic_key

# Two spellings with the same sound key ("kais" / "qais", "omar" / "umar") count as
# this similar when their letters are already fairly close: enough to be a match, never
# more than a near spelling.
PHONETIC_SIMILARITY = 0.8
_PHONETIC_MIN_BASE = 0.75
MIN_SOUND_KEY = _MIN_PHONETIC_KEY = 2  # a shorter sound key says nothing
# Jaro-Winkler rewards shared prefixes strongly; discount it so it only decides between
# spellings that Levenshtein finds nearly as close.
_JW_DISCOUNT = 0.06
# In a word of four letters or fewer one letter is a quarter of it ("yuki" / "yuri", "olga" /
# "oleg" are two names): Jaro-Winkler's reward for the shared beginning counts from five
# letters on, or where one word only adds a letter at the end of the other ("atar"/"atari";
# "mans" is not "mansha").
_JW_MIN_LENGTH = 5
# From this many tokens on, one rapidfuzz call compares them all (the same values as one
# call per pair, without a Python call per pair).
_BATCH_FROM = 16


def _winkler_counts(a: str, b: str) -> bool:
    """Does Jaro-Winkler's reward for a shared beginning count for these two words?"""
    return min(len(a), len(b)) >= _JW_MIN_LENGTH or (
        abs(len(a) - len(b)) == 1 and (a.startswith(b) or b.startswith(a))
    )


def token_similarity(a: str, b: str, *, sound_alike: bool = True) -> float:
    """How alike two tokens are; with ``sound_alike``, two spellings with the same sound key
    count as ``PHONETIC_SIMILARITY`` alike (when their letters are fairly close)."""
    if a == b:
        return 1.0
    if len(a) == 1 or len(b) == 1:  # an initial never equals a different token
        return 0.0
    sim = Levenshtein.normalized_similarity(a, b)
    if _winkler_counts(a, b):
        sim = max(sim, JaroWinkler.similarity(a, b) - _JW_DISCOUNT)
    if sound_alike and _PHONETIC_MIN_BASE <= sim < PHONETIC_SIMILARITY:
        key = phonetic_key(a)
        if len(key) >= _MIN_PHONETIC_KEY and key == phonetic_key(b):
            sim = PHONETIC_SIMILARITY
    return sim


def letter_similarity(a: str, b: str) -> float:
    """Plain normalised Levenshtein similarity of two tokens."""
    return float(Levenshtein.normalized_similarity(a, b))


def letter_similarities(a: str, others: Sequence[str]) -> list[float]:
    """``letter_similarity`` of ``a`` with each of ``others``, in order."""
    if len(others) < _BATCH_FROM:
        return [float(Levenshtein.normalized_similarity(a, b)) for b in others]
    found = process.cdist(
        [a], others, scorer=Levenshtein.normalized_similarity, dtype=np.float64, workers=1
    )
    return found[0].tolist()  # type: ignore[no-any-return]


def token_similarities(a: str, others: Sequence[str], sound_alike: Sequence[bool]) -> list[float]:
    """``token_similarity`` of ``a`` with each of ``others``, in order (``sound_alike``: for
    each of them)."""
    if len(others) < _BATCH_FROM:
        return [
            token_similarity(a, b, sound_alike=alike)
            for b, alike in zip(others, sound_alike, strict=True)
        ]
    letters = process.cdist(
        [a], others, scorer=Levenshtein.normalized_similarity, dtype=np.float64, workers=1
    )[0].tolist()
    winkler = process.cdist(
        [a], others, scorer=JaroWinkler.similarity, dtype=np.float64, workers=1
    )[0].tolist()
    found = []
    for b, sim, prefixed, alike in zip(others, letters, winkler, sound_alike, strict=True):
        if a == b:
            sim = 1.0
        elif len(a) == 1 or len(b) == 1:
            sim = 0.0
        else:
            if _winkler_counts(a, b):
                sim = max(sim, prefixed - _JW_DISCOUNT)
            if alike and _PHONETIC_MIN_BASE <= sim < PHONETIC_SIMILARITY:
                key = phonetic_key(a)
                if len(key) >= _MIN_PHONETIC_KEY and key == phonetic_key(b):
                    sim = PHONETIC_SIMILARITY
        found.append(sim)
    return found


def token_similarity_array(
    a: str,
    others: Sequence[str],
    sound_alike: npt.NDArray[np.bool_],
    same_sound: npt.NDArray[np.bool_],
) -> npt.NDArray[np.float64]:
    """``token_similarities`` of many tokens at once, with numpy rather than a Python step
    per comparison: ``same_sound[k]``, whether ``others[k]`` has ``a``'s sound key (of two
    letters or more), as the caller already knows it."""
    count = len(others)
    if len(sound_alike) != count or len(same_sound) != count:
        raise ValueError("one sound_alike and one same_sound flag per token")
    letters = process.cdist(
        [a], others, scorer=Levenshtein.normalized_similarity, dtype=np.float64, workers=1
    )[0]
    winkler = process.cdist(
        [a], others, scorer=JaroWinkler.similarity, dtype=np.float64, workers=1
    )[0]
    lengths = np.fromiter(map(len, others), np.int64, count)
    counts = np.minimum(lengths, len(a)) >= _JW_MIN_LENGTH
    for k in np.flatnonzero(~counts & (np.abs(lengths - len(a)) == 1)).tolist():
        counts[k] = a.startswith(others[k]) or others[k].startswith(a)
    sims: npt.NDArray[np.float64] = np.where(
        counts, np.maximum(letters, winkler - _JW_DISCOUNT), letters
    )
    boosted = sound_alike & same_sound & (sims >= _PHONETIC_MIN_BASE) & (sims < PHONETIC_SIMILARITY)
    sims[boosted] = PHONETIC_SIMILARITY
    if len(a) == 1:
        sims[:] = 0.0
    else:
        sims[lengths == 1] = 0.0
    sims[[k for k, b in enumerate(others) if b == a]] = 1.0
    return sims
