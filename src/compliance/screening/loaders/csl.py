"""The US Consolidated Screening List (trade.gov) CSV export.

One header row; one row per listed party from several US lists (SDN, SSI, Entity List,
Denied Persons, ...). Multi-valued fields (alt_names, programs, addresses, dates_of_birth,
nationalities, citizenships, places_of_birth) are separated by semicolons; countries are
ISO codes. Rows of lists without numbers (entity_number empty) are identified by a hash
of their source and name, which is stable as long as the row does not change.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from compliance.screening.errors import ListLoadError
from compliance.screening.loaders._builder import EntityBuilder
from compliance.screening.loaders._io import csv_rows, decode, digest, read_bytes
from compliance.screening.model import (
    Address,
    AliasType,
    EntityType,
    SanctionsList,
    make_list_version,
)

SOURCE = "US-CSL"
_TYPES = {
    "individual": EntityType.PERSON,
    "entity": EntityType.ENTITY,
    "vessel": EntityType.VESSEL,
    "aircraft": EntityType.AIRCRAFT,
}
_REQUIRED = ("source", "name", "alt_names", "type")


def _multi(value: str) -> list[str]:
    return [v.strip() for v in value.split(";") if v.strip()]


def load_us_csl(path: str | Path) -> SanctionsList:
    path = Path(path)
    data = read_bytes(path)
    sha = digest([data])
    version = make_list_version(sha, None)
    builders: dict[str, EntityBuilder] = {}
    header: list[str] | None = None
    for line, row in csv_rows(path, decode(data)):
        if header is None:
            header = [h.strip() for h in row]
            missing = [c for c in _REQUIRED if c not in header]
            if missing:
                raise ListLoadError(path, f"header lacks {', '.join(missing)}", line=line)
            continue
        if len(row) != len(header):
            raise ListLoadError(
                path, f"expected {len(header)} fields, found {len(row)} (truncated?)", line=line
            )
        rec = dict(zip(header, row, strict=True))
        name = " ".join(rec["name"].split())
        if not name:
            raise ListLoadError(path, "row without a name", line=line)
        number = rec.get("entity_number", "").strip() or rec.get("id", "").strip()
        if not number:
            number = hashlib.sha256(f"{rec['source']}|{name}".encode()).hexdigest()[:16]
        if number in builders:
            number = f"{number}-{line}"
        kind = _TYPES.get(rec["type"].strip().casefold(), EntityType.UNKNOWN)
        builder = EntityBuilder(SOURCE, number, version, kind, name)
        builder.add_topic("sanction")
        for alias in _multi(rec["alt_names"]):
            builder.add_alias(alias, AliasType.AKA)
        for program in _multi(rec.get("programs", "")):
            builder.add_program(program)
        for dob in _multi(rec.get("dates_of_birth", "")):
            builder.add_dob(dob)
        for key in ("nationalities", "citizenships"):
            for country in _multi(rec.get(key, "")):
                builder.add_nationality(country)
        for place in _multi(rec.get("places_of_birth", "")):
            builder.add_place_of_birth(place)
        for address in _multi(rec.get("addresses", "")):
            parts = [p.strip() for p in address.split(",")]
            country = parts[-1] if len(parts) > 1 and len(parts[-1]) == 2 else ""
            builder.add_address(Address(street=address, country=country))
        builder.add_remark(f"Listed by: {rec['source'].strip()}")
        builder.add_remark(rec.get("remarks", ""))
        builders[number] = builder
    if not builders:
        raise ListLoadError(path, "no rows found")
    return SanctionsList(
        source=SOURCE,
        sha256=sha,
        published=None,
        files=(str(path),),
        entities=tuple(b.build() for b in builders.values()),
    )
