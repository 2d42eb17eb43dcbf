"""The screening shortcuts taken for speed give exactly what the full computation gives: the
ASCII fold of a word, names no normalisation step changes, cached dates of birth, name scores
cut below a floor, the cached pair postings of the index (also while the cache keeps
emptying itself for its bound), the bounds of the name score that skip hopeless names,
counting and looking up retrieved records with numpy, the name score's shortcuts, and hits
built only when returned."""

from __future__ import annotations

import itertools
import random
import string
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
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
    phonetic_key,
    token_steps,
)
from compliance.screening.scoring import _names_differ, missing_weight, score_name, spelt_by
from compliance.screening.screener import _least_missing, _listed_bound
from compliance.screening.similarity import (
    letter_similarities,
    letter_similarity,
    token_similarities,
    token_similarity,
    token_similarity_array,
)


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
    # what the cache shares between queries, and the index's own arrays, cannot be written
    shared: list[npt.NDArray[Any]] = [*index._pairs.values(), *index._single.values()]
    shared += [index._pair_keys_np, index._pair_recs_np]
    assert shared and not any(values.flags.writeable for values in shared)
    with pytest.raises(ValueError, match="read-only"):
        index._pair_recs_np[0] = 1


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


def test_weights_the_scoring_shortcuts_cannot_hold_for_are_refused() -> None:
    """A fully missing word weighs 1, and a left-out second surname is a light last name:
    heavier middle names or second surnames would make the bounds lose hits silently."""
    with pytest.raises(ValueError, match="middle_token_weight"):
        ScreeningConfig(middle_token_weight=1.5)
    with pytest.raises(ValueError, match="second surname"):
        ScreeningConfig(second_surname_weight=0.5, last_token_weight=0.4)
    ScreeningConfig(second_surname_weight=0.5, max_middle_weight=0.4, last_token_weight=0.4)


@pytest.mark.parametrize(
    "config",
    [
        ScreeningConfig(),
        # middle words heavier than the ends: the ends first would not leave the least
        ScreeningConfig(
            first_token_weight=0.2,
            last_token_weight=0.25,
            second_surname_weight=0.2,
            max_middle_weight=5.0,
        ),
    ],
)
def test_the_least_missing_weight_by_words_matched_is_the_least_of_every_choice(
    config: ScreeningConfig,
) -> None:
    """The bound of a listed name with few words among the spellings takes, for ``m`` words
    matched, the least missing weight of the screened name: checked against every choice of
    ``m`` of the words that can match."""
    rng = random.Random(20261206)
    for _ in range(300):
        count = rng.randrange(1, 8)
        alive = {i for i in range(count) if rng.random() < 0.8} or {0}
        least = _least_missing(count, alive, config)
        assert len(least) == len(alive) + 1
        for m in range(len(alive) + 1):
            every = min(
                missing_weight(count, set(chosen), config, strict=False)
                for chosen in itertools.combinations(sorted(alive), m)
            )
            assert least[m] == pytest.approx(every), (count, alive, m)


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


def test_whether_a_spelling_by_consonants_is_close_enough_is_what_ranking_them_gives(
    bundled_screener: Screener,
) -> None:
    """Two words in Arabic letters read as one ask only whether some listed spelling is
    close enough by its consonants: the answer ranking all of them would give."""
    index = bundled_screener.index
    seed = 20261206
    print(f"seed {seed}")
    rng = random.Random(seed)
    words = rng.sample(index.vocab_tokens, 300)
    words += ["".join(rng.choices("abdhklmnrstvyz", k=rng.randint(2, 9))) for _ in range(300)]
    words += ["muhammadvly", "rhmtallah", "thaha", "ashrf", "x"]
    reached = 0
    for word in words:
        for least in (0.0, 0.5, 0.72, 0.75, 0.78, 0.8, 0.82, 0.85, 0.9, 0.95):
            expected = any(sim >= least for sim in index.expand_skeleton(word, 1).values())
            assert index.skeleton_spelling_reaches(word, least) == expected, (word, least)
            reached += expected
    assert reached > 300  # many words have spellings by their consonants, some do not


def _most_common(found: list[list[int]], limit: int) -> list[int]:
    counts: Counter[int] = Counter()
    for records in found:
        counts.update(records)
    return [rec for rec, _ in counts.most_common(limit)]


@pytest.mark.parametrize("vector_from", [0, 10**9])
def test_the_records_found_most_often_come_first_and_those_found_as_often_in_found_order(
    monkeypatch: pytest.MonkeyPatch, vector_from: int
) -> None:
    """Counting the records retrieval found, with numpy or with a Counter (whichever is
    quicker for the number found), ranks them as ``Counter.most_common`` does: most found
    first, ties in the order first found."""
    monkeypatch.setattr(index_module, "_VECTOR_COUNT", vector_from)
    seed = 20261207
    print(f"seed {seed}")
    rng = random.Random(seed)
    for _ in range(2000):
        spread = rng.choice([3, 40, 5000])
        found = [
            sorted(rng.randrange(spread) for _ in range(rng.randrange(0, 400)))
            for _ in range(rng.randrange(0, 6))
        ]
        limit = rng.choice([1, 7, 60, 10**6])
        arrays = [np.array(records, dtype=np.uint32) for records in found]
        assert index_module._most_found(arrays, limit) == _most_common(found, limit)


def _plain_pair_postings(
    index: ScreeningIndex, first: tuple[int, ...], second: tuple[int, ...], cap: int
) -> list[int]:
    records: list[int] = []
    for x, a in enumerate(first):
        for y, b in enumerate(second):
            if a != b:
                records.extend(index._postings(a, b, cap >> min(x + y, 5)))
    return records


@pytest.mark.parametrize("vector_from", [0, 10**9])
def test_the_postings_of_pairs_of_spellings_are_those_looked_up_one_pair_at_a_time(
    bundled_screener: Screener, monkeypatch: pytest.MonkeyPatch, vector_from: int
) -> None:
    """All pairs of spellings of several pairs of query words looked up at once (in one
    vectorised search) or one by one give, per pair of words, the records each pair of
    spellings gives on its own, in order, with the cap of each rank."""
    monkeypatch.setattr(index_module, "_VECTOR_PAIRS", vector_from)
    index = bundled_screener.index
    frequency = Counter(t for tokens in index.rec_tokens for t in tokens.split())
    common = [index.vocab[t] for t, _ in frequency.most_common(300)]
    seed = 20261208
    print(f"seed {seed}")
    rng = random.Random(seed)
    found = 0
    for _ in range(300):
        pairs = [
            (
                tuple(rng.sample(common, rng.randint(1, 10))),
                tuple(rng.sample(common, rng.randint(1, 10))),
            )
            for _ in range(rng.randint(1, 15))
        ]
        cap = rng.choice([0, 1, 7, 64, 200, 4000])
        looked = index._lookup_pairs(pairs, cap)
        assert len(looked) == len(pairs)
        for (first, second), records in zip(pairs, looked, strict=True):
            plain = _plain_pair_postings(index, first, second, cap)
            assert records.tolist() == plain
            found += len(plain)
    assert found > 1000  # the pairs were listed ones, not only misses


@pytest.mark.parametrize(("vector_count", "vector_pairs"), [(0, 0), (10**9, 10**9)])
def test_names_screened_with_numpy_counting_and_lookups_get_the_hits_of_plain_ones(
    bundled_screener: Screener,
    monkeypatch: pytest.MonkeyPatch,
    vector_count: int,
    vector_pairs: int,
) -> None:
    index = bundled_screener.index
    seed = 20261209
    print(f"seed {seed}")
    names = _queries(index, random.Random(seed), 150)
    names += ["محمد ابراهیم عمری", "عبد الستار عبد المنان", "Establishment", "Al-Haramain"]
    monkeypatch.setattr(index_module, "_VECTOR_COUNT", 200)
    monkeypatch.setattr(index_module, "_VECTOR_PAIRS", 40)
    index._pairs.clear()
    expected = [bundled_screener.screen(name, max_hits=60) for name in names]
    monkeypatch.setattr(index_module, "_VECTOR_COUNT", vector_count)
    monkeypatch.setattr(index_module, "_VECTOR_PAIRS", vector_pairs)
    index._pairs.clear()
    assert [bundled_screener.screen(name, max_hits=60) for name in names] == expected
    assert sum(map(len, expected)) > 50


def _plain_missing_weight(
    count: int, used: set[int], config: ScreeningConfig, strict: bool, soft_last: bool
) -> float:
    ends = middles = 0.0
    for i in range(count):
        if i in used:
            continue
        if count == 1:
            weight = 1.0
        elif i == 0:
            weight = config.first_token_weight
        elif i == count - 1:
            weight = config.last_token_weight
        else:
            weight = 1.0 if strict else config.middle_token_weight
        if soft_last and i == count - 1 and i - 1 in used:
            middles += config.second_surname_weight
        elif 0 < i < count - 1 and not strict:
            middles += weight
        else:
            ends += weight
    return ends + min(middles, config.max_middle_weight)


def test_the_weight_of_missing_words_is_that_of_each_word_by_its_position() -> None:
    config = ScreeningConfig()
    for count in range(1, 8):
        for mask in range(1 << count):
            used = {i for i in range(count) if mask >> i & 1}
            for strict in (False, True):
                for soft_last in (False, True):
                    assert missing_weight(
                        count, used, config, strict, soft_last
                    ) == _plain_missing_weight(count, used, config, strict, soft_last), (
                        count,
                        used,
                        strict,
                        soft_last,
                    )


def _plain_pairs(
    query: Sequence[str],
    expansions: Sequence[Mapping[str, float]],
    listed: Sequence[str],
    config: ScreeningConfig,
    organisation: bool,
) -> list[tuple[float, int, int]]:
    """The similar pairs of words of ``score_name``, every pair of words looked at."""
    pairs = []
    for i, q in enumerate(query):
        for j, c in enumerate(listed):
            sim = expansions[i].get(c, 0.0)
            if (
                not sim
                and (len(q) == 1 or len(c) == 1)
                and q[0] == c[0]
                and not organisation
                and not (len(q) == 1 and j == len(listed) - 1 and len(listed) > 1)
                and not (len(c) == 1 and i == len(query) - 1 and len(query) > 1)
            ):
                sim = 0.9
            elif organisation and 0 < sim < 1.0 and min(len(q), len(c)) <= 5:
                sim = 0.0
            if sim:
                pairs.append((sim, i, j))
    return sorted(pairs, reverse=True)


def test_a_name_score_aligns_the_pairs_of_words_every_pair_looked_at_gives() -> None:
    """Names with and without initials, of persons and of organisations: the words
    ``score_name`` aligns are the best of all pairs of words, whichever shortcut it took."""
    config = ScreeningConfig()
    seed = 20261210
    print(f"seed {seed}")
    rng = random.Random(seed)
    words = ["anna", "maria", "al", "ali", "alia", "ivan", "ivanov", "oil", "co", "a", "m", "i"]
    compared = 0
    for _ in range(4000):
        query = tuple(rng.choice(words) for _ in range(rng.randint(1, 4)))
        listed = [rng.choice(words) for _ in range(rng.randint(1, 4))]
        expansions = [
            {w: rng.choice([1.0, 0.95, 0.85]) for w in [*rng.sample(words, 3), q] if len(w) > 1}
            for q in query
        ]
        organisation = rng.random() < 0.3
        score = score_name(query, expansions, listed, config, organisation=organisation)
        assert score is not None
        pairs = _plain_pairs(query, expansions, listed, config, organisation)
        used_q: set[int] = set()
        used_c: set[int] = set()
        aligned = []
        by_position: list[tuple[float, int, int]] = []
        total = 0.0
        for sim, i, j in pairs:
            if i not in used_q and j not in used_c:
                used_q.add(i)
                used_c.add(j)
                aligned.append((query[i], listed[j], round(sim, 3)))
                by_position.append((sim, i, j))
                total += sim
        assert [(m.query_token, m.listed_token, m.similarity) for m in score.matched] == aligned
        if aligned:  # no word common: missing middle words weigh little, unless a
            # different word stands in the same place on each side (tested on its own)
            differs = _names_differ(query, listed, by_position, used_q, used_c, False)
            missing_q = _plain_missing_weight(len(query), used_q, config, differs, False)
            missing_c = _plain_missing_weight(len(listed), used_c, config, differs, False)
            coverage = total / (len(aligned) + missing_q) + total / (len(aligned) + missing_c)
            assert score.score == 100.0 * coverage / 2
        known = any(len(c) == 1 for c in listed)
        told = score_name(
            query, expansions, listed, config, organisation=organisation, listed_initials=known
        )
        assert told == score
        by_spelling = spelt_by(expansions)
        for known_or_not in (known, None):
            assert (
                score_name(
                    query,
                    expansions,
                    listed,
                    config,
                    organisation=organisation,
                    listed_initials=known_or_not,
                    spelt=by_spelling,
                )
                == score
            )
        compared += bool(aligned)
    assert compared > 2000


def test_a_customers_cleared_hits_give_way_to_the_next_best_up_to_the_hits_asked(
    bundled_screener: Screener,
) -> None:
    """Hits are built only as far as they are returned: with clearances, the hits kept are
    the best not cleared, as many as asked, as if every hit had been built and filtered."""
    name = "AL-TIKRITI HASAN IBRAHIM SABAWI"
    every = bundled_screener.screen(name, max_hits=60)
    assert len(every) > 10
    cleared = {every[0].entity_id, every[2].entity_id, every[5].entity_id}
    calls: list[str] = []

    def is_cleared(customer_id: str, entity_id: str, entity_version: str) -> bool:
        calls.append(entity_id)
        assert entity_version == next(h for h in every if h.entity_id == entity_id).entity_version
        return customer_id == "c-1" and entity_id in cleared

    screener = Screener(config=bundled_screener.config, is_cleared=is_cleared)
    screener._index = bundled_screener.index
    kept = [h for h in every if h.entity_id not in cleared]
    for asked in (1, 3, 5, 20, 60):
        assert screener.screen(name, customer_id="c-1", max_hits=asked) == kept[:asked]
    assert screener.screen(name, customer_id="c-2", max_hits=4) == every[:4]
    assert screener.screen(name, customer_id="c-1", max_hits=-2) == kept[:-2]
    assert screener.screen(name, customer_id="c-1", max_hits=0) == []


def test_tokens_compared_together_are_as_alike_as_compared_one_pair_at_a_time() -> None:
    """Many listed spellings are compared with a screened word in one rapidfuzz call: each
    similarity is the one ``token_similarity`` and ``letter_similarity`` give for the pair."""
    seed = 20261211
    print(f"seed {seed}")
    rng = random.Random(seed)
    letters = "abdehiklmnorstuyz"
    words = ["".join(rng.choices(letters, k=rng.randint(1, 11))) for _ in range(400)]
    words += ["muhammad", "mohammed", "kais", "qais", "omar", "umar", "atar", "atari", "a"]
    for _ in range(300):
        word = rng.choice(words)
        others = rng.sample(words, rng.choice([1, 5, 30, 120]))
        alike = [rng.random() < 0.7 for _ in others]
        assert token_similarities(word, others, alike) == [
            token_similarity(word, other, sound_alike=a)
            for other, a in zip(others, alike, strict=True)
        ]
        assert letter_similarities(word, others) == [letter_similarity(word, o) for o in others]
        # and with numpy, the sound keys given
        key = phonetic_key(word)
        same = np.array(
            [len(key) >= 2 and phonetic_key(other) == key for other in others], np.bool_
        )
        assert token_similarity_array(word, others, np.array(alike, np.bool_), same).tolist() == [
            token_similarity(word, other, sound_alike=a)
            for other, a in zip(others, alike, strict=True)
        ]
    # spellings that only their sound key makes alike ("kais" / "qais") or not alike
    sounding = ["qais", "kais", "umar", "omar", "hiroshi", "hersi", "dubois", "dubaysi"]
    for word in sounding:
        key = phonetic_key(word)
        same = np.array([phonetic_key(other) == key for other in sounding], np.bool_)
        for all_alike in (True, False):
            flags = np.full(len(sounding), all_alike, np.bool_)
            found = token_similarity_array(word, sounding, flags, same).tolist()
            assert found == [
                token_similarity(word, other, sound_alike=all_alike) for other in sounding
            ]
    yes = np.ones(1, np.bool_)
    assert token_similarity_array("kais", ["qais"], yes, yes).tolist() == [0.8]  # by sound
    assert token_similarity_array("kais", ["qais"], yes, ~yes).tolist() == [0.75]
