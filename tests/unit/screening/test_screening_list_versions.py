"""Validating a set of list files as the next list version, before anything is stored."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from compliance.screening.errors import ListLoadError, ListVersionError
from compliance.screening.list_store import load_files, prepare_version, version_of

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ofac_files import write_sdn

UN = Path(__file__).resolve().parents[2] / "data" / "sanctions"


def _people(count: int, start: int = 1) -> list[tuple[int, str, str]]:
    return [(start + i, f"TESTNAME{i}, Given{i}", "") for i in range(count)]


def _un_file(tmp_path: Path) -> Path:
    source = UN / "un_consolidated.xml"
    if not source.is_file():
        pytest.fail(f"missing {source} (see tests/data/sanctions/SOURCES.md)", pytrace=False)
    return source


def test_a_new_file_replaces_its_own_list_and_keeps_the_others(tmp_path: Path) -> None:
    first = write_sdn(tmp_path / "v1", _people(10))
    v1 = prepare_version([first / "sdn.csv", _un_file(tmp_path)])
    assert [lst.source for lst in v1.lists] == ["OFAC-SDN", "UN-SC"]
    second = write_sdn(tmp_path / "v2", _people(12))
    v2 = prepare_version([second / "sdn.csv"], v1.files)
    assert v2.replaced == ("OFAC-SDN",) and v2.kept == ("UN-SC",)
    assert {lst.source: len(lst) for lst in v2.lists} == {"OFAC-SDN": 12, "UN-SC": 1003}
    assert v2.version != v1.version and v2.version.startswith("lists:")
    # the stored files alone load back to the same lists
    assert [len(lst) for lst in load_files(v2.files)] == [12, 1003]


def test_replace_all_drops_the_lists_not_given(tmp_path: Path) -> None:
    v1 = prepare_version([write_sdn(tmp_path / "a", _people(3)) / "sdn.csv", _un_file(tmp_path)])
    v2 = prepare_version([write_sdn(tmp_path / "b", _people(3))], v1.files, replace_all=True)
    assert [lst.source for lst in v2.lists] == ["OFAC-SDN"]


def test_truncated_file_is_rejected_naming_the_given_file_and_line(tmp_path: Path) -> None:
    folder = write_sdn(tmp_path / "lists", _people(5))
    sdn = folder / "sdn.csv"
    sdn.write_bytes(sdn.read_bytes()[:-30])
    with pytest.raises(ListLoadError) as caught:
        prepare_version([sdn])
    assert caught.value.path == str(sdn) and caught.value.line == 5


def test_truncated_xml_is_rejected(tmp_path: Path) -> None:
    cut = tmp_path / "un_consolidated.xml"
    cut.write_bytes(_un_file(tmp_path).read_bytes()[:500_000])
    with pytest.raises(ListLoadError, match=r"un_consolidated\.xml.*malformed XML"):
        prepare_version([cut])


def test_a_list_cut_at_a_line_boundary_is_caught_by_the_shrink_guard(tmp_path: Path) -> None:
    v1 = prepare_version([write_sdn(tmp_path / "a", _people(100)) / "sdn.csv"])
    cut = write_sdn(tmp_path / "b", _people(30))
    with pytest.raises(ListVersionError, match="OFAC-SDN would shrink from 100 to 30"):
        prepare_version([cut / "sdn.csv"], v1.files)
    allowed = prepare_version([cut / "sdn.csv"], v1.files, max_shrink=1.0)
    assert len(allowed.lists[0]) == 30


def test_unrecognised_and_duplicate_files_are_rejected(tmp_path: Path) -> None:
    odd = tmp_path / "people.csv"
    odd.write_text("x\n")
    with pytest.raises(ListVersionError, match=r"people\.csv is not a recognised list file"):
        prepare_version([write_sdn(tmp_path / "a", _people(2)) / "sdn.csv", odd])
    with pytest.raises(ListVersionError, match=r"two files named sdn\.csv"):
        prepare_version(
            [write_sdn(tmp_path / "b", _people(2)) / "sdn.csv", tmp_path / "a" / "sdn.csv"]
        )
    with pytest.raises(ListVersionError, match="no list files given"):
        prepare_version([])


def test_version_depends_on_names_and_contents_only(tmp_path: Path) -> None:
    a = prepare_version([write_sdn(tmp_path / "a", _people(4)) / "sdn.csv"])
    b = prepare_version([write_sdn(tmp_path / "b", _people(4)) / "sdn.csv"])
    c = prepare_version([write_sdn(tmp_path / "c", _people(5)) / "sdn.csv"])
    assert a.version == b.version == version_of(reversed(a.files)) != c.version
