"""The screening shortcuts taken for speed give exactly what the full computation gives: the
ASCII fold of a word, names no normalisation step changes, cached dates of birth, name scores
cut below a floor, the cached pair postings of the index (also while the cache keeps
emptying itself for its bound), and the bounds of the name score that skip hopeless names."""

from __future__ import annotations

import random
import string

import pytest

from compliance.screening import SanctionsList, Screener, ScreeningConfig, ScreeningIndex
from compliance.screening import index as index_module
from compliance.screening import screener as screener_module
from compliance.screening.dates import parse_partial_date
from compliance.screening.normalise import (
    _DROPPED_PUNCT,
    _SEPARATORS,
    fold_letters,
    fold_spelling,
    fold_word,
    normalise_name,
    normalise_tokens,
    token_steps,
)
from compliance.screening.scoring import score_name
from compliance.screening.screener import _listed_bound


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


def _queries(index: ScreeningIndex, rng: random.Random, count: int) -> list[str]:
    """Listed names shuffled, with a word respelt, dropped, made up or cut to an initial."""
    names = []
    for _ in range(count):
        words = index.entities[rng.randrange(len(index.entities))].name.split()
        rng.shuffle(words)
        change = rng.randrange(5)
        at = rng.randrange(len(words))
        if change == 0:
            words[at] = words[at][:-1] + rng.choice("aeiouy") if len(words[at]) > 3 else "x"
        elif change == 1 and len(words) > 1:
            del words[at]
        elif change == 2:
            words.append(f"Halvorsen{rng.randrange(10**5):05d}")
        elif change == 3:
            words[at] = words[at][0]
        names.append(" ".join(words))
    return names


def test_the_name_score_bounds_are_never_below_a_real_name_score(
    bundled_screener: Screener,
) -> None:
    """The bounds that let screening skip a reading or a listed name before scoring hold for
    every listed name retrieved for names near listed ones: no hit is lost to them."""
    index, config = bundled_screener.index, bundled_screener.config
    seed = 20261206
    print(f"seed {seed}")
    rng = random.Random(seed)
    compared = bounded = 0
    for name in _queries(index, rng, 400):
        readings, recs, _acronyms, _by_two = bundled_screener._retrieve(index, name, None)
        for rec in recs:
            listed = index.rec_tokens[rec].split()
            second = bool(index.rec_second_surname[rec])
            for reading in readings:
                score = score_name(
                    reading.tokens,
                    reading.expansions,
                    listed,
                    config,
                    index.common_tokens,
                    second_surname=second,
                )
                assert score is not None
                compared += 1
                assert score.score <= reading.bound + 1e-9, (name, listed)
                assert score.score <= _listed_bound(reading, listed, second, config) + 1e-9
                if len(score.matched) == 1 and not reading.has_initial:
                    assert score.score <= reading.one_word + 1e-9, (name, listed)
                bounded += reading.bound < config.min_name_score
    assert compared > 5000 and bounded > 0  # many scores, and some readings were cut


def test_a_name_whose_last_word_no_list_holds_scores_only_names_that_could_be_a_hit(
    bundled_screener: Screener, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A brand-new customer's made-up family name matches nothing listed: a two-word name
    then scores no listed name at all (one missing end word caps it at 75), and a
    three-word one only listed names with two words that could match its given names (a
    listed spelling of them, or a one-letter word)."""
    scored: list[tuple[str, ...]] = []

    def counting(query: tuple[str, ...], *args: object, **kwargs: object) -> object:
        scored.append(tuple(args[1]))  # type: ignore[arg-type]
        return score_name(query, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(screener_module, "score_name", counting)
    assert bundled_screener.screen("Daniel Halvorsen00042") == []
    assert scored == []
    assert bundled_screener.screen("Anna Maria Halvorsen00043") == []
    config = bundled_screener.config
    spellings = set()
    for given in ("anna", "maria"):
        spellings |= set(bundled_screener.index.expand(given, config.token_similarity, 12, 0.1))
    for listed in scored:
        assert sum(t in spellings or len(t) == 1 for t in listed) >= 2, listed


def test_the_spellings_of_a_word_in_arabic_letters_come_best_first(
    bundled_screener: Screener,
) -> None:
    """Retrieval looks up the first spellings of each word only: for a name in Arabic or
    Persian letters, the spellings found by letters and by consonants are merged best first
    ("احمدی": "ahmadi" before weaker spellings)."""
    index = bundled_screener.index
    for name in ("محمد احمدی", "عمر محمد قدير", "جلال الدين حقانى", "طارق گیدڑ گروپ"):
        tokens = normalise_name(name)
        for found in bundled_screener._expand(index, tokens, abjad=True):
            similarities = list(found.values())
            assert similarities == sorted(similarities, reverse=True), name
