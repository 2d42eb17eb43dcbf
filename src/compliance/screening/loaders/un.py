"""The UN Security Council consolidated list, official XML.

``CONSOLIDATED_LIST/INDIVIDUALS/INDIVIDUAL`` and ``CONSOLIDATED_LIST/ENTITIES/ENTITY``
records: name parts FIRST_NAME..FOURTH_NAME, NAME_ORIGINAL_SCRIPT, *_ALIAS (QUALITY,
ALIAS_NAME), NATIONALITY/VALUE, INDIVIDUAL_DATE_OF_BIRTH (TYPE_OF_DATE with DATE, YEAR or
FROM_YEAR/TO_YEAR), *_ADDRESS, INDIVIDUAL_PLACE_OF_BIRTH, UN_LIST_TYPE, REFERENCE_NUMBER,
COMMENTS1. The root's ``dateGenerated`` attribute is the publish date.
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
    SanctionsList,
    make_list_version,
)
from compliance.screening.translit import has_non_latin

_RECORDS = frozenset({"INDIVIDUAL", "ENTITY"})
_QUALITY = {
    "good": AliasType.AKA,
    "a.k.a.": AliasType.AKA,
    "low": AliasType.WEAK,
    "f.k.a.": AliasType.FKA,
    "": AliasType.AKA,
}
_NAME_PARTS = ("FIRST_NAME", "SECOND_NAME", "THIRD_NAME", "FOURTH_NAME")


def load_un_consolidated(path: str | Path) -> SanctionsList:
    path = Path(path)
    data = read_bytes(path)
    sha = digest([data])
    published: str | None = None
    version = ""
    builders: list[EntityBuilder] = []
    seen: set[str] = set()
    for line, record, root in xml_records(path, data, _RECORDS):
        if not version:
            published = root.get("dateGenerated") or None
            version = make_list_version(sha, published)
        where = f"{record.tag} #{len(builders) + 1}"
        builder = _record(path, line, where, record, version)
        if builder.source_id in seen:
            raise ListLoadError(
                path, f"duplicate reference {builder.source_id}", line=line, element=where
            )
        seen.add(builder.source_id)
        builders.append(builder)
    if not builders:
        raise ListLoadError(path, "no INDIVIDUAL or ENTITY records found")
    return SanctionsList(
        source="UN-SC",
        sha256=sha,
        published=published,
        files=(str(path),),
        entities=tuple(b.build() for b in builders),
    )


def _record(path: Path, line: int, where: str, record: ET.Element, version: str) -> EntityBuilder:
    ref = text_of(record.find("REFERENCE_NUMBER")) or text_of(record.find("DATAID"))
    name = " ".join(p for p in (text_of(record.find(tag)) for tag in _NAME_PARTS) if p)
    if not ref:
        raise ListLoadError(path, "record has no REFERENCE_NUMBER or DATAID", line=line,
                            element=where)  # fmt: skip
    if not name:
        raise ListLoadError(path, f"record {ref} has no name", line=line, element=where)
    is_person = record.tag == "INDIVIDUAL"
    kind = EntityType.PERSON if is_person else EntityType.ENTITY
    builder = EntityBuilder("UN-SC", ref, version, kind, name)
    builder.add_topic("sanction")
    builder.add_program(text_of(record.find("UN_LIST_TYPE")))

    for script in record.findall("NAME_ORIGINAL_SCRIPT"):
        text = text_of(script)  # some hold a Latin-script form: an ordinary alias then
        builder.add_alias(text, AliasType.ORIGINAL_SCRIPT if has_non_latin(text) else AliasType.AKA)
    for alias in record.findall(f"{record.tag}_ALIAS"):
        quality = text_of(alias.find("QUALITY")).casefold()
        alias_type = _QUALITY.get(quality, AliasType.AKA)
        # a few alias fields hold several names separated by semicolons
        for alias_name in text_of(alias.find("ALIAS_NAME")).split(";"):
            builder.add_alias(alias_name, alias_type)
        if dob := parse_partial_date(text_of(alias.find("DATE_OF_BIRTH"))):
            builder.add_dob(DateOfBirth(dob))
    for value in record.findall("NATIONALITY/VALUE"):
        builder.add_nationality(text_of(value))
    for dob_elem in record.findall("INDIVIDUAL_DATE_OF_BIRTH"):
        builder.add_dob(_date_of_birth(dob_elem))
    for pob in record.findall("INDIVIDUAL_PLACE_OF_BIRTH"):
        parts = (text_of(pob.find(t)) for t in ("CITY", "STATE_PROVINCE", "COUNTRY"))
        builder.add_place_of_birth(", ".join(p for p in parts if p))
    for addr in record.findall(f"{record.tag}_ADDRESS"):
        builder.add_address(
            Address(
                street=text_of(addr.find("STREET")),
                city=text_of(addr.find("CITY")),
                region=text_of(addr.find("STATE_PROVINCE")),
                postal_code=text_of(addr.find("ZIP_CODE")),
                country=normalise_country(text_of(addr.find("COUNTRY"))),
            )
        )
    for tag in ("TITLE", "DESIGNATION"):
        values = [text_of(v) for v in record.findall(f"{tag}/VALUE") if text_of(v)]
        if values:
            builder.add_remark(f"{tag.title()}: {'; '.join(values)}")
    builder.add_remark(text_of(record.find("COMMENTS1")))
    return builder


def _date_of_birth(elem: ET.Element) -> DateOfBirth | None:
    kind = text_of(elem.find("TYPE_OF_DATE")).upper()
    circa = kind == "APPROXIMATELY"
    if kind == "BETWEEN":
        start = parse_partial_date(text_of(elem.find("FROM_YEAR")))
        end = parse_partial_date(text_of(elem.find("TO_YEAR")))
        if start is None or end is None or end < start:
            return None
        return DateOfBirth(start, end)
    date = parse_partial_date(text_of(elem.find("DATE")) or text_of(elem.find("YEAR")))
    return DateOfBirth(date, circa=circa) if date is not None else None
