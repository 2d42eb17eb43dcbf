"""Scoring one candidate name against the screened name, and the secondary factors.

The name score aligns tokens one to one (any order), each pair scored by
``similarity.token_similarity``. Unmatched tokens count against the match by position (see
``ScreeningConfig``: a missing given name weighs most, a missing middle name little). The
score is the mean of how much of each name the other explains, times 100.
"""

from __future__ import annotations

from collections.abc import Collection, Container, Mapping, Sequence
from dataclasses import dataclass

from compliance.screening.config import ScreeningConfig
from compliance.screening.hits import TokenMatch
from compliance.screening.model import DateOfBirth, EntityType, PartialDate
from compliance.screening.normalise import consonant_skeleton

_INITIAL_SIMILARITY = 0.9


@dataclass(frozen=True, slots=True)
class NameScore:
    score: float
    query_coverage: float
    listed_coverage: float
    matched: tuple[TokenMatch, ...]
    unmatched_query: tuple[str, ...]
    unmatched_listed: tuple[str, ...]
    common_only: bool  # every shared token is a common name: missing middle names count


def missing_weight(
    count: int, used: set[int], config: ScreeningConfig, strict: bool, soft_last: bool = False
) -> float:
    """How much the words of a name of ``count`` words not in ``used`` (positions) weigh:
    a missing first word ``first_token_weight``, a last one ``last_token_weight`` (a
    second family name, with the word before it matched, ``second_surname_weight`` among
    the middle ones when ``soft_last``), a middle one ``middle_token_weight``, the middle
    ones together at most ``max_middle_weight`` (``strict``: 1 each, with no bound)."""
    ends = middles = 0.0
    if count == 1:  # a one-word name: its word weighs 1
        if 0 not in used:
            if soft_last and -1 in used:
                middles += config.second_surname_weight
            else:
                ends += 1.0
        return ends + min(middles, config.max_middle_weight)
    last = count - 1
    for i in range(count):
        if i in used:
            continue
        if i == 0:
            ends += config.first_token_weight
        elif i == last:
            if soft_last and i - 1 in used:
                middles += config.second_surname_weight
            else:
                ends += config.last_token_weight
        elif strict:
            ends += 1.0
        else:
            middles += config.middle_token_weight
    return ends + min(middles, config.max_middle_weight)


def _same_consonants(query: str, listed: str) -> bool:
    skeleton = consonant_skeleton(listed)
    return len(skeleton) >= 3 and skeleton == consonant_skeleton(query)


def _names_differ(
    query: Sequence[str],
    listed: Sequence[str],
    aligned: Sequence[tuple[float, int, int]],
    used_q: set[int],
    used_c: set[int],
    second_surname: bool,
) -> bool:
    """Does each name have a word the other lacks in the same place, between the same
    matched words ("Abu [Hafs] al-Masri" / "Abu [Hamza] al-Masri")? Those are two different
    names, not one left out. A listed second family name, and a word that begins the other
    ("Ilyas" / "Ilyasovich", a patronymic), are not."""
    if len(used_q) == len(query) or len(used_c) == len(listed):
        return False
    to_listed = {i: j for _, i, j in aligned}

    def slot(
        position: int, matched: Sequence[int], where: Mapping[int, int] | None
    ) -> frozenset[int | None]:
        """The listed positions of the matched words either side (in either order: the
        names may run in opposite orders)."""
        before = max((k for k in matched if k < position), default=None)
        after = min((k for k in matched if k > position), default=None)
        if where is None:
            return frozenset((before, after))
        return frozenset(
            (
                where[before] if before is not None else None,
                where[after] if after is not None else None,
            )
        )

    slots: dict[frozenset[int | None], list[str]] = {}
    for i, word in enumerate(query):
        if i not in used_q:
            slots.setdefault(slot(i, list(to_listed), to_listed), []).append(word)
    matched_listed = list(to_listed.values())
    for j, word in enumerate(listed):
        if j in used_c or (second_surname and j == len(listed) - 1):
            continue
        for other in slots.get(slot(j, matched_listed, None), ()):
            if not (word.startswith(other) or other.startswith(word)):
                return True
    return False


def score_name(
    query: Sequence[str],
    expansions: Sequence[Mapping[str, float]],
    listed: Sequence[str],
    config: ScreeningConfig,
    common: Container[str] = frozenset(),
    *,
    at_least: float | None = None,
    organisation: bool = False,
    second_surname: bool = False,
    abjad: bool = False,
    listed_initials: bool | None = None,
    spelt: Mapping[str, Sequence[tuple[float, int]]] | None = None,
) -> NameScore | None:
    """``expansions[i]`` maps listed-name tokens similar to ``query[i]`` to their similarity
    (already computed against the index vocabulary during retrieval). When every shared
    token is in ``common`` ("Maria", "Garcia"), sharing them is weak evidence, and missing
    middle names weigh as much as first or last names. With ``at_least``, a score below it
    gives None (most candidates: their parts are never built).

    ``organisation``: a listed organisation or vessel, whose short words are distinctive
    ("ALFA" is not "ALTA"): words of ``short_word_length`` letters or fewer must agree
    exactly. ``second_surname``: the listed person's last token is
    a second family name ("GARCIA MARQUEZ, Gabriel"); left out, it weighs like a middle
    name (unless the names shared are all common ones). ``listed_initials``: whether a
    listed token is a single letter, when the caller knows (found here otherwise).
    ``spelt``: ``spelt_by(expansions)``, when the caller scores many names with the same
    expansions (each listed word then looks up the query words it spells at once)."""
    pairs: list[tuple[float, int, int]] = []
    last_q = len(query) - 1
    last_c = len(listed) - 1
    if listed_initials is None and not organisation:
        listed_initials = min(map(len, listed), default=2) == 1
    if spelt is not None and (
        organisation or not (listed_initials or min(map(len, query), default=2) == 1)
    ):
        # no initial to match: the pairs are those of the listed words' spellings
        short = config.short_word_length if organisation else 0
        for j, c in enumerate(listed):
            for sim, i in spelt.get(c, ()):
                if (
                    0 < sim < 1.0
                    and min(len(query[i]), len(c)) <= short
                    and not (abjad and _same_consonants(query[i], c))
                ):
                    continue  # a short word of an organisation spelt otherwise
                pairs.append((sim, i, j))
    elif organisation:  # no initials; short words agree exactly or not at all
        short = config.short_word_length
        for i, q in enumerate(query):
            similar = expansions[i]
            for j, c in enumerate(listed):
                sim = similar.get(c, 0.0)
                # in Arabic letters, which write no short vowels, the same three consonants
                # or more ("tark" / "tarik"); "nar" is not "noor"
                if (
                    0 < sim < 1.0
                    and min(len(q), len(c)) <= short
                    and not (abjad and _same_consonants(q, c))
                ):
                    continue
                if sim:
                    pairs.append((sim, i, j))
    else:
        for i, q in enumerate(query):
            similar = expansions[i]
            initial = len(q) == 1
            if not (initial or listed_initials):
                for j, c in enumerate(listed):
                    if sim := similar.get(c, 0.0):
                        pairs.append((sim, i, j))
                continue
            for j, c in enumerate(listed):
                sim = similar.get(c, 0.0)
                if (
                    not sim
                    and (initial or len(c) == 1)
                    and q[0] == c[0]
                    # an initial stands for a given name, never for the other name's family
                    # name
                    and not (initial and j == last_c and last_c > 0)
                    and not (len(c) == 1 and i == last_q and last_q > 0)
                ):
                    sim = _INITIAL_SIMILARITY  # "V. Putin" / "Vladimir Putin"
                if sim:
                    pairs.append((sim, i, j))
    pairs.sort(reverse=True)
    used_q: set[int] = set()
    used_c: set[int] = set()
    aligned: list[tuple[float, int, int]] = []
    total = 0.0
    for pair in pairs:
        sim, i, j = pair
        if i in used_q or j in used_c:
            continue
        used_q.add(i)
        used_c.add(j)
        aligned.append(pair)
        total += sim
    strict = bool(aligned) and all(listed[j] in common or query[i] in common for _, i, j in aligned)
    soft_last = second_surname and not strict
    q_cov, c_cov = _coverages(query, listed, used_q, used_c, total, config, strict, soft_last)
    if at_least is not None and 100.0 * (q_cov + c_cov) / 2 < at_least:
        return None
    # two different names in one place make every missing word weigh fully: only a lower
    # score, so looked for only when the score so far could be a hit
    if (
        not strict
        and aligned
        and _names_differ(query, listed, aligned, used_q, used_c, second_surname)
    ):
        q_cov, c_cov = _coverages(query, listed, used_q, used_c, total, config, True, soft_last)
        if at_least is not None and 100.0 * (q_cov + c_cov) / 2 < at_least:
            return None
    score = 100.0 * (q_cov + c_cov) / 2
    return NameScore(
        score=score,
        query_coverage=q_cov,
        listed_coverage=c_cov,
        matched=tuple(TokenMatch(query[i], listed[j], round(sim, 3)) for sim, i, j in aligned),
        unmatched_query=tuple(q for i, q in enumerate(query) if i not in used_q),
        unmatched_listed=tuple(c for j, c in enumerate(listed) if j not in used_c),
        common_only=strict,
    )


def _coverages(
    query: Sequence[str],
    listed: Sequence[str],
    used_q: set[int],
    used_c: set[int],
    total: float,
    config: ScreeningConfig,
    strict: bool,
    soft_last: bool,
) -> tuple[float, float]:
    """How much of each name the aligned words explain (0 when none are aligned); ``strict``
    and ``soft_last`` as ``missing_weight`` takes them."""
    if not used_q:
        return 0.0, 0.0
    missing_q = missing_weight(len(query), used_q, config, strict)
    missing_c = missing_weight(len(listed), used_c, config, strict, soft_last)
    return total / (len(used_q) + missing_q), total / (len(used_c) + missing_c)


def spelt_by(
    expansions: Sequence[Mapping[str, float]],
) -> dict[str, list[tuple[float, int]]]:
    """For each listed spelling in ``expansions``, (similarity, position) of the query
    words it spells (the similarities that are not 0)."""
    found: dict[str, list[tuple[float, int]]] = {}
    for i, similar in enumerate(expansions):
        for token, sim in similar.items():
            if sim:
                found.setdefault(token, []).append((sim, i))
    return found


def _dob_relation(query: PartialDate, dob: DateOfBirth, tolerance: int) -> tuple[int, str]:
    """(rank, description): 3 exact, 2 same year / within range, 1 near or undecidable,
    0 clear mismatch."""
    slack = 2 if dob.circa else 0
    low, high = dob.first_year - slack, dob.last_year + slack
    start = dob.start
    if dob.end is None and not dob.circa and query.is_full and start.is_full:
        if (query.month, query.day) == (start.month, start.day) and query.year == start.year:
            return 3, f"exact ({start})"
        if query.year == start.year and (query.month, query.day) == (start.day, start.month):
            return 2, f"same date with day and month swapped ({start})"
        if query.year == start.year:
            return 1, f"same year, different day ({start})"
    if low <= query.year <= high:
        if (
            dob.end is None
            and query.month is not None
            and start.month is not None
            and query.month != start.month
        ):
            return 1, f"same year, different month ({dob})"
        return 2, f"year agrees ({dob})"
    distance = min(abs(query.year - low), abs(query.year - high))
    if distance <= tolerance:
        return 1, f"{distance} year(s) apart ({dob})"
    return 0, f"{distance} years apart ({dob})"


def dob_agrees_exactly(query: PartialDate | None, listed: Sequence[DateOfBirth]) -> bool:
    """The full screened date of birth is one the listing gives, day for day, and not the
    1st of January, which lists and forms write when only the year is known."""
    return (
        query is not None
        and (query.month, query.day) != (1, 1)
        and any(_dob_relation(query, d, 0)[0] == 3 for d in listed)
    )


def dob_factor(
    query: PartialDate | None, listed: Sequence[DateOfBirth], config: ScreeningConfig
) -> tuple[float, str | None]:
    if query is None or not listed:
        return 0.0, None
    rank, text = max(_dob_relation(query, d, config.dob_year_tolerance) for d in listed)
    points = {
        3: config.dob_exact_bonus,
        2: config.dob_year_bonus,
        1: 0.0,
        0: -config.dob_mismatch_penalty,
    }[rank]
    return points, f"date of birth {query}: {text}"


def nationality_factor(
    query: Collection[str],
    nationalities: Collection[str],
    countries: Collection[str],
    config: ScreeningConfig,
) -> tuple[float, str | None]:
    if not query:
        return 0.0, None
    shared = sorted(set(query) & (set(nationalities) | set(countries)))
    if shared:
        return config.nationality_match_bonus, f"country agrees ({', '.join(shared)})"
    if nationalities:
        return (
            -config.nationality_mismatch_penalty,
            f"nationality differs (screened {', '.join(sorted(query))}, "
            f"listed {', '.join(nationalities)})",
        )
    return 0.0, None


def number_factor(
    query: Sequence[str], listed: Sequence[str], listed_type: EntityType, config: ScreeningConfig
) -> tuple[float, str | None]:
    """Numbers in an organisation's or a vessel's name are distinctive: "OCEAN STAR 2" (or
    "II") is neither "OCEAN STAR 3" nor "OCEAN STAR"."""
    if listed_type is EntityType.PERSON:
        return 0.0, None
    mine = sorted(t for t in query if t.isdigit())
    theirs = sorted(t for t in listed if t.isdigit())
    if mine == theirs:
        return 0.0, None
    return (
        -config.number_mismatch_penalty,
        f"numbers differ (screened {' '.join(mine) or 'none'}, "
        f"listed {' '.join(theirs) or 'none'})",
    )


def entity_type_factor(
    query: EntityType | None, listed: EntityType, config: ScreeningConfig
) -> tuple[float, str | None]:
    if query is None or query is EntityType.UNKNOWN or listed is EntityType.UNKNOWN:
        return 0.0, None
    if (query is EntityType.PERSON) != (listed is EntityType.PERSON):
        return (
            -config.entity_type_mismatch_penalty,
            f"type differs (screened {query.value}, listed {listed.value})",
        )
    return 0.0, None
