"""The screener: holds the current index, screens names, swaps in new lists atomically."""

from __future__ import annotations

import functools
import inspect
import re
import threading
from collections import Counter
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Protocol

from rapidfuzz import fuzz

from compliance.screening.config import ScreeningConfig
from compliance.screening.countries import normalise_country
from compliance.screening.customers import customer_version
from compliance.screening.dates import coerce_query_date
from compliance.screening.hits import Hit, ScoreBreakdown, TokenMatch
from compliance.screening.index import ENTITY_TYPES, ListInfo, ScreeningIndex
from compliance.screening.model import AliasType, EntityType, PartialDate, SanctionsList
from compliance.screening.normalise import (
    FILLER_WORDS,
    GLUED_LEGAL_FORMS,
    MERGED_ABD,
    VARIANTS,
    consonant_skeleton,
    legal_forms,
    normalise_name,
    normalise_name_both_ways,
)
from compliance.screening.scoring import (
    NameScore,
    dob_agrees_exactly,
    dob_factor,
    entity_type_factor,
    missing_weight,
    nationality_factor,
    number_factor,
    score_name,
    spelt_by,
)
from compliance.screening.similarity import letter_similarity
from compliance.screening.translit import has_abjad

_FALLBACK_BELOW = 5  # fewer candidates sharing two words: look for one shared rare word
_FALLBACK_SIMILARITY = 0.85
_MAX_RARE = 25  # records found by one shared word that are scored, most words shared first
_RARE_POSTINGS = 12  # a word in at most this many names: its names are always scored
_MAX_READINGS = 4
_ABJAD_PAIR_EXPANSIONS = 10  # spellings per token looked up for a name in Arabic letters
# Listed spellings kept per word of a name in Arabic letters: its consonants fit many
# ("rvyn": "rouine", "rayan", "ruwayn" ...); retrieval looks up only the first few, and
# scoring a candidate finds its own spelling among all of them.
_ABJAD_SPELLINGS = 48
_ABJAD_JOIN_SIMILARITY = 0.9
_COMPOUND_ENDS = frozenset({"lh", "dn"})  # the consonants of "allah" and "din" in Arabic letters
_ARTICLES = frozenset({"al", "el"})  # "Alkhatib" for "al-Khatib"
# Two screened words joined make a listed word of at least this many letters, spelt a little
# differently ("tsorsecurity" / "zorsecurity"): shorter joined words match by chance.
_MIN_FUZZY_JOIN = 8
_FUZZY_JOIN_SIMILARITY = 0.8
# Particles of Romance and Germanic names, longest first: "del" before "de" (not "la", "le",
# "lo": "Lacroix" is no particle and "croix").
_JOINED_PARTICLES = (
    "della",
    "das",
    "del",
    "den",
    "der",
    "dos",
    "van",
    "von",
    "da",
    "de",
    "di",
    "du",
)
_ARTICLE_WRITTEN = re.compile(r"(?i)(?:^|[^a-z])[ae]l(?:[^a-z]|$)")  # "al-Arifi", "El Sayed"
_GLUED_LONGEST_FIRST = sorted(GLUED_LEGAL_FORMS, key=lambda f: (-len(f), f))


@dataclass(frozen=True, slots=True)
class _Reading:
    """One way of reading the screened name into tokens, with each token's listed spellings."""

    tokens: tuple[str, ...]
    expansions: list[dict[str, float]]
    how: str  # how this reading differs from the plain one ("" for the plain one)
    abjad: bool  # romanised from Arabic, Persian or Hebrew letters
    # listed spellings of the tokens this reading changed: a listed name with none of them
    # scores no better under this reading than under the plain one
    changed: frozenset[str] = frozenset()
    spellings: frozenset[str] = frozenset()  # every listed spelling of every token
    has_initial: bool = False
    # the best name score any listed name could reach under this reading (``_name_bound``)
    bound: float = 100.0
    alive: int = 0  # words that can match a listed word at all
    # the least missing weight of the reading's words when ``m`` of them match, by ``m``
    # (at ``alive``: the missing weight of the words that cannot match)
    least_missing: tuple[float, ...] = (0.0,)
    # the bound when a single word matches: below the minimum name score, a listed name
    # with one word among the reading's spellings is never a hit
    one_word: float = 100.0
    # a legal form set aside from a name of unknown kind ("ACME SA"): compared only with
    # listed companies, since a person's surname can be spelt like one ("Sabrina Sá")
    companies_only: bool = False
    # a reading that changed words scores only listed names with one of its changed
    # spellings (the others score no better than under the plain reading)
    narrowed: bool = False


def _least_missing(count: int, alive: set[int], config: ScreeningConfig) -> tuple[float, ...]:
    """For each number ``m`` of the ``alive`` words matched, the least missing weight of
    the name's words (``missing_weight``, not strict): the heaviest ends matched, or fewer
    ends and more middle words, whichever leaves less."""
    return _least_missing_of(count, frozenset(alive), config)


@functools.lru_cache(maxsize=4096)
def _least_missing_of(
    count: int, alive: frozenset[int], config: ScreeningConfig
) -> tuple[float, ...]:
    last = count - 1
    ends = sorted(
        (i for i in alive if i in (0, last)),
        key=lambda i: config.first_token_weight if i == 0 else config.last_token_weight,
        reverse=True,
    )
    middles = sorted(i for i in alive if i not in (0, last))
    least = []
    for m in range(len(alive) + 1):
        options = [
            missing_weight(count, {*ends[:e], *middles[: m - e]}, config, strict=False)
            for e in range(len(ends) + 1)
            if 0 <= m - e <= len(middles)
        ]
        least.append(min(options))
    return tuple(least)


def _name_bound(
    tokens: Sequence[str], expansions: Sequence[Mapping[str, float]], config: ScreeningConfig
) -> tuple[float, int, tuple[float, ...], float]:
    """An upper bound of ``score_name`` for any listed name under this reading, with the
    number of its words that can match anything, the least missing weight of its words by
    how many match (``_least_missing``), and the bound when only one word matches.

    A screened word can match a listed word only through its listed spellings or an
    initial: a word with no listed spelling, more than one letter long and last in the
    name (an initial never stands for the family name) matches nothing, so it always
    counts as missing ("Anna Maria Halvorsen00042": at best 83). The listed name is at
    best fully explained (coverage 1), and each matched word at best alike (1.0); missing
    weights only grow as fewer words match."""
    count = len(tokens)
    alive = {
        i
        for i, token in enumerate(tokens)
        if expansions[i] or len(token) == 1 or (count > 1 and i < count - 1)
    }
    if not alive:
        return 0.0, 0, (float(count),), 0.0
    least = _least_missing(count, alive, config)
    bound = 100.0 * (len(alive) / (len(alive) + least[-1]) + 1.0) / 2
    return bound, len(alive), least, 100.0 * (1.0 / (1.0 + least[1]) + 1.0) / 2


def _may_match_two(listed: Sequence[str], spellings: frozenset[str]) -> bool:
    """Could two words of this listed name match (two among the spellings, or an initial)?
    A name found by one shared word must, when one word cannot make a hit."""
    found = 0
    for token in listed:
        if token in spellings or len(token) == 1:
            found += 1
            if found >= 2:
                return True
    return False


def _listed_bound(
    reading: _Reading, listed: Sequence[str], second_surname: bool, config: ScreeningConfig
) -> float:
    """An upper bound of ``score_name`` of this reading against one listed name, from which
    listed words are among the reading's listed spellings (without initials on either
    side, the only other way to match)."""
    if reading.has_initial:
        return 100.0
    return _bound_of_used(reading, listed, _spelt(reading, listed), second_surname, config)


def _spelt(reading: _Reading, listed: Sequence[str]) -> set[int]:
    """The listed words among the reading's spellings, or initials (as positions)."""
    spellings = reading.spellings
    return {j for j, token in enumerate(listed) if token in spellings or len(token) == 1}


def _bound_of_used(
    reading: _Reading,
    listed: Sequence[str],
    used: set[int],
    second_surname: bool,
    config: ScreeningConfig,
) -> float:
    if not used:
        return 0.0
    # at most as many words matched as the listed name has among the spellings: the
    # screened name's other words are missing
    matched = min(len(used), reading.alive)
    listed_missing = missing_weight(
        len(listed), used, config, strict=False, soft_last=second_surname
    )
    return 50.0 * (
        matched / (matched + reading.least_missing[matched])
        + len(used) / (len(used) + listed_missing)
    )


def _alternatives(
    index: ScreeningIndex,
    tokens: tuple[str, ...],
    abjad: bool,
    *,
    company: bool = False,
    article_written: bool = False,
) -> list[tuple[tuple[str, ...], str]]:
    """The tokens, then readings with two neighbouring words joined or one word split where
    the result is a listed word (or, for an Arabic-script name, has listed consonants; or,
    for a joined word of eight letters or more, a nearly listed spelling: "Poste Bank" for
    "POSTBANK"). For a company's name also a legal form written glued to a word
    ("KHAYBARCO") and a particle joined to the next word ("Deganado") set apart; when the
    name was written with an article ("al-Arifi") or in Arabic letters, a word found with
    the article joined as listed ("ALARIFI")."""
    found: list[tuple[tuple[str, ...], str]] = [(tokens, "")]
    vocab = index.vocab

    def listed_word(word: str, second: str) -> bool:
        if word in vocab:
            return True
        if not abjad:
            return False
        # two words in Arabic letters read as one listed word by its consonants: a compound
        # name ending in Allah or al-Din ("رحمت الله": Rahmatullah), or letters close
        # enough that a given name and a family name ("رها الوندی", Raha Alvandi) do not
        # make one ("Ruhinda") by chance
        least = 0.0 if consonant_skeleton(second) in _COMPOUND_ENDS else _ABJAD_JOIN_SIMILARITY
        return index.skeleton_spelling_reaches(word, least)

    if len(tokens) >= 3 and (whole := "".join(tokens)) in vocab:
        found.append(((whole,), f"screened words read as one, '{whole}'"))
    letters = [i for i, t in enumerate(tokens) if len(t) == 1]
    if len(letters) >= 2 and letters == list(range(letters[0], letters[-1] + 1)):
        joined = "".join(tokens[i] for i in letters)
        if joined in vocab:
            found.append(
                (
                    (*tokens[: letters[0]], joined, *tokens[letters[-1] + 1 :]),
                    f"single letters read as one word, '{joined}'",
                )
            )
    for i in range(len(tokens) - 1):
        joined = tokens[i] + tokens[i + 1]
        if len(tokens[i]) > 1 and len(tokens[i + 1]) > 1 and listed_word(joined, tokens[i + 1]):
            how = f"screened words '{tokens[i]} {tokens[i + 1]}' read as one, '{joined}'"
            found.append(((*tokens[:i], joined, *tokens[i + 2 :]), how))
        elif (
            len(joined) >= _MIN_FUZZY_JOIN
            and min(len(tokens[i]), len(tokens[i + 1])) >= 3
            # two names in their own right ("john smith") are two words
            and not (index.is_known_name(tokens[i]) and index.is_known_name(tokens[i + 1]))
            and (spelling := _joined_spelling(index, joined))
        ):
            how = (
                f"screened words '{tokens[i]} {tokens[i + 1]}' read as one, '{joined}', "
                f"a spelling of '{spelling}'"
            )
            found.append(((*tokens[:i], joined, *tokens[i + 2 :]), how))
    for i, token in enumerate(tokens):
        if (article_written or abjad) and len(token) >= 4 and token not in vocab:
            for article in sorted(_ARTICLES):  # "al-Arifi" (the article dropped) for "ALARIFI"
                if (joined := article + token) in vocab:
                    how = f"article joined as listed: '{token}' read as '{joined}'"
                    found.append(((*tokens[:i], joined, *tokens[i + 1 :]), how))
        if len(token) < 5:
            continue
        rest = token[2:]
        if (
            token[:2] in _ARTICLES
            and len(rest) >= 3
            and rest in vocab
            and not index.is_known_name(token)  # "elena" is not "el ena"
        ):
            how = f"article written joined: '{token}' read as '{token[:2]} {rest}'"
            found.append(((*tokens[:i], rest, *tokens[i + 1 :]), how))
            continue
        if company and (particle := _joined_particle(index, token)):
            rest = token[len(particle) :]
            how = f"particle written joined: '{token}' read as '{particle} {rest}'"
            found.append(((*tokens[:i], rest, *tokens[i + 1 :]), how))
            continue
        if index.is_known_name(token):  # "ahmad" is not "ah mad", "johnson" not "john son"
            continue
        # "Abd al-Sattar" as normalised, listed names alike ("abdulsattar"): read apart only
        # after "abdul" (a listed name's last word, not merged: "Muhammad ABDUL") or after
        # the name of God that follows it ("abdulrauf azhar")
        merged = token.startswith(MERGED_ABD)
        if company and (glued := _glued_legal_form(index, token)):
            head, form = glued
            how = f"legal form written joined: '{token}' read as '{head} {form}'"
            found.append(((*tokens[:i], head, *tokens[i + 1 :]), how))
            continue
        for k in range(2, len(token) - 1):
            if merged and k != len(MERGED_ABD) and k < len(MERGED_ABD) + 3:
                continue
            head, tail = VARIANTS.get(token[:k], token[:k]), VARIANTS.get(token[k:], token[k:])
            if not _part(index, head):
                continue
            if _part(index, tail) or tail in FILLER_WORDS:
                parts = (head, tail) if tail in vocab else (head,)
                how = f"screened word '{token}' read as '{head} {tail}'"
                found.append(((*tokens[:i], *parts, *tokens[i + 1 :]), how))
            elif len(tail) >= 5 and (linked := _linked_name(index, tail)):
                link, rest = linked
                compound = (head, link, rest) if link in vocab else (head, rest)
                how = f"screened word '{token}' read as '{head} {link} {rest}'"
                found.append(((*tokens[:i], *compound, *tokens[i + 1 :]), how))
    return found[:_MAX_READINGS]


# The linking syllables of Arabic compound names as romanised: Zia-ur-Rahman, Saif-ud-Din,
# Hizb-ul-Lah, Fazl-ur-Rehman.
_LINKS = ("ul", "ur", "ud", "us", "uz", "un", "ut", "ush", "ad", "ar", "as", "an")


def _linked_name(index: ScreeningIndex, tail: str) -> tuple[str, str] | None:
    """The rest of a compound name after its first part: a linking syllable and a listed
    word ("urrahman": "ur" + "rahman")."""
    for link in _LINKS:
        rest = tail[len(link) :]
        if tail.startswith(link) and len(rest) >= 3 and _part(index, rest):
            return link, rest
    return None


def _joined_spelling(index: ScreeningIndex, joined: str) -> str | None:
    """The listed single word that two screened words joined together spell, nearly: the
    closest listed spelling at least ``_FUZZY_JOIN_SIMILARITY`` alike letter for letter
    (not merely sharing a beginning: "miguellee" is not "miguel"), if any."""
    for spelling in index.expand(joined, _FUZZY_JOIN_SIMILARITY, 3):
        if spelling != joined and letter_similarity(joined, spelling) >= _FUZZY_JOIN_SIMILARITY:
            return spelling
    return None


def _glued_legal_form(index: ScreeningIndex, token: str) -> tuple[str, str] | None:
    """A listed word with a legal form written onto its end ("haybarco": "haybar" + "co")."""
    for form in _GLUED_LONGEST_FIRST:
        head = token[: -len(form)]
        # a short word before a spelt-out form ("oilcompany"), a longer one before an
        # abbreviation ("haybarco", not "taco")
        shortest = 3 if len(form) >= 4 else 4
        if token.endswith(form) and len(head) >= shortest and head in index.vocab:
            return head, form
    return None


def _joined_particle(index: ScreeningIndex, token: str) -> str | None:
    """A particle ("de", "van", "del") written joined to the listed word after it:
    "deganado" for "de ganado". The rest must be a listed word of five letters or more,
    and the screened word not a listed or known name itself ("delgado" stays "delgado")."""
    if index.is_known_name(token) or token in index.vocab:
        return None
    for particle in _JOINED_PARTICLES:
        rest = token[len(particle) :]
        if token.startswith(particle) and len(rest) >= 5 and rest in index.vocab:
            return particle
    return None


def _part(index: ScreeningIndex, word: str) -> bool:
    """Can ``word`` be one part of a screened word read as two? A listed word of four
    letters or more, or a shorter one that several listed names use ("don" of "Don Juan",
    not "aka" of "Tanaka")."""
    return word in index.vocab and (len(word) >= 4 or index.is_known_name(word))


def _how(match: TokenMatch, abjad: bool) -> str:
    if match.how:  # set where the match was made: initials, word beginnings
        return match.how
    if match.query_token == match.listed_token:
        return "exact"
    if len(match.query_token) == 1 or len(match.listed_token) == 1:
        return "initial"
    if abjad and consonant_skeleton(match.query_token) == consonant_skeleton(match.listed_token):
        return "same consonants"
    return "spelling"


def _acronym_score(reading: _Reading, listed: Sequence[str], config: ScreeningConfig) -> NameScore:
    return NameScore(
        score=config.acronym_score,
        query_coverage=1.0,
        listed_coverage=1.0,
        matched=(TokenMatch(reading.tokens[0], " ".join(listed), 1.0, "initials"),),
        unmatched_query=(),
        unmatched_listed=(),
        common_only=False,
    )


_MIN_BEGINNINGS_WORD = 6  # shorter words join word beginnings by chance ("ALCO")
_MAX_BEGINNINGS = 12  # names checked per way of splitting off the first two words' letters


def joined_beginnings(word: str, words: Sequence[str]) -> list[str] | None:
    """The beginnings of the first words of ``words`` that ``word`` joins, in order, each
    word contributing its first letters ("ingranres": in|gran|res of inversiones granda
    restrepo), or None. At least two words must give two letters or more (retrieval asks
    it of the first two): a word made of single initials is an acronym, matched as such."""

    def split(at: int, k: int) -> list[str] | None:
        if at == len(word):
            return []
        if k == len(words):
            return None
        listed = words[k]
        longest = 0
        while (
            longest < len(listed)
            and at + longest < len(word)
            and listed[longest] == word[at + longest]
        ):
            longest += 1
        for size in range(longest, 0, -1):  # the longest beginning first
            if k == 0 and size < 2:
                break
            rest = split(at + size, k + 1)
            if rest is not None:
                return [word[at : at + size], *rest]
        return None

    parts = split(0, 0)
    if parts is None or len(parts) < 2 or sum(len(p) >= 2 for p in parts) < 2:
        return None
    return parts


def _beginnings_score(
    reading: _Reading, listed: Sequence[str], parts: Sequence[str], config: ScreeningConfig
) -> NameScore:
    return NameScore(
        score=config.acronym_score,
        query_coverage=1.0,
        listed_coverage=1.0,
        matched=(TokenMatch(reading.tokens[0], " ".join(listed), 1.0, "word beginnings"),),
        unmatched_query=(),
        unmatched_listed=(),
        common_only=False,
    )


def _id_key(text: str) -> str:
    return "".join(ch for ch in text.upper() if ch.isalnum())


def _id_factor(
    query_ids: set[str], remarks: str, config: ScreeningConfig
) -> tuple[float, str | None]:
    if not query_ids or not remarks:
        return 0.0, None
    listed = {_id_key(word) for word in remarks.replace(";", " ").replace(",", " ").split()}
    shared = sorted(query_ids & listed)
    if shared:
        return config.id_number_bonus, f"ID number {shared[0]} appears in the listing"
    return 0.0, None


def _legal_form_factor(
    mine: Sequence[tuple[str, str]], listed: str, config: ScreeningConfig
) -> tuple[float, str | None]:
    """``mine``: the legal forms of the screened name (``legal_forms``)."""
    theirs = legal_forms(listed)
    if not mine and not theirs:
        return 0.0, None
    kinds_mine, kinds_theirs = {g for _, g in mine}, {g for _, g in theirs}
    shown = (
        f"legal forms set aside (screened {', '.join(w for w, _ in mine) or 'none'}, "
        f"listed {', '.join(w for w, _ in theirs) or 'none'})"
    )
    if kinds_mine and kinds_theirs and not kinds_mine & kinds_theirs:
        return -config.legal_form_mismatch_penalty, shown + ": of different kinds"
    return 0.0, shown


@dataclass(frozen=True, slots=True)
class _Scored:
    """A listed name scored above the threshold: what its hit is built from, if returned."""

    score: float  # rounded as the hit's
    entity_id: str
    rec: int
    listed_name: str
    alias_type: AliasType
    reading: _Reading
    name_score: NameScore
    listed: list[str]
    factors: tuple[float, float, float]  # date of birth, nationality, entity type
    alias_points: float
    number_points: float
    legal_points: float
    id_points: float
    notes: tuple[str, ...]
    capped: float | None


def _hit(index: ScreeningIndex, scored: _Scored) -> Hit:
    entity = index.entities[index.rec_entity[scored.rec]]
    reading, name_score = scored.reading, scored.name_score
    query_text, listed_text = " ".join(reading.tokens), " ".join(scored.listed)
    breakdown = ScoreBreakdown(
        name_score=round(name_score.score, 2),
        query_coverage=round(name_score.query_coverage, 3),
        listed_coverage=round(name_score.listed_coverage, 3),
        token_sort_ratio=round(fuzz.token_sort_ratio(query_text, listed_text), 2),
        token_set_ratio=round(fuzz.token_set_ratio(query_text, listed_text), 2),
        dob_factor=scored.factors[0],
        nationality_factor=scored.factors[1],
        entity_type_factor=scored.factors[2],
        alias_factor=scored.alias_points,
        matched_tokens=tuple(
            TokenMatch(m.query_token, m.listed_token, m.similarity, _how(m, reading.abjad))
            for m in name_score.matched
        ),
        unmatched_query_tokens=name_score.unmatched_query,
        unmatched_listed_tokens=name_score.unmatched_listed,
        notes=scored.notes,
        number_factor=scored.number_points,
        legal_form_factor=scored.legal_points,
        id_number_factor=scored.id_points,
        capped_at=scored.capped,
    )
    return Hit(
        entity_id=entity.entity_id,
        entity_name=entity.name,
        entity_type=entity.entity_type,
        matched_name=scored.listed_name,
        alias_type=scored.alias_type,
        score=scored.score,
        breakdown=breakdown,
        source=entity.source,
        list_version=entity.list_version,
        entity_version=index.entity_version(scored.rec),
        programs=entity.programs,
        is_pep=entity.is_pep,
    )


class ClearanceCheck(Protocol):
    """The allowlist: has an officer already cleared this entity, in this version, for this
    customer? (Backed by the clearance store; any callable of this shape will do.)

    A hook that also takes a ``customer_version`` keyword (``ClearanceStore.is_cleared``
    does) is given the hash of the customer's screened details too, so that a clearance
    lapses when the customer's name, date of birth or countries change."""

    def __call__(self, customer_id: str, entity_id: str, entity_version: str) -> bool: ...


def _takes_customer_version(hook: Callable[..., bool]) -> bool:
    try:
        parameters = inspect.signature(hook).parameters.values()
    except (TypeError, ValueError):  # a builtin without a signature
        return False
    return any(
        p.name == "customer_version" or p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters
    )


class Screener:
    """Screens names against the lists loaded last.

    ``load`` builds a complete new index before replacing the reference to the current one,
    so ``screen`` calls running meanwhile keep using the old index to the end of their call
    and never see a partial one; if building fails, the old index stays in force.
    """

    def __init__(
        self,
        lists: Iterable[SanctionsList] = (),
        *,
        config: ScreeningConfig | None = None,
        is_cleared: ClearanceCheck | None = None,
    ) -> None:
        self.config = config or ScreeningConfig()
        self.is_cleared = is_cleared
        self._load_lock = threading.Lock()
        self._index = ScreeningIndex.build(lists, self.config)

    @property
    def index(self) -> ScreeningIndex:
        return self._index

    @property
    def lists(self) -> tuple[ListInfo, ...]:
        return self._index.lists

    def load(self, lists: Iterable[SanctionsList]) -> ScreeningIndex:
        """Build an index of ``lists`` off to the side, then make it current."""
        with self._load_lock:  # concurrent loads are serialised; screens are not blocked
            new_index = ScreeningIndex.build(lists, self.config)
            self._index = new_index  # a single reference assignment: atomic for readers
        return new_index

    def screen(
        self,
        name: str,
        *,
        dob: str | date | PartialDate | None = None,
        countries: Sequence[str] = (),
        entity_type: EntityType | None = None,
        customer_id: str | None = None,
        max_hits: int | None = None,
        id_numbers: Sequence[str] = (),
    ) -> list[Hit]:
        """Hits for ``name``, best first. ``dob`` (a date or '1960', '1960-01-12', ...),
        ``countries`` (nationality/residence names or ISO codes) and ``entity_type`` refine
        the score when given; so do ``id_numbers`` (passport, national ID, registration
        numbers) found in the listing. With ``customer_id`` and an ``is_cleared`` hook, hits an
        officer already cleared for that customer (same entity version) are left out.
        At most ``max_hits`` hits are returned (default: the config's ``max_hits``); a
        caller that applies clearances itself can ask for more, up to every candidate
        scored (the config's ``max_candidates``)."""
        index = self._index  # one read: this call uses this index throughout
        config = self.config
        readings, recs, acronyms, by_two = self._retrieve(index, name, entity_type)
        if not readings:
            return []
        # Records found by one shared word (after the first ``by_two``): when no reading can
        # make a hit with one word, only those with two words among the spellings can hit.
        one_word_enough = any(
            r.bound >= config.min_name_score
            and (r.has_initial or r.one_word >= config.min_name_score)
            for r in readings
        )
        spellings = frozenset().union(*(r.spellings for r in readings))
        query_dob = coerce_query_date(dob)
        query_countries = {c for c in (normalise_country(x) for x in countries) if c}
        query_ids = {i for i in (_id_key(x) for x in id_numbers) if len(i) >= 5}
        # each reading's spelt_by, made when a listed name is first scored under it
        spelt: list[dict[str, list[tuple[float, int]]] | None] = [None] * len(readings)
        query_forms: list[tuple[str, str]] | None = None  # once, for the first organisation
        best: dict[str, _Scored] = {}
        # name scores by reading and listed words, for names listed more than once
        scores: dict[tuple[int, str, bool, bool, bool], NameScore | None] = {}
        entities, rec_entity, rec_tokens = index.entities, index.rec_entity, index.rec_tokens
        rec_kind = index.rec_kind
        for number, rec in enumerate(recs):
            listed = rec_tokens[rec].split()
            if (
                number >= by_two
                and not one_word_enough
                and rec not in acronyms
                and not _may_match_two(listed, spellings)
            ):
                continue
            kind = ENTITY_TYPES[rec_kind[rec]]
            # a date of birth or an ID number that agrees tells this person from others of
            # the same common names: missing middle names weigh as usual again (the entity
            # is looked at only then: most names retrieved score too low to need it)
            corroborated = False
            if query_dob is not None or query_ids:
                listing = entities[rec_entity[rec]]
                corroborated = dob_agrees_exactly(query_dob, listing.dates_of_birth) or (
                    bool(query_ids) and _id_factor(query_ids, listing.remarks, config)[0] > 0
                )
            found = self._best_reading(
                index,
                rec,
                readings,
                listed,
                kind,
                acronyms,
                spelt,
                frozenset() if corroborated else index.common_tokens,
                scores,
            )
            if found is None:
                continue
            entity = entities[rec_entity[rec]]
            listed_name, alias_type = index.listed_name(rec, entity)
            reading, name_score = found
            organisation = kind is not EntityType.PERSON and kind is not EntityType.UNKNOWN
            factors: list[tuple[float, str | None]] = [
                dob_factor(query_dob, entity.dates_of_birth, config),
                nationality_factor(query_countries, entity.nationalities, entity.countries, config),
                entity_type_factor(entity_type, entity.entity_type, config),
            ]
            alias_points = 0.0
            if alias_type is AliasType.WEAK:
                alias_points = -config.weak_alias_penalty
                factors.append((0.0, "matched a low-quality (weak) alias"))
            numbers = number_factor(reading.tokens, listed, entity.entity_type, config)
            ids = _id_factor(query_ids, entity.remarks, config)
            score = name_score.score + sum(p for p, _ in factors) + alias_points
            score += numbers[0] + ids[0]
            if score + config.legal_form_mismatch_penalty < config.threshold:
                continue
            legal: tuple[float, str | None] = (0.0, None)
            if organisation:
                if query_forms is None:
                    query_forms = legal_forms(name)
                legal = _legal_form_factor(query_forms, listed_name, config)
            score += legal[0]
            notes = [note for _, note in factors if note]
            notes.extend(note for _, note in (numbers, legal, ids) if note)
            if reading.how:
                notes.append(reading.how)
            if name_score.common_only and (
                name_score.unmatched_listed or name_score.unmatched_query
            ):
                notes.append("only common names shared: missing names count fully")
            elif (
                corroborated
                and (name_score.unmatched_listed or name_score.unmatched_query)
                and all(m.listed_token in index.common_tokens for m in name_score.matched)
            ):
                notes.append(
                    "only common names shared, but the date of birth or an ID number agrees: "
                    "missing names weigh as they do for other names"
                )
            confirmed = factors[0][0] > 0 or factors[1][0] > 0 or ids[0] > 0
            capped: float | None = None
            if name_score.common_only and not confirmed:
                by_initial = any(
                    len(m.listed_token) == 1 and len(m.query_token) > 1 for m in name_score.matched
                )
                cap = config.common_initial_cap if by_initial else config.common_name_cap
                if score > cap:
                    score = capped = cap
                    notes.append(
                        f"capped at {cap:g}: only very common names"
                        + (", one of them matched by a listed initial only" if by_initial else "")
                        + ", and no date of birth, nationality or ID number to tell this "
                        "person from others of the same name: a review, not a certain match"
                    )
            score = max(0.0, min(100.0, score))
            if score < config.threshold:
                continue
            previous = best.get(entity.entity_id)
            rounded = round(score, 2)
            if previous is not None and previous.score >= score:
                continue
            best[entity.entity_id] = _Scored(
                rounded,
                entity.entity_id,
                rec,
                listed_name,
                alias_type,
                reading,
                name_score,
                listed,
                (factors[0][0], factors[1][0], factors[2][0]),
                alias_points,
                numbers[0],
                legal[0],
                ids[0],
                tuple(notes),
                capped,
            )
        scored = sorted(best.values(), key=lambda h: (-h.score, h.entity_id))
        limit = config.max_hits if max_hits is None else max_hits
        # only the hits returned are built (their explanation and entity version)
        if scored and customer_id is not None and self.is_cleared is not None:
            kept = self._not_cleared(customer_id, name, query_dob, countries)
            if limit < 0:
                return [h for h in (_hit(index, s) for s in scored) if kept(h)][:limit]
            hits: list[Hit] = []
            for one in scored:
                if len(hits) >= limit:
                    break
                hit = _hit(index, one)
                if kept(hit):
                    hits.append(hit)
            return hits
        return [_hit(index, one) for one in scored[:limit]]

    def _best_reading(
        self,
        index: ScreeningIndex,
        rec: int,
        readings: Sequence[_Reading],
        listed: list[str],
        kind: EntityType,
        acronyms: Mapping[int, tuple[str, ...]],
        spelt: list[dict[str, list[tuple[float, int]]] | None],
        common: Container[str],
        scores: dict[tuple[int, str, bool, bool, bool], NameScore | None],
    ) -> tuple[_Reading, NameScore] | None:
        """The reading of the screened name that scores best against this listed name (of
        an entity of this ``kind``), with its score, if any reaches the minimum name score
        (``spelt``: ``spelt_by`` of each reading's expansions, None until made here, once
        for all the listed names)."""
        config = self.config
        best: tuple[_Reading, NameScore] | None = None
        listed_initial = min(map(len, listed), default=2) == 1
        second = bool(index.rec_second_surname[rec])
        organisation = kind is not EntityType.PERSON and kind is not EntityType.UNKNOWN
        # listed companies, and listed names of unknown kind (indexed with legal forms set
        # aside like companies)
        company = kind is EntityType.ENTITY or kind is EntityType.UNKNOWN
        floor = config.min_name_score
        for number, reading in enumerate(readings):
            if reading.companies_only and not company:
                continue
            if reading.narrowed and reading.changed.isdisjoint(listed):
                continue
            used: set[int] | None = None  # listed words among the spellings (no initials)
            if len(reading.tokens) == 1 and rec in acronyms:
                pass  # scored as initials below
            elif reading.bound < floor:
                continue
            elif not reading.has_initial:
                used = _spelt(reading, listed)
                if _bound_of_used(reading, listed, used, second, config) < floor:
                    continue  # no alignment of the words can reach the minimum name score
            if (
                len(listed) >= 3
                and len(reading.tokens) >= 2
                and not (reading.has_initial or listed_initial)
                and used is not None  # always so here: no initial, two words or more
                and len(used) <= 1
            ):
                # one word shared of three or more listed: at best about 63 (one end word of
                # the listed name missing weighs 1, the screened name's other word 0.3)
                continue
            if len(reading.tokens) == 1 and len(listed) != 1:
                parts = acronyms.get(rec)
                if parts is not None:
                    if parts:
                        acronym = _beginnings_score(reading, listed, parts, config)
                        how = (
                            "the screened word joins the beginnings of the listed name's "
                            f"words ({' + '.join(parts)})"
                        )
                    else:
                        acronym = _acronym_score(reading, listed, config)
                        how = "the screened word is the initials of the listed name"
                    if best is None or acronym.score > best[1].score:
                        best = (replace(reading, how=how), acronym)
                continue
            # the same words listed again (another entity's name, another alias) score the
            # same under this reading
            key = (number, index.rec_tokens[rec], organisation, second, bool(common))
            if key in scores:
                name_score = scores[key]
            else:
                spelt_words = spelt[number]
                if spelt_words is None:
                    spelt_words = spelt[number] = spelt_by(reading.expansions)
                name_score = scores[key] = score_name(
                    reading.tokens,
                    reading.expansions,
                    listed,
                    config,
                    common,
                    at_least=config.min_name_score,
                    organisation=organisation,
                    second_surname=second,
                    listed_initials=listed_initial,
                    abjad=reading.abjad,
                    spelt=spelt_words,
                )
            if name_score is not None and (best is None or name_score.score > best[1].score):
                best = (reading, name_score)
        return best

    def candidate_entity_ids(self, name: str, *, entity_type: EntityType | None = None) -> set[str]:
        """The entities whose names retrieval passes on to scoring for ``name`` (whatever
        their score): what a benchmark of candidate recall measures."""
        index = self._index
        _readings, recs, _acronyms, _by_two = self._retrieve(index, name, entity_type)
        return {index.entities[index.rec_entity[rec]].entity_id for rec in recs}

    def _retrieve(
        self, index: ScreeningIndex, name: str, entity_type: EntityType | None
    ) -> tuple[list[_Reading], list[int], dict[int, tuple[str, ...]], int]:
        """The readings of the screened name, the records worth scoring, those of them
        found as initials (no parts) or as joined word beginnings (the beginnings), and how
        many of them (the first) share two words with a reading.

        Readings: the normalised tokens, and the same with two words joined or one word
        split where the result is a listed word ("Yahya Zadeh" / "Yahyazadeh"). Records:
        those sharing two (fuzzy) words with a reading; if that finds few, those sharing
        one rare word; for a one-word query also organisations whose initials it spells."""
        config = self.config
        surname_first = entity_type in (None, EntityType.PERSON, EntityType.UNKNOWN)
        unknown = entity_type in (None, EntityType.UNKNOWN)
        if unknown:
            tokens, whole = normalise_name_both_ways(name)
        else:
            tokens = normalise_name(
                name, surname_first=surname_first, legal_forms=entity_type is not EntityType.PERSON
            )
            whole = tokens
        if not tokens:
            return [], [], {}, 0
        abjad = has_abjad(name)
        article = _ARTICLE_WRITTEN.search(name) is not None
        company = entity_type in (EntityType.ENTITY, EntityType.VESSEL, EntityType.AIRCRAFT)
        # (tokens, how, the tokens it was read from, for listed companies only)
        alternatives: list[tuple[tuple[str, ...], str, tuple[str, ...], bool]]
        if not unknown:
            alternatives = [
                (alt, how, tokens, False)
                for alt, how in _alternatives(
                    index, tokens, abjad, company=company, article_written=article
                )
            ]
        else:
            # a person's or a company's name: read as written for any listed name, and as
            # a company's (legal forms set aside, glued ones and particles read apart) for
            # listed companies only
            as_written = _alternatives(index, whole, abjad, article_written=article)
            as_company = _alternatives(index, tokens, abjad, company=True, article_written=article)
            alternatives = [(whole, "", whole, False)]
            if whole != tokens:  # a legal form, or a surname spelt like one
                set_aside = " ".join(t for t in whole if t not in tokens)
                how = f"'{set_aside}' set aside as a company's legal form"
                alternatives.append((tokens, how, tokens, True))
            seen = {whole, tokens}
            for alt, how in as_company[1:]:
                if alt not in seen and not any(alt == a for a, _ in as_written):
                    seen.add(alt)
                    alternatives.append((alt, how, tokens, True))
            alternatives.extend(
                (alt, how, whole, False) for alt, how in as_written[1:] if alt not in seen
            )
            alternatives = alternatives[: _MAX_READINGS + 1]
        readings = []
        for alternative, how, base, companies_only in alternatives:
            expansions = self._expand(index, alternative, abjad)
            changed = frozenset(
                spelling
                for token, found in zip(alternative, expansions, strict=True)
                if token not in base
                for spelling in found
            )
            spellings = frozenset(spelling for found in expansions for spelling in found)
            initial = any(len(t) == 1 for t in alternative)
            bound, alive, least_missing, one_word = _name_bound(alternative, expansions, config)
            readings.append(
                _Reading(
                    alternative,
                    expansions,
                    how,
                    abjad,
                    changed,
                    spellings,
                    initial,
                    bound,
                    alive,
                    least_missing,
                    one_word,
                    companies_only,
                    narrowed=bool(how) and alternative != base,
                )
            )
        counts: Counter[int] = Counter()
        for reading in readings:
            if reading.bound < config.min_name_score:
                continue  # no listed name can reach a hit by name under this reading
            for rank, rec in enumerate(
                index.candidates(
                    reading.expansions,
                    single_min_similarity=config.single_token_similarity,
                    max_postings=config.max_postings_per_key,
                    max_candidates=config.max_candidates,
                    pair_expansions=_ABJAD_PAIR_EXPANSIONS
                    if abjad and len(reading.tokens) <= 3
                    else None,
                )
            ):
                counts[rec] += config.max_candidates - rank
        acronyms: dict[int, tuple[str, ...]] = {}
        word = name.strip()
        if len(tokens) == 1 and len(word) >= 4 and word.isalpha() and word.isupper():
            for rec in index.acronym_records(tokens[0])[: config.max_token_postings]:
                acronyms[rec] = ()
        if (
            len(tokens) == 1
            and len(tokens[0]) >= _MIN_BEGINNINGS_WORD
            and tokens[0].isalpha()
            and entity_type is not EntityType.PERSON
        ):
            for rec in index.beginnings_records(tokens[0], _MAX_BEGINNINGS):
                if rec not in acronyms and (
                    parts := joined_beginnings(tokens[0], index.written_words(rec))
                ):
                    acronyms[rec] = tuple(parts)
        few = len(counts) < _FALLBACK_BELOW
        rare: Counter[int] = Counter()
        for reading in readings:
            if reading.bound < config.min_name_score:
                continue
            for expansion in reading.expansions:
                for token, sim in list(expansion.items())[: 3 if few else 1]:
                    if sim < _FALLBACK_SIMILARITY or len(token) < 3 or token.isdigit():
                        continue
                    cap = config.max_token_postings if few else _RARE_POSTINGS
                    postings = index.token_postings(token, cap)
                    if postings:
                        rare.update(postings)
            if len(reading.tokens) >= 2 and any(len(t) == 1 for t in reading.tokens):
                rare.update(index.initials_records(reading.tokens, config.max_token_postings))
        recs = [rec for rec, _ in counts.most_common(config.max_candidates)]
        chosen = set(recs)
        by_two = len(recs)
        recs.extend(rec for rec, _ in rare.most_common(_MAX_RARE) if rec not in chosen)
        recs.extend(sorted(acronyms.keys() - set(recs)))
        return readings, recs, acronyms, by_two

    def _expand(
        self, index: ScreeningIndex, tokens: Sequence[str], abjad: bool
    ) -> list[dict[str, float]]:
        config = self.config
        expansions = []
        for token in tokens:
            if abjad:
                found = index.expand_abjad(
                    token,
                    config.token_similarity,
                    config.max_expansions_per_token,
                    config.known_name_penalty,
                    _ABJAD_SPELLINGS,
                )
            else:
                found = index.expand(
                    token,
                    config.token_similarity,
                    config.max_expansions_per_token,
                    config.known_name_penalty,
                )
            expansions.append(found)
        return expansions

    def _not_cleared(
        self,
        customer_id: str,
        name: str,
        dob: PartialDate | None,
        countries: Sequence[str],
    ) -> Callable[[Hit], bool]:
        """Is a hit not cleared for this customer (asked of each hit returned)?"""
        check = self.is_cleared
        assert check is not None
        if _takes_customer_version(check):
            version = customer_version(name, dob, countries)
            return lambda h: (
                not check(
                    customer_id,
                    h.entity_id,
                    h.entity_version,
                    customer_version=version,  # type: ignore[call-arg]
                )
            )
        return lambda h: not check(customer_id, h.entity_id, h.entity_version)
