"""The UK (OFSI) consolidated list of financial sanctions targets, CSV or XML.

Written from the published structure; tested on fixture files written for this project.
One row (CSV) or ``FinancialSanctionsTarget`` element (XML) per *name*; rows with the same
Group ID are one target. CSV: a "Last Updated,<dd/mm/yyyy>" line, then a header row with
"Name 6" (surname, or the whole name of an entity), "Name 1".."Name 5" (given names),
"Title", "Name Non-Latin Script", "DOB" (dd/mm/yyyy, 00 for unknown parts), "Town of
Birth", "Country of Birth", "Nationality", "Position", "Address 1".."Address 6",
"Post/Zip Code", "Country", "Other Information", "Group Type" (Individual, Entity, Ship),
"Alias Type" (Primary name, AKA, FKA, Primary name variation), "Alias Quality",
"Regime", "Listed On", "Last Updated", "Group ID". XML uses the same fields as element
names without spaces (Name6, GroupTypeDescription, RegimeName, ...).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from compliance.screening.countries import normalise_country
from compliance.screening.dates import parse_partial_date
from compliance.screening.errors import ListLoadError
from compliance.screening.loaders._builder import EntityBuilder
from compliance.screening.loaders._io import (
    csv_rows,
    decode,
    digest,
    read_bytes,
    text_of,
    xml_records,
)
from compliance.screening.model import (
    Address,
    AliasType,
    EntityType,
    SanctionsList,
    make_list_version,
)
from compliance.screening.translit import has_non_latin

SOURCE = "UK-OFSI"
_TYPES = {
    "individual": EntityType.PERSON,
    "entity": EntityType.ENTITY,
    "ship": EntityType.VESSEL,
}
_ALIAS_TYPES = {
    "primary name": AliasType.PRIMARY,
    "aka": AliasType.AKA,
    "fka": AliasType.FKA,
    "primary name variation": AliasType.AKA,
}
# XML element name -> CSV column name, where they are not the same once spaces are removed
_XML_FIELDS = {
    "GroupTypeDescription": "Group Type",
    "RegimeName": "Regime",
    "DateListed": "Listed On",
    "PostCode": "Post/Zip Code",
    "NameNonLatinScript": "Name Non-Latin Script",
}
_ENUMERATED = re.compile(r"\(\d+\)\s*")


def _split_enumerated(value: str) -> list[str]:
    """'(1) Russia (2) Ukraine' -> ['Russia', 'Ukraine']."""
    return [p.strip(" ,;") for p in _ENUMERATED.split(value) if p.strip(" ,;")]


def load_uk_consolidated(path: str | Path) -> SanctionsList:
    """The OFSI consolidated list from ConList.csv or ConList.xml (by content)."""
    path = Path(path)
    data = read_bytes(path)
    sha = digest([data])
    if data.lstrip(b"\xef\xbb\xbf \r\n\t").startswith(b"<"):
        published, rows = _xml_rows(path, data)
    else:
        published, rows = _csv_rows(path, decode(data))
    version = make_list_version(sha, published)
    builders = _targets(path, version, rows)
    return SanctionsList(
        source=SOURCE,
        sha256=sha,
        published=published,
        files=(str(path),),
        entities=tuple(b.build() for b in builders.values()),
    )


def _csv_rows(path: Path, text: str) -> tuple[str | None, list[tuple[int, dict[str, str]]]]:
    published: str | None = None
    header: list[str] | None = None
    rows: list[tuple[int, dict[str, str]]] = []
    for line, row in csv_rows(path, text):
        if header is None:
            if row[0].strip().casefold() == "last updated" and len(row) > 1:
                date = parse_partial_date(row[1])
                published = str(date) if date is not None else row[1].strip() or None
            elif row[0].strip() == "Name 6":
                header = [h.strip() for h in row]
            else:
                raise ListLoadError(path, "expected the 'Name 6,...' header row", line=line)
            continue
        if len(row) != len(header):
            raise ListLoadError(
                path, f"expected {len(header)} fields, found {len(row)} (truncated?)", line=line
            )
        rows.append((line, dict(zip(header, row, strict=True))))
    if header is None:
        raise ListLoadError(path, "no header row found")
    return published, rows


def _xml_rows(path: Path, data: bytes) -> tuple[str | None, list[tuple[int, dict[str, str]]]]:
    rows: list[tuple[int, dict[str, str]]] = []
    for line, record, _root in xml_records(path, data, frozenset({"FinancialSanctionsTarget"})):
        row: dict[str, str] = {}
        for child in record:
            name = _XML_FIELDS.get(child.tag) or re.sub(r"(?<=[a-z])(?=[A-Z0-9])", " ",
                                                        child.tag)  # fmt: skip
            row[name] = text_of(child)
        rows.append((line, row))
    published = max((r.get("Last Updated", "") for _, r in rows), default="") or None
    return published, rows


def _given_first(row: dict[str, str]) -> str:
    given = [row.get(f"Name {i}", "").strip() for i in range(1, 6)]
    return " ".join(p for p in [*given, row.get("Name 6", "").strip()] if p)


def _targets(
    path: Path, version: str, rows: Iterable[tuple[int, dict[str, str]]]
) -> dict[str, EntityBuilder]:
    builders: dict[str, EntityBuilder] = {}
    pending_aliases: dict[str, list[tuple[str, AliasType]]] = {}
    for line, row in rows:
        group = row.get("Group ID", "").strip()
        if not group:
            raise ListLoadError(path, "row without Group ID", line=line)
        name = _given_first(row)
        if not name:
            raise ListLoadError(path, f"Group ID {group}: row without a name", line=line)
        alias_kind = _ALIAS_TYPES.get(row.get("Alias Type", "").strip().casefold(), AliasType.AKA)
        if alias_kind is AliasType.AKA and row.get("Alias Quality", "").casefold() == "low":
            alias_kind = AliasType.WEAK
        builder = builders.get(group)
        if builder is None:
            kind = _TYPES.get(row.get("Group Type", "").strip().casefold(), EntityType.UNKNOWN)
            builder = EntityBuilder(SOURCE, group, version, kind, name)
            builder.add_topic("sanction")
            builders[group] = builder
            pending_aliases[group] = []
        if alias_kind is AliasType.PRIMARY and builder.name != name:
            pending_aliases[group].append((builder.name, AliasType.AKA))
            builder.name = name
        elif alias_kind is not AliasType.PRIMARY:
            pending_aliases[group].append((name, alias_kind))
        _row_details(builder, row)
    for group, aliases in pending_aliases.items():
        for alias_name, alias_type in aliases:
            builders[group].add_alias(alias_name, alias_type)
    if not builders:
        raise ListLoadError(path, "no targets found")
    return builders


def _row_details(builder: EntityBuilder, row: dict[str, str]) -> None:
    if script := row.get("Name Non-Latin Script", "").strip():
        alias_type = AliasType.ORIGINAL_SCRIPT if has_non_latin(script) else AliasType.AKA
        builder.add_alias(script, alias_type)
    for dob in _split_enumerated(row.get("DOB", "")):
        builder.add_dob(dob)
    for nationality in _split_enumerated(row.get("Nationality", "")):
        builder.add_nationality(nationality)
    place = ", ".join(
        p for p in (row.get("Town of Birth", "").strip(), row.get("Country of Birth", "").strip())
        if p
    )  # fmt: skip
    builder.add_place_of_birth(place)
    lines = [row.get(f"Address {i}", "").strip() for i in range(1, 7)]
    country = row.get("Country", "").strip()
    if any(lines) or country:
        builder.add_address(
            Address(
                street=", ".join(p for p in lines if p),
                postal_code=row.get("Post/Zip Code", "").strip(),
                country=normalise_country(country),
            )
        )
    builder.add_program(row.get("Regime", ""))
    for label in ("Title", "Position", "Other Information"):
        if value := row.get(label, "").strip():
            builder.add_remark(f"{label}: {value}")
