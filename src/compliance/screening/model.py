"""The normalised entity model every list loader produces and the index consumes."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class EntityType(StrEnum):
    PERSON = "person"
    ENTITY = "entity"  # company, organisation, government body, group
    VESSEL = "vessel"
    AIRCRAFT = "aircraft"
    UNKNOWN = "unknown"


class AliasType(StrEnum):
    PRIMARY = "primary"  # the listed name itself (used on hits, never stored as an alias)
    AKA = "aka"  # also known as
    FKA = "fka"  # formerly known as
    NKA = "nka"  # now known as
    WEAK = "weak"  # low-quality alias: nickname, short form, partial name
    ORIGINAL_SCRIPT = "original-script"  # the name as written in its own script


@dataclass(frozen=True, slots=True)
class Alias:
    name: str
    alias_type: AliasType = AliasType.AKA


@dataclass(frozen=True, slots=True, order=True)
class PartialDate:
    """A date of which only the year, or the year and month, may be known."""

    year: int
    month: int | None = None
    day: int | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.year <= 9999:
            raise ValueError(f"year out of range: {self.year}")
        if self.month is not None and not 1 <= self.month <= 12:
            raise ValueError(f"month out of range: {self.month}")
        if self.day is not None and (self.month is None or not 1 <= self.day <= 31):
            raise ValueError(f"day out of range: {self.day}")

    @property
    def is_full(self) -> bool:
        return self.day is not None

    def __str__(self) -> str:
        text = f"{self.year:04d}"
        if self.month is not None:
            text += f"-{self.month:02d}"
            if self.day is not None:
                text += f"-{self.day:02d}"
        return text


@dataclass(frozen=True, slots=True)
class DateOfBirth:
    """One listed date of birth: a (partial) date, a range of them, or an approximate one."""

    start: PartialDate
    end: PartialDate | None = None  # inclusive end of a range ("1960 to 1962")
    circa: bool = False

    @property
    def first_year(self) -> int:
        return self.start.year

    @property
    def last_year(self) -> int:
        return self.end.year if self.end is not None else self.start.year

    def __str__(self) -> str:
        text = str(self.start) if self.end is None else f"{self.start}/{self.end}"
        return f"circa {text}" if self.circa else text


@dataclass(frozen=True, slots=True)
class Address:
    street: str = ""
    city: str = ""
    region: str = ""
    postal_code: str = ""
    country: str = ""  # ISO 3166 alpha-2 where recognised, else the listed text

    def __str__(self) -> str:
        parts = (self.street, self.city, self.region, self.postal_code, self.country)
        return ", ".join(p for p in parts if p)


@dataclass(frozen=True, slots=True)
class Entity:
    """One listed person, organisation, vessel or aircraft, whatever list it came from."""

    entity_id: str  # unique across lists: "<source>:<source_id>"
    source: str  # "OFAC-SDN", "OFAC-CONS", "UN-SC", "EU-FSF", "UK-OFSI", "OPENSANCTIONS", ...
    source_id: str  # the list's own identifier (OFAC ent_num, UN reference number, ...)
    list_version: str  # version of the list file(s) the entity was read from
    entity_type: EntityType
    name: str
    aliases: tuple[Alias, ...] = ()
    dates_of_birth: tuple[DateOfBirth, ...] = ()
    places_of_birth: tuple[str, ...] = ()
    nationalities: tuple[str, ...] = ()  # ISO alpha-2 where recognised
    countries: tuple[str, ...] = ()  # other linked countries (residence, jurisdiction, flag)
    addresses: tuple[Address, ...] = ()
    programs: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()  # "sanction", "role.pep", ...
    remarks: str = ""

    @property
    def is_pep(self) -> bool:
        return any(topic.startswith("role.pep") for topic in self.topics)

    def all_names(self) -> tuple[tuple[str, AliasType], ...]:
        return ((self.name, AliasType.PRIMARY), *((a.name, a.alias_type) for a in self.aliases))


def _canonical(entity: Entity) -> dict[str, Any]:
    """Entity content in an order-independent form (list order in a file is not meaning)."""
    return {
        "id": entity.entity_id,
        "type": entity.entity_type.value,
        "name": entity.name,
        "aliases": sorted([a.name, a.alias_type.value] for a in entity.aliases),
        "dob": sorted(str(d) for d in entity.dates_of_birth),
        "pob": sorted(entity.places_of_birth),
        "nationalities": sorted(entity.nationalities),
        "countries": sorted(entity.countries),
        "addresses": sorted(str(a) for a in entity.addresses),
        "programs": sorted(entity.programs),
        "topics": sorted(entity.topics),
        "remarks": entity.remarks,
    }


def entity_version(entity: Entity) -> str:
    """A stable hash of what the list says about the entity.

    It ignores the list version (a new file in which this entity did not change keeps the
    same version) and the order of repeated fields, but changes with any content change, so
    an officer's clearance given against one version no longer applies to a changed entity.
    """
    payload = json.dumps(_canonical(entity), ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class SanctionsList:
    """The entities read from one list (one file or one file set) and where they came from."""

    source: str
    sha256: str  # of the file bytes, in the order of ``files``
    published: str | None  # publish/generation date found in the file, if any
    files: tuple[str, ...]
    entities: tuple[Entity, ...] = field(default=(), repr=False)

    @property
    def version(self) -> str:
        return make_list_version(self.sha256, self.published)

    def __len__(self) -> int:
        return len(self.entities)


def make_list_version(sha256: str, published: str | None) -> str:
    version = f"sha256:{sha256}"
    return f"{version};published:{published}" if published else version
