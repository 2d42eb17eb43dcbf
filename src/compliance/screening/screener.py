"""The screener: holds the current index, screens names, swaps in new lists atomically."""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable, Iterable, Sequence
from datetime import date
from typing import Protocol

from rapidfuzz import fuzz

from compliance.screening.config import ScreeningConfig
from compliance.screening.countries import normalise_country
from compliance.screening.customers import customer_version
from compliance.screening.dates import coerce_query_date
from compliance.screening.hits import Hit, ScoreBreakdown
from compliance.screening.index import ListInfo, ScreeningIndex
from compliance.screening.model import AliasType, EntityType, PartialDate, SanctionsList
from compliance.screening.normalise import normalise_name
from compliance.screening.scoring import (
    dob_factor,
    entity_type_factor,
    nationality_factor,
    score_name,
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
    ) -> list[Hit]:
        """Hits for ``name``, best first. ``dob`` (a date or '1960', '1960-01-12', ...),
        ``countries`` (nationality/residence names or ISO codes) and ``entity_type`` refine
        the score when given. With ``customer_id`` and an ``is_cleared`` hook, hits an
        officer already cleared for that customer (same entity version) are left out.
        At most ``max_hits`` hits are returned (default: the config's ``max_hits``); a
        caller that applies clearances itself can ask for more, up to every candidate
        scored (the config's ``max_candidates``)."""
        index = self._index  # one read: this call uses this index throughout
        config = self.config
        tokens, expansions, recs = self._retrieve(index, name, entity_type)
        if not tokens:
            return []
        single = len(tokens) == 1
        query_dob = coerce_query_date(dob)
        query_countries = {c for c in (normalise_country(x) for x in countries) if c}
        best: dict[str, Hit] = {}
        for rec in recs:
            entity, listed_name, alias_type, listed = index.record(rec)
            if single and len(listed) != 1:
                continue
            name_score = score_name(
                tokens,
                expansions,
                listed,
                config,
                index.common_tokens,
                at_least=config.min_name_score,
            )
            if name_score is None:
                continue
            if name_score.common_only and (
                name_score.unmatched_listed or name_score.unmatched_query
            ):
                common_note: str | None = "only common names shared: missing names count fully"
            else:
                common_note = None
            factors: list[tuple[float, str | None]] = [
                dob_factor(query_dob, entity.dates_of_birth, config),
                nationality_factor(query_countries, entity.nationalities, entity.countries, config),
                entity_type_factor(entity_type, entity.entity_type, config),
            ]
            alias_points = 0.0
            if alias_type is AliasType.WEAK:
                alias_points = -config.weak_alias_penalty
                factors.append((0.0, "matched a low-quality (weak) alias"))
            if common_note:
                factors.append((0.0, common_note))
            score = name_score.score + sum(p for p, _ in factors) + alias_points
            score = max(0.0, min(100.0, score))
            if score < config.threshold:
                continue
            previous = best.get(entity.entity_id)
            if previous is not None and previous.score >= score:
                continue
            query_text, listed_text = " ".join(tokens), " ".join(listed)
            breakdown = ScoreBreakdown(
                name_score=round(name_score.score, 2),
                query_coverage=round(name_score.query_coverage, 3),
                listed_coverage=round(name_score.listed_coverage, 3),
                token_sort_ratio=round(fuzz.token_sort_ratio(query_text, listed_text), 2),
                token_set_ratio=round(fuzz.token_set_ratio(query_text, listed_text), 2),
                dob_factor=factors[0][0],
                nationality_factor=factors[1][0],
                entity_type_factor=factors[2][0],
                alias_factor=alias_points,
                matched_tokens=name_score.matched,
                unmatched_query_tokens=name_score.unmatched_query,
                unmatched_listed_tokens=name_score.unmatched_listed,
                notes=tuple(note for _, note in factors if note),
            )
            best[entity.entity_id] = Hit(
                entity_id=entity.entity_id,
                entity_name=entity.name,
                entity_type=entity.entity_type,
                matched_name=listed_name,
                alias_type=alias_type,
                score=round(score, 2),
                breakdown=breakdown,
                source=entity.source,
                list_version=entity.list_version,
                entity_version=index.entity_version(rec),
                programs=entity.programs,
                is_pep=entity.is_pep,
            )
        hits = sorted(best.values(), key=lambda h: (-h.score, h.entity_id))
        if hits and customer_id is not None and self.is_cleared is not None:
            hits = self._not_cleared(hits, customer_id, name, query_dob, countries)
        return hits[: config.max_hits if max_hits is None else max_hits]

    def candidate_entity_ids(self, name: str, *, entity_type: EntityType | None = None) -> set[str]:
        """The entities whose names retrieval passes on to scoring for ``name`` (whatever
        their score): what a benchmark of candidate recall measures."""
        index = self._index
        _tokens, _expansions, recs = self._retrieve(index, name, entity_type)
        return {index.entities[index.rec_entity[rec]].entity_id for rec in recs}

    def _retrieve(
        self, index: ScreeningIndex, name: str, entity_type: EntityType | None
    ) -> tuple[tuple[str, ...], list[dict[str, float]], list[int]]:
        config = self.config
        surname_first = entity_type in (None, EntityType.PERSON, EntityType.UNKNOWN)
        tokens = normalise_name(name, surname_first=surname_first)
        if not tokens:
            return tokens, [], []
        expansions = [
            index.expand(
                t,
                config.token_similarity,
                config.max_expansions_per_token,
                config.known_name_penalty,
            )
            for t in tokens
        ]
        recs = index.candidates(
            expansions,
            single_min_similarity=config.single_token_similarity,
            max_postings=config.max_postings_per_key,
            max_candidates=config.max_candidates,
        )
        if len(tokens) == 1:
            recs = [rec for rec in recs if len(index.rec_tokens[rec].split()) == 1]
        return tokens, expansions, recs

    def _not_cleared(
        self,
        hits: list[Hit],
        customer_id: str,
        name: str,
        dob: PartialDate | None,
        countries: Sequence[str],
    ) -> list[Hit]:
        check = self.is_cleared
        assert check is not None
        if _takes_customer_version(check):
            version = customer_version(name, dob, countries)
            return [
                h
                for h in hits
                if not check(customer_id, h.entity_id, h.entity_version, customer_version=version)  # type: ignore[call-arg]
            ]
        return [h for h in hits if not check(customer_id, h.entity_id, h.entity_version)]
