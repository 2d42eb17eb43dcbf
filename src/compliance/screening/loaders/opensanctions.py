"""OpenSanctions exports: FollowTheMoney entities (JSON lines) and Senzing-style JSON.

FollowTheMoney (``entities.ftm.json`` / ``targets.nested.json``): one object per line with
``id``, ``schema`` and ``properties`` (every property a list: name, alias, weakAlias,
previousName, birthDate, nationality, citizenship, country, address, birthPlace, topics,
program, notes, position, flag, ...). Only the schemata that can be screened against are
kept; in the nested form ``properties.sanctions`` holds Sanction objects with a program.

Senzing (``senzing.json``): one record per line, or a JSON array, with DATA_SOURCE,
RECORD_ID, RECORD_TYPE and feature attributes either flat on the record (NAME_FULL,
NAME_FIRST/NAME_LAST, NAME_ORG, DATE_OF_BIRTH, NATIONALITY, ADDR_*) or in lists of feature
objects (NAMES: [{NAME_TYPE, NAME_FULL}], ...). PEP records are recognised by their data
source or a ``role.pep`` risk topic.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from compliance.screening.countries import normalise_country
from compliance.screening.errors import ListLoadError
from compliance.screening.loaders._builder import EntityBuilder
from compliance.screening.loaders._io import decode, digest, read_bytes
from compliance.screening.model import (
    Address,
    AliasType,
    EntityType,
    SanctionsList,
    make_list_version,
)
from compliance.screening.translit import has_non_latin

SOURCE = "OPENSANCTIONS"

_FTM_TYPES = {
    "Person": EntityType.PERSON,
    "Organization": EntityType.ENTITY,
    "Company": EntityType.ENTITY,
    "LegalEntity": EntityType.ENTITY,
    "PublicBody": EntityType.ENTITY,
    "Vessel": EntityType.VESSEL,
    "Airplane": EntityType.AIRCRAFT,
}
_FTM_ALIASES = (
    ("alias", AliasType.AKA),
    ("weakAlias", AliasType.WEAK),
    ("previousName", AliasType.FKA),
)
_SENZING_TYPES = {
    "PERSON": EntityType.PERSON,
    "ORGANIZATION": EntityType.ENTITY,
    "ORGANISATION": EntityType.ENTITY,
    "VESSEL": EntityType.VESSEL,
    "AIRCRAFT": EntityType.AIRCRAFT,
}


def _json_lines(path: Path, text: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """Objects of a JSON-lines file, or of a file holding one JSON array of objects."""
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            items = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ListLoadError(path, f"malformed JSON ({exc.msg})", line=exc.lineno) from exc
        for number, item in enumerate(items, start=1):
            if not isinstance(item, dict):
                raise ListLoadError(path, "array item is not an object", element=f"[{number}]")
            yield number, item
        return
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ListLoadError(path, f"malformed JSON ({exc.msg})", line=number) from exc
        if not isinstance(item, dict):
            raise ListLoadError(path, "line is not a JSON object", line=number)
        yield number, item


def _strings(values: Any) -> list[str]:
    if isinstance(values, str):
        return [values]
    if isinstance(values, list):
        return [v for v in values if isinstance(v, str)]
    return []


def _script_aware(name: str, alias_type: AliasType) -> AliasType:
    return AliasType.ORIGINAL_SCRIPT if has_non_latin(name) else alias_type


def load_opensanctions_ftm(path: str | Path, *, source: str = SOURCE) -> SanctionsList:
    """FollowTheMoney JSON lines (plain or nested)."""
    path = Path(path)
    data = read_bytes(path)
    sha = digest([data])
    version = make_list_version(sha, None)
    builders: dict[str, EntityBuilder] = {}
    for line, item in _json_lines(path, decode(data)):
        entity_id, schema = item.get("id"), item.get("schema")
        props = item.get("properties")
        if not isinstance(entity_id, str) or not isinstance(schema, str):
            raise ListLoadError(path, "entity without id or schema", line=line)
        if not isinstance(props, dict):
            raise ListLoadError(path, f"entity {entity_id} has no properties", line=line)
        kind = _FTM_TYPES.get(schema)
        names = _strings(props.get("name"))
        if kind is None or not names:
            continue  # addresses, sanctions, relationships: not screenable on their own
        builder = EntityBuilder(source, entity_id, version, kind, names[0])
        for name in names[1:]:
            builder.add_alias(name, _script_aware(name, AliasType.AKA))
        for prop, alias_type in _FTM_ALIASES:
            for name in _strings(props.get(prop)):
                builder.add_alias(name, _script_aware(name, alias_type))
        for value in _strings(props.get("birthDate")):
            builder.add_dob(value)
        for prop in ("nationality", "citizenship"):
            for value in _strings(props.get(prop)):
                builder.add_nationality(value)
        for prop in ("country", "jurisdiction", "flag", "mainCountry"):
            for value in _strings(props.get(prop)):
                builder.add_country(value)
        for value in _strings(props.get("address")):
            builder.add_address(Address(street=value))
        for value in _strings(props.get("birthPlace")):
            builder.add_place_of_birth(value)
        for value in _strings(props.get("topics")):
            builder.add_topic(value)
        for value in _strings(props.get("program")) + _strings(props.get("programId")):
            builder.add_program(value)
        for sanction in props.get("sanctions") or []:
            if isinstance(sanction, dict):
                sprops = sanction.get("properties") or {}
                for value in _strings(sprops.get("program")) or _strings(sprops.get("programId")):
                    builder.add_program(value)
        for prop in ("position", "notes"):
            for value in _strings(props.get(prop)):
                builder.add_remark(value)
        builders[entity_id] = builder
    return _result(path, sha, source, builders)


def load_opensanctions_senzing(path: str | Path, *, source: str = SOURCE) -> SanctionsList:
    """Senzing-style records (JSON lines or one JSON array), including PEP data."""
    path = Path(path)
    data = read_bytes(path)
    sha = digest([data])
    version = make_list_version(sha, None)
    builders: dict[str, EntityBuilder] = {}
    for line, record in _json_lines(path, decode(data)):
        record_id = record.get("RECORD_ID")
        if not isinstance(record_id, str | int) or str(record_id) == "":
            raise ListLoadError(path, "record without RECORD_ID", line=line)
        features = [record] + [
            f for value in record.values() if isinstance(value, list)
            for f in value if isinstance(f, dict)
        ]  # fmt: skip
        names = [n for f in features if (n := _senzing_name(f))]
        if not names:
            raise ListLoadError(path, f"record {record_id} has no name", line=line)
        primary = next((n for n in names if n[1] == "PRIMARY"), names[0])
        kind_text = str(record.get("RECORD_TYPE") or "").upper()
        kind = _SENZING_TYPES.get(kind_text)
        if kind is None:
            kind = EntityType.ENTITY if primary[2] else EntityType.UNKNOWN
        builder = EntityBuilder(source, str(record_id), version, kind, primary[0])
        for name, name_type, _org in names:
            weak = name_type in ("WEAK", "NICKNAME")
            builder.add_alias(name, AliasType.WEAK if weak else AliasType.AKA)
        data_source = str(record.get("DATA_SOURCE") or "")
        if data_source:
            builder.add_program(data_source)
        topics = [str(f.get("TOPIC")) for f in features if f.get("TOPIC")]
        if "PEP" in data_source.upper():
            topics.append("role.pep")
        for topic in topics:
            builder.add_topic(topic)
        for feature in features:
            _senzing_attributes(builder, feature)
        builders[builder.source_id] = builder
    return _result(path, sha, source, builders)


def _senzing_name(feature: dict[str, Any]) -> tuple[str, str, bool] | None:
    name_type = str(feature.get("NAME_TYPE") or "PRIMARY").upper()
    if org := str(feature.get("NAME_ORG") or "").strip():
        return org, name_type, True
    if full := str(feature.get("NAME_FULL") or "").strip():
        return full, name_type, False
    parts = (feature.get(k) for k in ("NAME_FIRST", "NAME_MIDDLE", "NAME_LAST"))
    joined = " ".join(str(p).strip() for p in parts if p)
    return (joined, name_type, False) if joined else None


def _senzing_attributes(builder: EntityBuilder, feature: dict[str, Any]) -> None:
    for value in _strings(feature.get("DATE_OF_BIRTH")):
        builder.add_dob(value)
    for key in ("NATIONALITY", "CITIZENSHIP"):
        for value in _strings(feature.get(key)):
            builder.add_nationality(value)
    for key in ("REGISTRATION_COUNTRY", "COUNTRY_OF_ASSOCIATION"):
        for value in _strings(feature.get(key)):
            builder.add_country(value)
    for value in _strings(feature.get("PLACE_OF_BIRTH")):
        builder.add_place_of_birth(value)
    street = str(feature.get("ADDR_FULL") or feature.get("ADDR_LINE1") or "")
    city = str(feature.get("ADDR_CITY") or "")
    country = str(feature.get("ADDR_COUNTRY") or "")
    if street or city or country:
        builder.add_address(
            Address(
                street=street,
                city=city,
                region=str(feature.get("ADDR_STATE") or ""),
                postal_code=str(feature.get("ADDR_POSTAL_CODE") or ""),
                country=normalise_country(country),
            )
        )


def _result(path: Path, sha: str, source: str, builders: dict[str, EntityBuilder]) -> SanctionsList:
    if not builders:
        raise ListLoadError(path, "no screenable entities found")
    return SanctionsList(
        source=source,
        sha256=sha,
        published=None,
        files=(str(path),),
        entities=tuple(b.build() for b in builders.values()),
    )
