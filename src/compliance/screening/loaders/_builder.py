"""A mutable collector the loaders fill record by record, then freeze into an Entity."""

from __future__ import annotations

from dataclasses import dataclass, field

from compliance.screening.countries import normalise_country
from compliance.screening.dates import parse_date_of_birth
from compliance.screening.model import (
    Address,
    Alias,
    AliasType,
    DateOfBirth,
    Entity,
    EntityType,
)


def _add_unique(items: list[str], value: str) -> None:
    value = " ".join(value.split()).strip(" .;,")
    if value and value not in items:
        items.append(value)


@dataclass
class EntityBuilder:
    source: str
    source_id: str
    list_version: str
    entity_type: EntityType
    name: str
    aliases: list[Alias] = field(default_factory=list)
    dates_of_birth: list[DateOfBirth] = field(default_factory=list)
    places_of_birth: list[str] = field(default_factory=list)
    nationalities: list[str] = field(default_factory=list)
    countries: list[str] = field(default_factory=list)
    addresses: list[Address] = field(default_factory=list)
    programs: list[str] = field(default_factory=list)
    topics: list[str] = field(default_factory=list)
    remarks: list[str] = field(default_factory=list)

    def add_alias(self, name: str, alias_type: AliasType = AliasType.AKA) -> None:
        name = " ".join(name.split()).strip(" ;,")
        if not name or name.casefold() == self.name.casefold():
            return
        if any(a.name.casefold() == name.casefold() for a in self.aliases):
            return
        self.aliases.append(Alias(name, alias_type))

    def add_dob(self, value: DateOfBirth | str | None) -> None:
        dob = parse_date_of_birth(value) if isinstance(value, str) else value
        if dob is not None and dob not in self.dates_of_birth:
            self.dates_of_birth.append(dob)

    def add_nationality(self, text: str) -> None:
        if text.strip():
            _add_unique(self.nationalities, normalise_country(text.strip(" .;,")))

    def add_country(self, text: str) -> None:
        if text.strip():
            _add_unique(self.countries, normalise_country(text.strip(" .;,")))

    def add_address(self, address: Address) -> None:
        if str(address) and address not in self.addresses:
            self.addresses.append(address)
        if address.country:
            _add_unique(self.countries, address.country)

    def add_place_of_birth(self, text: str) -> None:
        _add_unique(self.places_of_birth, text)

    def add_program(self, text: str) -> None:
        _add_unique(self.programs, text)

    def add_topic(self, text: str) -> None:
        _add_unique(self.topics, text)

    def add_remark(self, text: str) -> None:
        text = text.strip()
        if text and text not in self.remarks:
            self.remarks.append(text)

    def build(self) -> Entity:
        return Entity(
            entity_id=f"{self.source}:{self.source_id}",
            source=self.source,
            source_id=self.source_id,
            list_version=self.list_version,
            entity_type=self.entity_type,
            name=" ".join(self.name.split()),
            aliases=tuple(self.aliases),
            dates_of_birth=tuple(self.dates_of_birth),
            places_of_birth=tuple(self.places_of_birth),
            nationalities=tuple(self.nationalities),
            countries=tuple(self.countries),
            addresses=tuple(self.addresses),
            programs=tuple(self.programs),
            topics=tuple(self.topics),
            remarks="\n".join(self.remarks),
        )
