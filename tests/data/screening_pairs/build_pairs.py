"""Build the labelled screening pairs (pairs.csv) from the list samples in tests/data/sanctions.

Run from the project root:  .venv/bin/python tests/data/screening_pairs/build_pairs.py

Deterministic (fixed seed, sorted inputs). It reads the lists with the project's loaders (they
only parse files) and owns everything else: its own reading of names into words, its own
small table of legal-form equivalents and Roman numerals. It uses none of the matcher's
normalisation, spelling-variant, title, legal-form or common-name tables, so the pairs do not
echo the matcher. Written once, before the matcher was tuned; see README.md.
"""

# ruff: noqa: RUF001  (typographic apostrophes are looked for on purpose)
from __future__ import annotations

import csv
import difflib
import hashlib
import random
import re
import sys
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "src"))

from compliance.screening import (  # noqa: E402
    AliasType,
    Entity,
    EntityType,
    load_directory,
)

DATA = ROOT / "tests" / "data" / "sanctions"
OUT = Path(__file__).resolve().parent / "pairs.csv"
SEED = 14
PER_CLASS = 70  # at most this many pairs per class
HELD_SHARE = 50  # percent of target entities whose pairs are held back from tuning

_WORD = re.compile(r"[^\W\d_]+|\d+")
_STRONG = {AliasType.AKA, AliasType.FKA, AliasType.NKA}
# Spanish- and Portuguese-speaking countries (ISO alpha-2), for the second-surname class.
_IBERIAN = frozenset(
    "MX CO VE ES PT BR AR PE EC PA GT HN SV NI CU BO PY UY CL CR DO".split()  # noqa: SIM905
)
# This builder's own legal-form equivalence groups (written here, from general knowledge).
_LEGAL_GROUPS: tuple[tuple[str, ...], ...] = (
    ("LIMITED", "LTD"),
    ("LIMITED LIABILITY COMPANY", "LLC", "OOO", "OBSHCHESTVO S OGRANICHENNOY OTVETSTVENNOSTYU"),
    ("JOINT STOCK COMPANY", "JSC", "AO", "AKTSIONERNOE OBSHCHESTVO"),
    ("PUBLIC JOINT STOCK COMPANY", "PJSC", "PAO"),
    ("CLOSED JOINT STOCK COMPANY", "CJSC", "ZAO"),
    ("AKTIENGESELLSCHAFT", "AG"),
    ("GESELLSCHAFT MIT BESCHRANKTER HAFTUNG", "GMBH"),
    ("SOCIETE ANONYME", "SA", "SOCIEDAD ANONIMA", "S.A."),
    ("COMPANY LIMITED", "CO. LTD.", "CO LTD", "CO., LTD."),
    ("CORPORATION", "CORP", "CORP."),
    ("INCORPORATED", "INC", "INC."),
    ("COMPANY", "CO", "CO."),
    ("PRIVATE LIMITED", "PVT LTD", "PTE LTD", "PTE. LTD."),
    ("FZE", "FREE ZONE ESTABLISHMENT"),
)
_LEGAL_SURFACES = sorted({s for group in _LEGAL_GROUPS for s in group}, key=len, reverse=True)
_FUNCTION_WORDS = frozenset("AND THE FOR OF DE LA DEL Y ET AL EL LOS LAS DU DES".split())  # noqa: SIM905
_ROMAN = {"I": 1, "II": 2, "III": 3, "IV": 4, "V": 5, "VI": 6, "VII": 7, "VIII": 8, "IX": 9}
_ROMAN_BY_VALUE = {v: k for k, v in _ROMAN.items()}


@dataclass(frozen=True)
class Pair:
    cls: str
    label: str  # "match" or "no-match"
    query: str
    query_type: str  # person / entity / vessel
    target: Entity
    how: str
    query_dob: str = ""
    query_country: str = ""
    held_out_alias: str = ""  # the target's alias used as query, removed from the index


def words(name: str) -> list[str]:
    return _WORD.findall(name.upper())


def person_words(name: str) -> list[str]:
    """Given names first: "SURNAME, Given" turned round (one comma only)."""
    if name.count(",") == 1:
        surname, given = name.split(",")
        name = f"{given} {surname}"
    return words(name)


def key(name: str) -> str:
    return " ".join(sorted(words(name)))


def letters(name: str) -> str:
    return "".join(words(name))


def latin(text: str) -> bool:
    return all(ord(ch) < 0x250 for ch in text)


def similar(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, key(a), key(b)).ratio()


def split_of(entity_id: str) -> str:
    digest = int(hashlib.sha256(entity_id.encode()).hexdigest()[:8], 16)
    return "held" if digest % 100 < HELD_SHARE else "tune"


def kind(entity: Entity) -> str:
    if entity.entity_type is EntityType.PERSON:
        return "person"
    if entity.entity_type is EntityType.VESSEL:
        return "vessel"
    return "entity"


def first_dob(entity: Entity) -> str:
    for dob in entity.dates_of_birth:
        if dob.start.is_full and dob.end is None and not dob.circa:
            return str(dob.start)
    return ""


class Builder:
    def __init__(self, entities: list[Entity]) -> None:
        self.entities = entities
        self.rng = random.Random(SEED)
        self.pairs: list[Pair] = []
        self.used_aliases: set[tuple[str, str]] = set()
        self.names_by_key: dict[str, set[str]] = defaultdict(set)
        for e in entities:
            for name, _ in e.all_names():
                self.names_by_key[key(name)].add(e.entity_id)

    def listed_as_other(self, query: str, target: Entity) -> bool:
        """Is the query, word for word, the name of a listed entity other than the target?"""
        return bool(self.names_by_key.get(key(query), set()) - {target.entity_id})

    def take(self, cls: str, candidates: Iterable[Pair]) -> None:
        pool = sorted(candidates, key=lambda p: (p.target.entity_id, p.query))
        self.rng.shuffle(pool)
        seen: set[tuple[str, str]] = set()
        taken = 0
        for pair in pool:
            ident = (pair.query, pair.target.entity_id)
            if ident in seen or taken >= PER_CLASS:
                continue
            if pair.held_out_alias:
                alias_key = (pair.target.entity_id, pair.held_out_alias)
                if alias_key in self.used_aliases:
                    continue
                self.used_aliases.add(alias_key)
            seen.add(ident)
            self.pairs.append(Pair(**{**pair.__dict__, "cls": cls}))
            taken += 1

    def of_type(self, *types: EntityType) -> list[Entity]:
        return [e for e in self.entities if e.entity_type in types]

    # ---- positives from the lists' own aliases --------------------------------------------

    def alias_pairs(self, ok: Callable[[Entity, str, AliasType], bool], how: str) -> Iterable[Pair]:
        for e in self.entities:
            for alias in e.aliases:
                if ok(e, alias.name, alias.alias_type) and not self.listed_as_other(alias.name, e):
                    yield Pair(
                        "",
                        "match",
                        alias.name,
                        kind(e),
                        e,
                        f"{e.source} {alias.alias_type.value} of the entity, held out",
                        held_out_alias=alias.name,
                    )

    def others_share_no_word(self, e: Entity, alias: str) -> bool:
        mine = set(words(alias))
        return all(not (mine & set(words(n))) for n, _ in e.all_names() if n != alias and latin(n))

    def build(self) -> list[Pair]:
        people = self.of_type(EntityType.PERSON)
        orgs = self.of_type(EntityType.ENTITY)
        vessels = self.of_type(EntityType.VESSEL)

        self.take(
            "transliteration",
            self.alias_pairs(
                lambda e, a, t: (
                    e.entity_type is EntityType.PERSON
                    and t in _STRONG
                    and latin(a)
                    and len(words(a)) >= 2
                    and key(a) != key(e.name)
                    and similar(a, e.name) >= 0.7
                ),
                "respelt",
            ),
        )
        self.take(
            "retrieval: no shared whole word",
            self.alias_pairs(
                lambda e, a, t: (
                    t in _STRONG
                    and latin(a)
                    and len(words(a)) >= 2
                    and similar(a, e.name) >= 0.6
                    and self.others_share_no_word(e, a)
                ),
                "no shared word",
            ),
        )
        self.take(
            "non-Latin script",
            self.alias_pairs(lambda e, a, t: t is AliasType.ORIGINAL_SCRIPT, "original script"),
        )
        self.take(
            "retrieval: joined or split words",
            self.alias_pairs(
                lambda e, a, t: (
                    latin(a) and letters(a) == letters(e.name) and words(a) != words(e.name)
                ),
                "joined/split",
            ),
        )
        self.take("retrieval: joined or split words", self.joined(people + orgs))
        self.take(
            "retrieval: one-word query",
            self.alias_pairs(
                lambda e, a, t: (
                    t in _STRONG
                    and latin(a)
                    and len(words(a)) == 1
                    and len(a) >= 4
                    and e.entity_type in (EntityType.ENTITY, EntityType.PERSON)
                ),
                "one word",
            ),
        )
        self.take("retrieval: initials", self.initials(people))
        self.take("second surname", self.second_surnames(people))
        self.take("name order", self.name_order(people))
        self.take("legal form", self.legal_forms(orgs))
        self.take(
            "legal form",
            self.alias_pairs(
                lambda e, a, t: (
                    e.entity_type is EntityType.ENTITY
                    and latin(a)
                    and strip_legal(a) == strip_legal(e.name)
                    and key(a) != key(e.name)
                    and bool(strip_legal(a))
                ),
                "legal form differs",
            ),
        )
        self.take("punctuation", self.punctuation(people + orgs))
        self.take("numerals", self.numerals(vessels))
        self.take("numerals: different number", self.numeral_negatives(vessels))
        self.take("secondary identifiers: same date of birth", self.with_dob(people, same=True))
        self.take("secondary identifiers: other date of birth", self.with_dob(people, same=False))
        self.take("short distinctive word", self.short_word_negatives(orgs))
        self.take("different entity sharing words: organisation", self.sharing(orgs, 2))
        self.take("different entity sharing words: person", self.sharing(people, 2))
        self.take("different entity, similar name", self.close_people(people))
        return self.pairs

    # ---- positives made here from listed names ---------------------------------------------

    def joined(self, pool: list[Entity]) -> Iterable[Pair]:
        for e in pool:
            w = person_words(e.name) if e.entity_type is EntityType.PERSON else words(e.name)
            for i in range(len(w) - 1):
                if 2 <= len(w[i]) <= 4 and len(w) >= 3 and w[i].isalpha():
                    q = " ".join([*w[:i], w[i] + w[i + 1], *w[i + 2 :]]).title()
                    if not self.listed_as_other(q, e):
                        yield Pair("", "match", q, kind(e), e, "two words of the name joined")
                    break

    def initials(self, pool: list[Entity]) -> Iterable[Pair]:
        for e in pool:
            if not latin(e.name):
                continue
            w = person_words(e.name)
            if len(w) < 3 or any(len(x) < 3 for x in w):
                continue
            given, family = w[:-1], w[-1]
            if len(e.entity_id) % 2:
                q = " ".join([f"{g[0]}." for g in given] + [family])
            else:
                q = " ".join([f"{given[0][0]}.", *given[1:], family])
            yield Pair("", "match", q.title(), "person", e, "given names as initials")

    def second_surnames(self, pool: list[Entity]) -> Iterable[Pair]:
        for e in pool:
            if e.name.count(",") != 1 or not set(e.countries + e.nationalities) & _IBERIAN:
                continue
            surnames, given = (words(p) for p in e.name.split(","))
            if len(surnames) != 2 or not given or any(len(s) < 3 for s in surnames):
                continue
            variants = (
                (" ".join([*given, surnames[0]]), "second surname left out"),
                (" ".join([given[0], *surnames]), "middle given name left out"),
            )
            q, how = variants[len(e.entity_id) % 2]
            if not self.listed_as_other(q, e):
                yield Pair("", "match", q.title(), "person", e, how)

    def name_order(self, pool: list[Entity]) -> Iterable[Pair]:
        for e in pool:
            w = person_words(e.name)
            if len(w) >= 2 and latin(e.name):
                q = " ".join([w[-1], *w[:-1]])  # family name first, no comma
                yield Pair("", "match", q, "person", e, "family name first, without a comma")

    def legal_forms(self, pool: list[Entity]) -> Iterable[Pair]:
        for e in pool:
            upper = " ".join(words(e.name.replace(".", "")))
            for group in _LEGAL_GROUPS:
                for surface in group:
                    plain = " ".join(words(surface.replace(".", "")))
                    if re.search(rf"(^| ){re.escape(plain)}$", upper):
                        core = upper[: -len(plain)].strip()
                        others = [s for s in group if " ".join(words(s.replace(".", ""))) != plain]
                        if core and others and len(words(core)) >= 1:
                            other = others[len(e.entity_id) % len(others)]
                            q = f"{core} {other}"
                            if not self.listed_as_other(q, e):
                                yield Pair(
                                    "",
                                    "match",
                                    q,
                                    "entity",
                                    e,
                                    f"legal form {surface!r} written as {other!r}",
                                )
                        break
                else:
                    continue
                break

    def punctuation(self, pool: list[Entity]) -> Iterable[Pair]:
        for e in pool:
            name = e.name
            if not latin(name) or not re.search(r"[-'’.]", name):
                continue
            if "-" in name:
                q = name.replace("-", " ") if len(e.entity_id) % 2 else name.replace("-", "")
                how = "hyphens as spaces" if len(e.entity_id) % 2 else "hyphens dropped"
            else:
                q, how = re.sub(r"['’.]", "", name), "apostrophes and dots dropped"
            if q != name and words(q) and not self.listed_as_other(q, e):
                yield Pair("", "match", q, kind(e), e, how)

    def numerals(self, pool: list[Entity]) -> Iterable[Pair]:
        for e in pool:
            w = words(e.name)
            if len(w) >= 2 and w[-1] in _ROMAN:
                q = " ".join([*w[:-1], str(_ROMAN[w[-1]])])
                yield Pair("", "match", q, "vessel", e, "Roman numeral written in digits")
            elif len(w) >= 2 and w[-1].isdigit() and int(w[-1]) in _ROMAN_BY_VALUE:
                q = " ".join([*w[:-1], _ROMAN_BY_VALUE[int(w[-1])]])
                yield Pair("", "match", q, "vessel", e, "number written in Roman numerals")

    def numeral_negatives(self, pool: list[Entity]) -> Iterable[Pair]:
        for e in pool:
            w = words(e.name)
            if len(w) < 2 or w[-1] not in _ROMAN:
                continue
            value = _ROMAN[w[-1]]
            other = value + 1 if value < 9 else value - 1
            for q, how in (
                (" ".join([*w[:-1], _ROMAN_BY_VALUE[other]]), "another number"),
                (" ".join(w[:-1]), "number left out"),
            ):
                other_listed = key(q) in self.names_by_key and how != "number left out"
                if not other_listed and e.entity_id not in self.names_by_key.get(key(q), set()):
                    yield Pair("", "no-match", q, "vessel", e, f"vessel name with {how}")

    def with_dob(self, pool: list[Entity], *, same: bool) -> Iterable[Pair]:
        for e in pool:
            dob = first_dob(e)
            if not dob or not latin(e.name) or len(e.dates_of_birth) != 1:
                continue
            w = person_words(e.name)
            if len(w) < 2:
                continue
            q = " ".join([w[0], w[-1]]).title()  # given and family name only
            if same:
                yield Pair(
                    "",
                    "match",
                    q,
                    "person",
                    e,
                    "given and family name, listed date of birth",
                    query_dob=dob,
                )
            else:
                year = int(dob[:4]) + (23 if int(dob[:4]) < 1980 else -23)
                yield Pair(
                    "",
                    "no-match",
                    q,
                    "person",
                    e,
                    "given and family name, date of birth 23 years apart",
                    query_dob=f"{year}{dob[4:]}",
                )

    # ---- negatives: different entities that share words -------------------------------------

    def _by_word(self, pool: list[Entity]) -> dict[str, list[Entity]]:
        index: dict[str, list[Entity]] = defaultdict(list)
        for e in pool:
            if latin(e.name):
                for w in set(words(e.name)):
                    if len(w) >= 3 and strip_legal(w):
                        index[w].append(e)
        return index

    def _distinct(self, a: Entity, b: Entity) -> bool:
        """Two entries of one list that are different entities (not the same name listed
        twice, not one the other's alias)."""
        if a.entity_id == b.entity_id or a.source != b.source:
            return False
        names_a = {key(n) for n, _ in a.all_names()}
        return not names_a & {key(n) for n, _ in b.all_names()}

    def sharing(self, pool: list[Entity], min_shared: int) -> Iterable[Pair]:
        by_word = self._by_word(pool)
        for e in pool:
            if not latin(e.name):
                continue
            mine = set(words(e.name))
            for w in sorted(mine):
                for other in by_word.get(w, [])[:50]:
                    shared = mine & set(words(other.name))
                    if len(shared) >= min_shared and self._distinct(e, other):
                        yield Pair(
                            "",
                            "no-match",
                            other.name,
                            kind(other),
                            e,
                            f"another {other.source} entity sharing {len(shared)} words",
                        )

    def close_people(self, pool: list[Entity]) -> Iterable[Pair]:
        by_word = self._by_word(pool)
        for e in pool:
            mine = set(words(e.name))
            for w in sorted(mine):
                for other in by_word.get(w, [])[:80]:
                    if self._distinct(e, other) and 0.75 <= similar(e.name, other.name) < 1.0:
                        dobs_a = {d.start.year for d in e.dates_of_birth}
                        dobs_b = {d.start.year for d in other.dates_of_birth}
                        if dobs_a and dobs_b and not dobs_a & dobs_b:
                            yield Pair(
                                "",
                                "no-match",
                                other.name,
                                "person",
                                e,
                                f"another {other.source} person with a similar "
                                "name and another date of birth",
                            )

    def short_word_negatives(self, pool: list[Entity]) -> Iterable[Pair]:
        """Real pairs of one list whose names differ in one word only, and listed names
        whose first word (3 to 5 letters, the distinctive one) has one letter changed."""
        by_rest: dict[tuple[str, ...], list[tuple[Entity, str]]] = defaultdict(list)
        for e in pool:
            w = words(strip_legal(e.name))
            if len(w) >= 2 and latin(e.name):
                for i, word in enumerate(w):
                    if word not in _FUNCTION_WORDS:
                        by_rest[(*w[:i], "*", *w[i + 1 :])].append((e, word))
                if 3 <= len(w[0]) <= 5 and w[0].isalpha() and w[0] not in _FUNCTION_WORDS:
                    word = w[0]
                    pos = 1 + len(e.entity_id) % (len(word) - 1)
                    letter = "T" if word[pos] != "T" else "R"
                    q = " ".join([word[:pos] + letter + word[pos + 1 :], *w[1:]])
                    if key(q) not in self.names_by_key:
                        yield Pair(
                            "",
                            "no-match",
                            q,
                            "entity",
                            e,
                            f"one letter of the first word {word!r} changed",
                        )
        for group in by_rest.values():
            for e, word in group:
                for other, other_word in group:
                    if other_word != word and self._distinct(e, other):
                        yield Pair(
                            "",
                            "no-match",
                            other.name,
                            "entity",
                            e,
                            f"another {other.source} entity whose name differs in one "
                            f"word ({other_word!r} for {word!r})",
                        )


def strip_legal(name: str) -> str:
    text = " " + " ".join(words(name.replace(".", ""))) + " "
    for surface in _LEGAL_SURFACES:
        plain = " ".join(words(surface.replace(".", "")))
        text = text.replace(f" {plain} ", " ")
    return " ".join(text.split())


def main() -> int:
    lists = load_directory(DATA)
    entities = sorted((e for lst in lists for e in lst.entities), key=lambda e: e.entity_id)
    pairs = Builder(entities).build()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with OUT.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(
            [
                "pair_id",
                "split",
                "class",
                "label",
                "query",
                "query_type",
                "query_dob",
                "query_country",
                "target_entity_id",
                "target_name",
                "held_out_alias",
                "how",
            ]
        )
        for number, p in enumerate(pairs, start=1):
            writer.writerow(
                [
                    f"p{number:04d}",
                    split_of(p.target.entity_id),
                    p.cls,
                    p.label,
                    p.query,
                    p.query_type,
                    p.query_dob,
                    p.query_country,
                    p.target.entity_id,
                    p.target.name,
                    p.held_out_alias,
                    p.how,
                ]
            )
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for p in pairs:
        counts[(p.cls, split_of(p.target.entity_id))] += 1
    for (cls, split), n in sorted(counts.items()):
        print(f"{cls:55s} {split:5s} {n}")
    print(f"{len(pairs)} pairs written to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
