"""Loaders on the real bundled files (counts checked independently) and on fixtures."""

from __future__ import annotations

import csv
import hashlib
import re
import unicodedata
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import pytest

from compliance.screening import (
    AliasType,
    EntityType,
    ListLoadError,
    PartialDate,
    SanctionsList,
    load_eu_consolidated,
    load_ofac_consolidated,
    load_ofac_sdn,
    load_opensanctions_ftm,
    load_opensanctions_senzing,
    load_uk_consolidated,
    load_un_consolidated,
    load_us_csl,
)

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def _csv_records(path: Path, width: int) -> list[list[str]]:
    """Independent count: records of the expected width (the files end with a ^Z line)."""
    with path.open(encoding="latin-1", newline="") as handle:
        return [row for row in csv.reader(handle) if len(row) == width]


# ---- OFAC SDN ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sdn(data_dir: Path) -> SanctionsList:
    return load_ofac_sdn(
        data_dir / "ofac_sdn.csv",
        data_dir / "ofac_alt.csv",
        data_dir / "ofac_add.csv",
        data_dir / "ofac_sdn_comments.csv",
    )


def test_sdn_entity_count_matches_the_file(sdn: SanctionsList, data_dir: Path) -> None:
    rows = _csv_records(data_dir / "ofac_sdn.csv", 12)
    assert len(sdn.entities) == len(rows) == len({r[0] for r in rows})
    # SOURCES.md says 8,977 entries: that is the number of lines, the last of which is the
    # DOS end-of-file mark (^Z), not an entry.
    lines = (data_dir / "ofac_sdn.csv").read_bytes().splitlines()
    assert len(lines) == 8977 and lines[-1] == b"\x1a"
    assert len(sdn.entities) == 8976


def test_sdn_alias_counts_match_alt_csv(sdn: SanctionsList, data_dir: Path) -> None:
    alt_rows = _csv_records(data_dir / "ofac_alt.csv", 5)
    assert len(alt_rows) == 11910  # SOURCES.md's 11,911 again counts the ^Z line
    by_type = Counter(r[2].strip() for r in alt_rows)

    # every alt.csv row becomes an alias, except ones repeating the entity's own name or an
    # alias already given for it (case-insensitive)
    def key(name: str) -> str:
        return " ".join(name.split()).casefold()

    primary = {r[0]: key(r[1]) for r in _csv_records(data_dir / "ofac_sdn.csv", 12)}
    distinct: set[tuple[str, str, str]] = set()
    for ent, _num, kind, name, _rem in alt_rows:
        if key(name) != primary[ent]:
            distinct.add((ent, kind.strip(), key(name)))
    expected = Counter(kind for _e, kind, _n in distinct)
    assert set(by_type) == {"aka", "fka", "nka"}

    loaded_alt: Counter[str] = Counter()
    loaded_names = {(e.source_id, a.name.casefold()) for e in sdn.entities for a in e.aliases}
    for e in sdn.entities:
        for a in e.aliases:
            if a.alias_type in (AliasType.AKA, AliasType.FKA, AliasType.NKA):
                loaded_alt[a.alias_type.value] += 1
    assert all((ent, name) in loaded_names for ent, _k, name in distinct)
    assert loaded_alt["aka"] == expected["aka"]
    assert loaded_alt["nka"] == expected["nka"]
    # f.k.a. names also appear in remarks ("f.k.a. 'X'"), so there are at least as many
    assert loaded_alt["fka"] >= expected["fka"]


def test_sdn_weak_akas_come_from_remarks(sdn: SanctionsList, data_dir: Path) -> None:
    text = (data_dir / "ofac_sdn.csv").read_text(encoding="latin-1")
    text += (data_dir / "ofac_sdn_comments.csv").read_text(encoding="latin-1")
    quoted = len(re.findall(r"a\.k\.a\. '", text))
    weak = sum(1 for e in sdn.entities for a in e.aliases if a.alias_type is AliasType.WEAK)
    assert 0.98 * quoted <= weak <= quoted  # a few repeat a strong alias or the name
    bnc = next(e for e in sdn.entities if e.source_id == "306")
    assert ("BNC", AliasType.WEAK) in [(a.name, a.alias_type) for a in bnc.aliases]


def test_sdn_addresses_and_types(sdn: SanctionsList, data_dir: Path) -> None:
    rows = _csv_records(data_dir / "ofac_sdn.csv", 12)
    kinds = Counter(r[2].strip() for r in rows)
    loaded = Counter(e.entity_type for e in sdn.entities)
    assert loaded[EntityType.PERSON] == kinds["individual"]
    assert loaded[EntityType.VESSEL] == kinds["vessel"]
    assert loaded[EntityType.AIRCRAFT] == kinds["aircraft"]
    assert loaded[EntityType.ENTITY] == kinds["-0-"]
    add_rows = _csv_records(data_dir / "ofac_add.csv", 6)
    non_empty = {
        (r[0], r[2].strip(), r[3].strip(), r[4].strip())
        for r in add_rows
        if any(v.strip() != "-0-" for v in r[2:5])
    }
    assert sum(len(e.addresses) for e in sdn.entities) == len(non_empty)


def test_sdn_dob_pob_nationality_parsed_from_remarks(sdn: SanctionsList) -> None:
    by_id = {e.source_id: e for e in sdn.entities}
    tsertsel = by_id["32277"]  # "DOB 08 Sep 1966; POB Privalka, ...; nationality Belarus"
    assert [d.start for d in tsertsel.dates_of_birth] == [PartialDate(1966, 9, 8)]
    assert tsertsel.places_of_birth == ("Privalka, Grodno Oblast, Belarus",)
    assert tsertsel.nationalities == ("BY",)
    djibo = by_id["32391"]  # "DOB 1984"
    assert [str(d) for d in djibo.dates_of_birth] == ["1984"]
    persons = [e for e in sdn.entities if e.entity_type is EntityType.PERSON]
    with_dob_remark = [e for e in persons if "DOB " in e.remarks]
    parsed = [e for e in with_dob_remark if e.dates_of_birth]
    assert len(parsed) / len(with_dob_remark) > 0.99


def test_sdn_comments_continue_remarks(sdn: SanctionsList, data_dir: Path) -> None:
    by_id = {e.source_id: e for e in sdn.entities}
    for ent, extra in _csv_records(data_dir / "ofac_sdn_comments.csv", 2):
        assert " ".join(extra.split()) in by_id[ent].remarks
    li = by_id["28264"]
    assert "Linked To: LAZARUS GROUP" in li.remarks
    assert {"blackjack1987", "khaleesi"} <= {a.name for a in li.aliases}


def test_list_version_is_sha256_of_the_files(sdn: SanctionsList, data_dir: Path) -> None:
    sha = hashlib.sha256()
    for name in ("ofac_sdn.csv", "ofac_alt.csv", "ofac_add.csv", "ofac_sdn_comments.csv"):
        sha.update((data_dir / name).read_bytes())
    assert sdn.version == f"sha256:{sha.hexdigest()}"
    assert {e.list_version for e in sdn.entities} == {sdn.version}
    assert len({e.entity_id for e in sdn.entities}) == len(sdn.entities)


def test_ofac_consolidated_counts(data_dir: Path) -> None:
    cons = load_ofac_consolidated(
        data_dir / "ofac_cons_prim.csv",
        data_dir / "ofac_cons_alt.csv",
        data_dir / "ofac_cons_add.csv",
    )
    assert cons.source == "OFAC-CONS"
    assert len(cons.entities) == len(_csv_records(data_dir / "ofac_cons_prim.csv", 12)) == 442
    alt = _csv_records(data_dir / "ofac_cons_alt.csv", 5)
    strong = [a for e in cons.entities for a in e.aliases if a.alias_type is not AliasType.WEAK]
    assert len(alt) - 5 <= len(strong) <= len(alt) + 5


# ---- UN ------------------------------------------------------------------------------


def test_un_counts_match_the_xml(data_dir: Path) -> None:
    path = data_dir / "un_consolidated.xml"
    un = load_un_consolidated(path)
    root = ET.parse(path).getroot()
    individuals = root.findall("INDIVIDUALS/INDIVIDUAL")
    entities = root.findall("ENTITIES/ENTITY")
    assert (len(individuals), len(entities)) == (730, 273)  # as SOURCES.md says
    kinds = Counter(e.entity_type for e in un.entities)
    assert kinds == {EntityType.PERSON: 730, EntityType.ENTITY: 273}
    alias_names = [
        part.strip().casefold()
        for rec in individuals + entities
        for alias in rec.findall("*/ALIAS_NAME")
        if alias.text
        for part in alias.text.split(";")
        if part.strip()
    ]
    scripts = {
        " ".join(e.text.split())
        for rec in individuals + entities
        for e in rec.findall("NAME_ORIGINAL_SCRIPT")
        # Latin-script ones are loaded as plain aliases
        if e.text and any(ch.isalpha() and "LATIN" not in unicodedata.name(ch) for ch in e.text)
    }
    loaded = [a for e in un.entities for a in e.aliases]
    loaded_latin = [a for a in loaded if a.alias_type is not AliasType.ORIGINAL_SCRIPT]
    assert len(alias_names) - 60 <= len(loaded_latin) <= len(alias_names)  # minus repeats
    assert sum(a.alias_type is AliasType.ORIGINAL_SCRIPT for a in loaded) == len(scripts)
    assert un.published == root.get("dateGenerated") == "2026-02-27T00:00:09.554Z"
    assert un.version.endswith(";published:2026-02-27T00:00:09.554Z")


def test_un_dates_and_nationalities(data_dir: Path) -> None:
    un = load_un_consolidated(data_dir / "un_consolidated.xml")
    by_ref = {e.source_id: e for e in un.entities}
    saddam = by_ref["IQi.001"]
    assert saddam.name == "SADDAM HUSSEIN AL-TIKRITI"
    assert [d.start for d in saddam.dates_of_birth] == [PartialDate(1937, 4, 28)]
    assert saddam.nationalities == ("IQ",)
    assert ("صدام حسين التكريتي", AliasType.ORIGINAL_SCRIPT) in [
        (a.name, a.alias_type) for a in saddam.aliases
    ]
    ranges = [d for e in un.entities for d in e.dates_of_birth if d.end is not None]
    assert ranges and all(d.start < d.end for d in ranges if d.end)
    assert any(d.circa for e in un.entities for d in e.dates_of_birth)


# ---- OpenSanctions, US CSL ---------------------------------------------------------------


def test_senzing_pep_sample(data_dir: Path) -> None:
    peps = load_opensanctions_senzing(data_dir / "opensanctions_peps_senzing_sample.json")
    assert [e.name for e in peps.entities] == [
        "John Smith",
        "Maria Garcia Lopez",
        "Ministry of Finance",
    ]
    assert all(e.is_pep for e in peps.entities)
    john = peps.entities[0]
    assert john.entity_type is EntityType.PERSON
    assert [str(d) for d in john.dates_of_birth] == ["1965-03-15"]
    assert john.nationalities == ("US",)
    assert peps.entities[2].entity_type is EntityType.ENTITY


def test_senzing_nested_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "senzing.json"
    path.write_text(
        '{"DATA_SOURCE": "OS_SANCTIONS", "RECORD_ID": "x1", "RECORD_TYPE": "PERSON", '
        '"NAMES": [{"NAME_TYPE": "PRIMARY", "NAME_FULL": "Omar Test"}, '
        '{"NAME_TYPE": "ALIAS", "NAME_FIRST": "Umar", "NAME_LAST": "Test"}], '
        '"DATES": [{"DATE_OF_BIRTH": "1971-02"}], "RISKS": [{"TOPIC": "sanction"}]}\n',
        encoding="utf-8",
    )
    (entity,) = load_opensanctions_senzing(path).entities
    assert entity.name == "Omar Test"
    assert [a.name for a in entity.aliases] == ["Umar Test"]
    assert [str(d) for d in entity.dates_of_birth] == ["1971-02"]
    assert entity.topics == ("sanction",) and not entity.is_pep


def test_ftm_json_lines_fixture() -> None:
    lst = load_opensanctions_ftm(FIXTURES / "opensanctions_sample.ftm.jsonl")
    by_id = {e.source_id: e for e in lst.entities}
    assert set(by_id) == {"NK-test-0001", "Q-test-0002", "NK-test-0003", "NK-test-0004"}
    anna = by_id["NK-test-0001"]
    assert {(a.name, a.alias_type) for a in anna.aliases} == {
        ("Анна Экзамплова", AliasType.ORIGINAL_SCRIPT),
        ("Anna Ekzamplova", AliasType.AKA),
        ("Anya", AliasType.WEAK),
    }
    assert anna.nationalities == ("RU",) and set(anna.countries) == {"RU", "CY"}
    assert by_id["Q-test-0002"].is_pep
    assert by_id["NK-test-0003"].programs == ("US-IRAN",)
    assert by_id["NK-test-0003"].aliases[0].alias_type is AliasType.FKA
    assert by_id["NK-test-0004"].entity_type is EntityType.VESSEL


def test_us_csl(data_dir: Path) -> None:
    csl = load_us_csl(data_dir / "us_csl.csv")
    with (data_dir / "us_csl.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(csl.entities) == len(rows)
    assert len({e.entity_id for e in csl.entities}) == len(rows)


# ---- EU, UK (fixtures written for these tests) -----------------------------------------


def test_eu_fixture() -> None:
    eu = load_eu_consolidated(FIXTURES / "eu_fsf_sample.xml")
    assert eu.source == "EU-FSF"
    assert eu.published == "2025-03-14T10:02:11.000+01:00"
    ivan, company, samir = eu.entities
    assert ivan.entity_id == "EU-FSF:900101"
    assert ivan.name == "Ivan Petrovich Testov"
    assert ivan.entity_type is EntityType.PERSON
    assert {(a.name, a.alias_type) for a in ivan.aliases} == {
        ("Иван Петрович Тестов", AliasType.ORIGINAL_SCRIPT),
        ("Vanya", AliasType.WEAK),
    }
    assert [d.start for d in ivan.dates_of_birth] == [PartialDate(1961, 5, 4)]
    assert ivan.nationalities == ("RU",) and ivan.programs == ("RUS",)
    assert company.entity_type is EntityType.ENTITY
    assert "UN ref QDe.999" in company.remarks
    assert samir.name == "Samir Exemplar"
    (dob,) = samir.dates_of_birth
    assert dob.circa and dob.start == PartialDate(1970)


@pytest.mark.parametrize("name", ["uk_ofsi_sample.csv", "uk_ofsi_sample.xml"])
def test_uk_fixture(name: str) -> None:
    uk = load_uk_consolidated(FIXTURES / name)
    by_id = {e.source_id: e for e in uk.entities}
    pyotr = by_id["90001"]
    assert pyotr.name == "Pyotr Sergeyevich EXAMPLOV"
    assert pyotr.entity_type is EntityType.PERSON
    assert any(a.name.startswith("Petr") for a in pyotr.aliases)
    assert [d.start for d in pyotr.dates_of_birth] == [PartialDate(1958, 11, 2)]
    assert pyotr.nationalities == ("RU", "CY")
    assert by_id["90002"].entity_type is EntityType.ENTITY
    assert by_id["90002"].countries == ("MH",)


def test_uk_csv_details() -> None:
    uk = load_uk_consolidated(FIXTURES / "uk_ofsi_sample.csv")
    assert uk.published == "2025-03-14"
    by_id = {e.source_id: e for e in uk.entities}
    assert ("EXAMPLE MARINE", AliasType.WEAK) in [
        (a.name, a.alias_type) for a in by_id["90002"].aliases
    ]
    (dob,) = by_id["90003"].dates_of_birth  # "00/00/1975"
    assert dob.start == PartialDate(1975)


# ---- broken files ------------------------------------------------------------------------


def _copy_truncated(src: Path, dst: Path, keep: int) -> Path:
    dst.write_bytes(src.read_bytes()[:keep])
    return dst


def test_truncated_ofac_csv_names_file_and_line(data_dir: Path, tmp_path: Path) -> None:
    lines = (data_dir / "ofac_sdn.csv").read_bytes().splitlines(keepends=True)
    broken = tmp_path / "sdn.csv"
    # 100 whole records, then the 101st cut off inside its quoted name
    broken.write_bytes(b"".join(lines[:100]) + lines[100][:12])
    with pytest.raises(ListLoadError) as info:
        load_ofac_sdn(broken)
    assert str(info.value).startswith(f"cannot load {broken}, line 101: malformed CSV")
    assert info.value.line == 101
    # cut at a field boundary instead: the short record is reported
    broken.write_bytes(b"".join(lines[:100]) + lines[100][: lines[100].index(b",-0-")])
    with pytest.raises(ListLoadError, match=r"line 101: expected 12 fields, found 4"):
        load_ofac_sdn(broken)


def test_wrong_field_count_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "alt.csv"
    sdn = tmp_path / "sdn.csv"
    sdn.write_text('1,"DOE, John","individual","SDGT",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- \n')
    path.write_text('1,10,"aka","DOE, Jon",-0- \n1,11,"aka"\n')
    with pytest.raises(ListLoadError, match=r"alt\.csv, line 2: expected 5 fields, found 3"):
        load_ofac_sdn(sdn, path)


def test_unknown_ent_num_in_alt_is_reported(tmp_path: Path) -> None:
    sdn = tmp_path / "sdn.csv"
    alt = tmp_path / "alt.csv"
    sdn.write_text('1,"DOE, John","individual","SDGT",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- \n')
    alt.write_text('2,10,"aka","DOE, Jon",-0- \n')
    with pytest.raises(ListLoadError, match=r"line 1: ent_num 2 is not in the primary file"):
        load_ofac_sdn(sdn, alt)


def test_truncated_un_xml_names_file_and_line(data_dir: Path, tmp_path: Path) -> None:
    src = data_dir / "un_consolidated.xml"
    broken = _copy_truncated(src, tmp_path / "un.xml", len(src.read_bytes()) // 2)
    with pytest.raises(ListLoadError) as info:
        load_un_consolidated(broken)
    assert str(broken) in str(info.value) and "malformed XML" in str(info.value)
    assert info.value.line is not None and info.value.line > 1000


def test_un_record_without_name_names_element(tmp_path: Path) -> None:
    path = tmp_path / "un.xml"
    path.write_text(
        '<?xml version="1.0"?>\n<CONSOLIDATED_LIST dateGenerated="2026-01-01">\n<INDIVIDUALS>\n'
        "<INDIVIDUAL><DATAID>1</DATAID><REFERENCE_NUMBER>XXi.001</REFERENCE_NUMBER>"
        "<FIRST_NAME>A</FIRST_NAME></INDIVIDUAL>\n"
        "<INDIVIDUAL><DATAID>2</DATAID><REFERENCE_NUMBER>XXi.002</REFERENCE_NUMBER>\n"
        "</INDIVIDUAL>\n</INDIVIDUALS>\n</CONSOLIDATED_LIST>\n",
        encoding="utf-8",
    )
    with pytest.raises(ListLoadError) as info:
        load_un_consolidated(path)
    assert info.value.element == "INDIVIDUAL #2" and info.value.line == 5
    assert "XXi.002 has no name" in str(info.value)


def test_bad_json_line_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "x.ftm.json"
    good = (FIXTURES / "opensanctions_sample.ftm.jsonl").read_text(encoding="utf-8")
    path.write_text(good + '{"id": "broken", "schema": "Person", "prop\n', encoding="utf-8")
    with pytest.raises(ListLoadError, match=r"x\.ftm\.json, line 6: malformed JSON"):
        load_opensanctions_ftm(path)


def test_truncated_eu_and_uk_files(tmp_path: Path) -> None:
    eu = _copy_truncated(FIXTURES / "eu_fsf_sample.xml", tmp_path / "eu.xml", 2000)
    with pytest.raises(ListLoadError, match=r"eu\.xml"):
        load_eu_consolidated(eu)
    uk_src = (FIXTURES / "uk_ofsi_sample.csv").read_bytes()
    uk = _copy_truncated(FIXTURES / "uk_ofsi_sample.csv", tmp_path / "uk.csv", len(uk_src) - 40)
    with pytest.raises(ListLoadError, match=r"uk\.csv, line 7"):
        load_uk_consolidated(uk)


@pytest.mark.parametrize("content", [b"", b"\x1a", b"  \n"])
def test_empty_file_is_an_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "sdn.csv"
    path.write_bytes(content)
    with pytest.raises(ListLoadError, match="empty"):
        load_ofac_sdn(path)


def test_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ListLoadError, match=r"nothing-here\.xml"):
        load_un_consolidated(tmp_path / "nothing-here.xml")
