"""What a screening hit carries, so that an officer can see why it matched."""

from __future__ import annotations

from dataclasses import dataclass

from compliance.screening.model import AliasType, EntityType


@dataclass(frozen=True, slots=True)
class TokenMatch:
    query_token: str
    listed_token: str
    similarity: float  # 0..1
    # exact, spelling, initial, same consonants (a name written in Arabic letters), initials,
    # word beginnings (a one-word name joining the first letters of the listed words)
    how: str = ""


@dataclass(frozen=True, slots=True)
class ScoreBreakdown:
    """The parts of a hit's score. ``score = clamp(name_score + the factors, 0, 100)``."""

    name_score: float  # 0..100: how well the names agree, token by token
    query_coverage: float  # 0..1: share of the screened name found in the listed name
    listed_coverage: float  # 0..1: share of the listed name found in the screened name
    token_sort_ratio: float  # rapidfuzz token_sort_ratio of the normalised names, for reading
    token_set_ratio: float  # rapidfuzz token_set_ratio of the normalised names, for reading
    dob_factor: float  # points: + when dates of birth agree, - when they clearly differ
    nationality_factor: float
    entity_type_factor: float
    alias_factor: float  # points taken off for a low-quality ("weak") alias
    matched_tokens: tuple[TokenMatch, ...]
    unmatched_query_tokens: tuple[str, ...]
    unmatched_listed_tokens: tuple[str, ...]
    notes: tuple[str, ...]  # plain-language reasons for each factor
    number_factor: float = 0.0  # points off when an organisation's or vessel's numbers differ
    legal_form_factor: float = 0.0  # points off for legal forms of different kinds
    id_number_factor: float = 0.0  # points added when a given ID number is in the listing
    capped_at: float | None = None  # common names without a second identifier: a review


@dataclass(frozen=True, slots=True)
class Hit:
    entity_id: str
    entity_name: str  # the entity's primary name
    entity_type: EntityType
    matched_name: str  # the name (primary or alias) that matched
    alias_type: AliasType  # PRIMARY when the primary name matched
    score: float  # 0..100
    breakdown: ScoreBreakdown
    source: str
    list_version: str
    entity_version: str
    programs: tuple[str, ...] = ()
    is_pep: bool = False

    def explain(self) -> str:
        """Several lines for an officer: the entity, the name that matched (primary name or
        which alias), the score and its parts, the list and its version."""
        b = self.breakdown
        kind = "primary name" if self.alias_type is AliasType.PRIMARY else self.alias_type.value
        tokens = ", ".join(
            f"{m.query_token}~{m.listed_token} {m.similarity:.2f}"
            + (f" ({m.how})" if m.how else "")
            for m in b.matched_tokens
        )
        factors = [
            (label, value)
            for label, value in (
                ("date of birth", b.dob_factor),
                ("nationality", b.nationality_factor),
                ("entity type", b.entity_type_factor),
                ("alias quality", b.alias_factor),
                ("numbers", b.number_factor),
                ("legal form", b.legal_form_factor),
                ("ID number", b.id_number_factor),
            )
            if value
        ]
        formula = f"name {b.name_score:.1f}" + "".join(f" {v:+.1f} {k}" for k, v in factors)
        if b.capped_at is not None and self.score == b.capped_at:
            formula += f", capped at {b.capped_at:g} (common names only)"
        elif abs(b.name_score + sum(v for _, v in factors) - self.score) > 0.05:
            formula += ", capped to 0..100"
        described = ", ".join(
            part
            for part in (
                self.entity_type.value,
                "PEP" if self.is_pep else "",
                "programs " + "; ".join(self.programs) if self.programs else "",
            )
            if part
        )
        lines = [
            f"{self.score:.1f} {self.entity_name} [{self.entity_id}, {self.source}]"
            + (f" via {kind} '{self.matched_name}'" if kind != "primary name" else ""),
            f"entity: {described}",
            f"matched {kind}: '{self.matched_name}'",
            f"score {self.score:.1f} = {formula}",
            f"name {b.name_score:.1f} (tokens: {tokens}; coverage screened "
            f"{b.query_coverage:.2f}, listed {b.listed_coverage:.2f})",
        ]
        if b.unmatched_query_tokens or b.unmatched_listed_tokens:
            lines.append(
                "unmatched: screened "
                + (" ".join(b.unmatched_query_tokens) or "-")
                + ", listed "
                + (" ".join(b.unmatched_listed_tokens) or "-")
            )
        lines.extend(f"{label} {value:+.1f}" for label, value in factors)
        lines.extend(b.notes)
        lines.append(
            f"list {self.source} version {self.list_version}; "
            f"entity version {self.entity_version[:16]}"
        )
        return "\n".join(lines)
