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
    # A listed second family name ("GARCIA MARQUEZ, Gabriel") left out weighs this much.
    second_surname_weight: float = 0.3
    # Organisation and vessel words of this many letters or fewer must agree exactly: "ALFA"
    # is not "ALTA", "CHINT" is not "CHINA".
    short_word_length: int = 5
    # Retrieval limits (bound the work per query whatever the list size).
    max_expansions_per_token: int = 12
    max_postings_per_key: int = 4000
    max_candidates: int = 60
    # Fallback retrieval by one shared word: only words in at most this many listed names.
    max_token_postings: int = 300
    # A one-word query equal to the initials of a listed organisation's name scores this.
    acronym_score: float = 86.0
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
    number_mismatch_penalty: float = 30.0
    # A legal form of another kind ("llc" against "jsc"): legal forms weigh little.
    legal_form_mismatch_penalty: float = 2.0
    # An ID number given with the query found in the listing (passport, national ID...).
    id_number_bonus: float = 10.0
    # Only very common given and family names, no date of birth, nationality or ID number
    # agreeing: at most this score (a review, never a certain match).
    common_name_cap: float = 90.0
    # The same when a screened name is matched only by a listed initial ("Karen Garcia" for
    # "K. Garcia"): below the threshold, no hit without a second identifier.
    common_initial_cap: float = 84.0
    include_weak_aliases: bool = True

    def __post_init__(self) -> None:
        # The shortcuts of scoring rest on these: a word counted fully missing weighs at
        # least as much as a missing middle name, and a second family name left out weighs
        # no more than a missing last name. Weights outside them would lose hits silently.
        if self.middle_token_weight > 1.0:
            raise ValueError("middle_token_weight must be at most 1 (a fully missing word)")
        if min(self.second_surname_weight, self.max_middle_weight) > self.last_token_weight:
            raise ValueError("a missing second surname must weigh no more than a last name")
