"""Tunable thresholds and weights of screening, in one place."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ScreeningConfig:
    # A hit needs both: the final score (name plus secondary factors) and the name alone.
    threshold: float = 85.0
    min_name_score: float = 78.0
    # Two tokens count as the same name part from this similarity on (0..1).
    token_similarity: float = 0.8
    # A one-word query is compared only with one-word listed names, and more strictly.
    single_token_similarity: float = 0.9
    # A screened word that is itself a listed or common name ("Davis") is compared with other
    # spellings ("David") at this much lower similarity: more likely a different name than a
    # typo.
    known_name_penalty: float = 0.1
    # How much an unmatched token weighs against a match, by its position in the name: a
    # missing given (first) name is worse than a missing family (last) name, and a missing
    # middle name or patronymic counts little ("Vladimir Putin" for "Vladimir Vladimirovich
    # Putin") unless the names shared are all common ones.
    first_token_weight: float = 1.5
    last_token_weight: float = 1.0
    middle_token_weight: float = 0.3
    max_middle_weight: float = 0.6  # all missing middle names together ("Muammar Qadhafi")
    # Retrieval limits (bound the work per query whatever the list size).
    max_expansions_per_token: int = 12
    max_postings_per_key: int = 4000
    max_candidates: int = 60
    max_hits: int = 20
    # Secondary factors, in score points (0..100 scale).
    dob_exact_bonus: float = 8.0
    dob_year_bonus: float = 4.0
    dob_mismatch_penalty: float = 20.0
    dob_year_tolerance: int = 1  # years apart still counted as "near", no bonus or penalty
    nationality_match_bonus: float = 3.0
    nationality_mismatch_penalty: float = 5.0
    entity_type_mismatch_penalty: float = 25.0
    weak_alias_penalty: float = 5.0
    include_weak_aliases: bool = True
