"""OFAC's legacy CSV file sets: the SDN list and the consolidated (non-SDN) list.

Files have no header row; ``-0-`` means empty; the last byte may be a DOS end-of-file mark.

- primary (sdn.csv / cons_prim.csv): ent_num, name, type, program, title, call sign,
  vessel type, tonnage, GRT, vessel flag, vessel owner, remarks
- alt (alt.csv / cons_alt.csv): ent_num, alt_num, alt_type, alt_name, alt_remarks
- add (add.csv / cons_add.csv): ent_num, add_num, address, city/state/postal, country,
  add_remarks
- comments (sdn_comments.csv / cons_comments.csv): ent_num, continuation of the remarks
  that did not fit the primary file's remarks column

Dates of birth, places of birth, nationality and low-quality ("weak") a.k.a.s are only
given inside the remarks ("DOB 12 Jan 1960; POB Minsk, Belarus; a.k.a. 'SASHA'"), so they
are parsed from there.
"""

from __future__ import annotations

import re
from pathlib import Path

from compliance.screening.countries import normalise_country
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

_EMPTY = "-0-"
_TYPES = {
    "individual": EntityType.PERSON,
    "vessel": EntityType.VESSEL,
    "aircraft": EntityType.AIRCRAFT,
    "": EntityType.ENTITY,
}
_ALIAS_TYPES = {"aka": AliasType.AKA, "fka": AliasType.FKA, "nka": AliasType.NKA}
_DOB = re.compile(r"(?:^|;)\s*(?:alt\.\s+)?DOB\s+([^;]+)")
_POB = re.compile(r"(?:^|;)\s*(?:alt\.\s+)?POB\s+([^;]+)")
_NATIONALITY = re.compile(r"(?:^|;)\s*(?:alt\.\s+)?(?:nationality|citizen)\s+([^;]+)")
_WEAK_AKA = re.compile(r"\b([afn])\.k\.a\.,?\s+'(.+?)'(?=\s*(?:;|\.?\s*$|\.\s|,))")


def _field(value: str) -> str:
    value = value.strip()
    return "" if value == _EMPTY else value


def load_ofac_sdn(
    sdn: str | Path,
    alt: str | Path | None = None,
    add: str | Path | None = None,
    comments: str | Path | None = None,
) -> SanctionsList:
    """The SDN list from sdn.csv (+ alt.csv, add.csv, sdn_comments.csv when given)."""
    return load_ofac_csv(sdn, alt, add, comments, source="OFAC-SDN")


def load_ofac_consolidated(
    prim: str | Path,
    alt: str | Path | None = None,
    add: str | Path | None = None,
    comments: str | Path | None = None,
) -> SanctionsList:
    """The consolidated non-SDN list from cons_prim.csv (+ cons_alt, cons_add, comments)."""
    return load_ofac_csv(prim, alt, add, comments, source="OFAC-CONS")


def load_ofac_csv(
    primary: str | Path,
    alt: str | Path | None,
    add: str | Path | None,
    comments: str | Path | None,
    *,
    source: str,
) -> SanctionsList:
    paths = [Path(p) for p in (primary, alt, add, comments) if p is not None]
    blobs = {path: read_bytes(path) for path in paths}
    version = make_list_version(digest(list(blobs.values())), None)
    builders: dict[str, EntityBuilder] = {}
    remarks: dict[str, str] = {}

    primary = Path(primary)
    for line, row in csv_rows(primary, decode(blobs[primary]), columns=12):
        ent_num = _ent_num(primary, line, row[0])
        if ent_num in builders:
            raise ListLoadError(primary, f"duplicate ent_num {ent_num}", line=line)
        kind = _field(row[2]).casefold()
        if kind not in _TYPES:
            raise ListLoadError(primary, f"unknown SDN type {row[2]!r}", line=line)
        name = _field(row[1])
        if not name:
            raise ListLoadError(primary, f"ent_num {ent_num} has no name", line=line)
        builder = EntityBuilder(source, ent_num, version, _TYPES[kind], name)
        builder.add_topic("sanction")
        for program in _field(row[3]).strip("[]").split("] ["):
            builder.add_program(program)
        _vessel_details(builder, row)
        builders[ent_num] = builder
        remarks[ent_num] = _field(row[11])

    if comments is not None:
        comments = Path(comments)
        for line, row in csv_rows(comments, decode(blobs[comments]), columns=2):
            ent_num = _known(comments, line, row[0], builders)
            remarks[ent_num] += row[1]
    if alt is not None:
        alt = Path(alt)
        for line, row in csv_rows(alt, decode(blobs[alt]), columns=5):
            ent_num = _known(alt, line, row[0], builders)
            alias_type = _ALIAS_TYPES.get(_field(row[2]).casefold(), AliasType.AKA)
            builders[ent_num].add_alias(_field(row[3]), alias_type)
    if add is not None:
        add = Path(add)
        for line, row in csv_rows(add, decode(blobs[add]), columns=6):
            ent_num = _known(add, line, row[0], builders)
            country = _field(row[4])
            address = Address(
                street=_field(row[2]),
                city=_field(row[3]),
                country=normalise_country(country) if country else "",
            )
            builders[ent_num].add_address(address)

    for ent_num, builder in builders.items():
        _parse_remarks(builder, remarks[ent_num])
    return SanctionsList(
        source=source,
        sha256=version.removeprefix("sha256:"),
        published=None,
        files=tuple(str(p) for p in paths),
        entities=tuple(b.build() for b in builders.values()),
    )


def _ent_num(path: Path, line: int, value: str) -> str:
    value = value.strip()
    if not value.isdigit():
        raise ListLoadError(path, f"ent_num {value!r} is not a number", line=line)
    return value


def _known(path: Path, line: int, value: str, builders: dict[str, EntityBuilder]) -> str:
    ent_num = _ent_num(path, line, value)
    if ent_num not in builders:
        raise ListLoadError(path, f"ent_num {ent_num} is not in the primary file", line=line)
    return ent_num


def _vessel_details(builder: EntityBuilder, row: list[str]) -> None:
    labels = ("Title", "Call sign", "Vessel type", "Tonnage", "GRT", "Flag", "Owner")
    values = [_field(v) for v in row[4:11]]
    details = [f"{label}: {v}" for label, v in zip(labels, values, strict=True) if v]
    if details:
        builder.add_remark("; ".join(details))
    if flag := _field(row[9]):
        builder.add_country(flag)


def _parse_remarks(builder: EntityBuilder, remarks: str) -> None:
    remarks = " ".join(remarks.split())
    if not remarks:
        return
    builder.add_remark(remarks)
    for match in _DOB.finditer(remarks):
        builder.add_dob(match.group(1))
    for match in _POB.finditer(remarks):
        builder.add_place_of_birth(match.group(1))
    for match in _NATIONALITY.finditer(remarks):
        builder.add_nationality(match.group(1))
    for match in _WEAK_AKA.finditer(remarks):
        kind = {"a": AliasType.WEAK, "f": AliasType.FKA, "n": AliasType.NKA}[match.group(1)]
        builder.add_alias(match.group(2), kind)
