"""The screening shortcuts taken for speed give exactly what the full computation gives: the
ASCII fold of a word, names no normalisation step changes, cached dates of birth, name scores
cut below a floor, and the cached pair postings of the index (also while the cache keeps
emptying itself for its bound)."""

from __future__ import annotations

import random
import string

import pytest

from compliance.screening import SanctionsList, Screener, ScreeningConfig
from compliance.screening import index as index_module
from compliance.screening.dates import parse_partial_date
from compliance.screening.normalise import (
    _DROPPED_PUNCT,
    _SEPARATORS,
    fold_letters,
    fold_spelling,
    fold_word,
    normalise_tokens,
    token_steps,
)
from compliance.screening.scoring import score_name


def test_an_ascii_word_folds_as_the_full_unicode_path_folds_it() -> None:
    seed = 20261205
    print(f"seed {seed}")
    rng = random.Random(seed)
    alphabet = string.ascii_letters + string.digits + string.punctuation
    words = ["".join(rng.choices(alphabet, k=rng.randint(1, 12))) for _ in range(3000)]
    words += ["O'Brien", "Al-Rashid", "McDONALD", "Zhou.", "DZHOKHAR", "Khaled", "QASIM"]
    for word in words:
        full = fold_spelling(_DROPPED_PUNCT.sub("", fold_letters(word)))
        assert fold_word(word) == tuple(t for t in _SEPARATORS.split(full) if t), word


def test_every_listed_name_normalises_as_the_full_token_steps_normalise_it(
    bundled_lists: list[SanctionsList],
) -> None:
    names = [n for lst in bundled_lists for e in lst.entities for n, _ in e.all_names()]
    names += ["Dr. Abd al-Rahman Mohamed", "Joint Stock Company Rosneft", "Maria de la Cruz"]
    untouched = 0
    for name in names:
        words = name.split()
        folded = [t for w in words for t in fold_word(w)]
        expected = token_steps(list(folded)) if folded else ()
        assert normalise_tokens(words) == expected, name
        untouched += expected == tuple(folded)
    assert 1000 < untouched < len(names)  # both paths were taken


def test_a_date_of_birth_parsed_again_is_the_date_parsed_the_first_time() -> None:
    texts = ["1960", "1960-01", "1960-01-12", "12 Jan 1960", "00/00/1960", "soon", " 1971 "]
    first = [parse_partial_date(t) for t in texts]
    parse_partial_date.cache_clear()
    assert [parse_partial_date(t) for t in texts] == first
    assert [parse_partial_date(t) for t in texts] == first  # now from the cache
    assert first[3] is not None and (first[3].year, first[3].month, first[3].day) == (1960, 1, 12)


def test_a_name_score_below_the_floor_is_none_and_one_above_is_the_full_score() -> None:
    config = ScreeningConfig()
    query = ("vladimir", "vladimirovich", "putin")
    expansions = [{"vladimir": 1.0}, {"vladimirovich": 1.0}, {"putin": 1.0, "putina": 0.9}]
    for listed in (("vladimir", "putin"), ("putina", "anna"), ("v", "putin"), ("maria",)):
        full = score_name(query, expansions, listed, config)
        assert full is not None
        for floor in (0.0, full.score, full.score + 0.01, 78.0):
            cut = score_name(query, expansions, listed, config, at_least=floor)
            assert cut == (None if full.score < floor else full)


@pytest.mark.parametrize("pair_cache_limit", [10**9, 50])
def test_names_screened_again_with_cached_pair_postings_get_the_hits_of_the_first_time(
    bundled_screener: Screener, monkeypatch: pytest.MonkeyPatch, pair_cache_limit: int
) -> None:
    """Each name is screened with no pair postings cached, then twice more with the cache
    holding the pairs of every name screened since; a bound of 50 record numbers makes the
    cache empty itself again and again meanwhile."""
    monkeypatch.setattr(index_module, "_PAIR_CACHE_LIMIT", pair_cache_limit)
    index = bundled_screener.index
    seed = 7
    print(f"seed {seed}")
    rng = random.Random(seed)
    names = []
    for _ in range(200):
        words = index.entities[rng.randrange(len(index.entities))].name.split()
        rng.shuffle(words)
        names.append(" ".join(words))
        names.append(f"{words[0]} Halvorsen{rng.randrange(1000):03d} {words[-1]}")
    hits = 0
    for name in names:
        index._pairs.clear()
        first = bundled_screener.screen(name, max_hits=60)
        hits += len(first)
        for later in names[:5]:  # other names' pairs in the cache meanwhile
            bundled_screener.screen(later)
        assert bundled_screener.screen(name, max_hits=60) == first, name
        assert bundled_screener.screen(name, max_hits=60) == first, name
        assert index._pair_cache_size <= pair_cache_limit or len(index._pairs) == 1
    assert hits > 100  # listed names were found: the comparison covered hits, not just none
