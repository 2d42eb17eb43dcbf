"""The EU consolidated list of persons, groups and entities subject to financial sanctions
(FSF), XML export (namespace ``http://eu.europa.ec/fpi/fsd/export``).

Written from the published structure; tested on fixture files written for this project:

``export[@generationDate]/sanctionEntity[@logicalId, @euReferenceNumber, @unitedNationId]``
with children ``subjectType[@code = person|enterprise]``, ``nameAlias[@wholeName,
@firstName, @middleName, @lastName, @strong, @nameLanguage]`` (the first is the main name),
``citizenship[@countryIso2Code, @countryDescription]``, ``birthdate[@birthdate, @year,
@monthOfYear, @dayOfMonth, @circa, @yearRangeFrom, @yearRangeTo, @city, @countryIso2Code]``,
``address[@street, @city, @zipCode, @region, @countryIso2Code, @countryDescription]``,
``regulation[@programme]`` and ``remark``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from compliance.screening.countries import normalise_country
from compliance.screening.dates import parse_partial_date
from compliance.screening.errors import ListLoadError
from compliance.screening.loaders._builder import EntityBuilder
from compliance.screening.loaders._io import digest, read_bytes, text_of, xml_records
from compliance.screening.model import (
    Address,
    AliasType,
    DateOfBirth,
    EntityType,
    PartialDate,
    SanctionsList,
    make_list_version,
)
from compliance.screening.translit import has_non_latin

SOURCE = "EU-FSF"
_TYPES = {"person": EntityType.PERSON, "enterprise": EntityType.ENTITY}


def load_eu_consolidated(path: str | Path) -> SanctionsList:
    path = Path(path)
    data = read_bytes(path)
    sha = digest([data])
    published: str | None = None
    version = ""
    builders: dict[str, EntityBuilder] = {}
    for line, record, root in xml_records(path, data, frozenset({"sanctionEntity"})):
        if not version:
            published = root.get("generationDate") or None
            version = make_list_version(sha, published)
        where = f"sanctionEntity #{len(builders) + 1}"
        builder = _entity(path, line, where, record, version)
        if builder.source_id in builders:
            raise ListLoadError(path, f"duplicate logicalId {builder.source_id}", line=line,
                                element=where)  # fmt: skip
        builders[builder.source_id] = builder
    if not builders:
        raise ListLoadError(path, "no sanctionEntity records found")
    return SanctionsList(
        source=SOURCE,
        sha256=sha,
        published=published,
        files=(str(path),),
        entities=tuple(b.build() for b in builders.values()),
    )


def _name(alias: ET.Element) -> str:
    whole = " ".join((alias.get("wholeName") or "").split())
    if whole:
        return whole
    parts = (alias.get(k) or "" for k in ("firstName", "middleName", "lastName"))
    return " ".join(p.strip() for p in parts if p.strip())


def _entity(path: Path, line: int, where: str, record: ET.Element, version: str) -> EntityBuilder:
    logical_id = (record.get("logicalId") or "").strip()
    if not logical_id:
        raise ListLoadError(path, "sanctionEntity has no logicalId", line=line, element=where)
    subject = record.find("subjectType")
    code = (subject.get("code") if subject is not None else "") or ""
    kind = _TYPES.get(code.strip().casefold(), EntityType.UNKNOWN)
    names = [(n, a) for a in record.findall("nameAlias") if (n := _name(a))]
    if not names:
        raise ListLoadError(path, f"sanctionEntity {logical_id} has no nameAlias with a name",
                            line=line, element=where)  # fmt: skip
    builder = EntityBuilder(SOURCE, logical_id, version, kind, names[0][0])
    builder.add_topic("sanction")
    for name, alias in names[1:]:
        if has_non_latin(name):
            alias_type = AliasType.ORIGINAL_SCRIPT
        elif (alias.get("strong") or "true").casefold() == "false":
            alias_type = AliasType.WEAK
        else:
            alias_type = AliasType.AKA
        builder.add_alias(name, alias_type)
    for reg in record.findall("regulation"):
        builder.add_program(reg.get("programme") or "")
    for cit in record.findall("citizenship"):
        builder.add_nationality(cit.get("countryIso2Code") or cit.get("countryDescription") or "")
    for birth in record.findall("birthdate"):
        builder.add_dob(_birthdate(birth))
        known_country = (birth.get("countryIso2Code") or "00") != "00"
        country = birth.get("countryDescription") if known_country else ""
        place = ", ".join(p for p in (birth.get("city"), birth.get("place"), country) if p)
        builder.add_place_of_birth(place)
    for addr in record.findall("address"):
        country = addr.get("countryIso2Code") or addr.get("countryDescription") or ""
        builder.add_address(
            Address(
                street=addr.get("street") or "",
                city=addr.get("city") or "",
                region=addr.get("region") or "",
                postal_code=addr.get("zipCode") or "",
                country=normalise_country(country) if country not in ("", "00") else "",
            )
        )
    refs = [f"EU ref {record.get('euReferenceNumber') or '-'}"]
    if un_id := record.get("unitedNationId"):
        refs.append(f"UN ref {un_id}")
    builder.add_remark("; ".join(refs))
    builder.add_remark(text_of(record.find("remark")))
    return builder


def _birthdate(elem: ET.Element) -> DateOfBirth | None:
    circa = (elem.get("circa") or "").casefold() == "true"
    low, high = elem.get("yearRangeFrom"), elem.get("yearRangeTo")
    if low and high and low.isdigit() and high.isdigit() and int(low) <= int(high):
        return DateOfBirth(PartialDate(int(low)), PartialDate(int(high)), circa)
    date = parse_partial_date(elem.get("birthdate") or "")
    if date is None and (year := elem.get("year") or "").isdigit():
        month, day = elem.get("monthOfYear") or "", elem.get("dayOfMonth") or ""
        text = f"{year}-{month}-{day}" if month and day else f"{year}-{month}" if month else year
        date = parse_partial_date(text)
    return DateOfBirth(date, circa=circa) if date is not None else None
