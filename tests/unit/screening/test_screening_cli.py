"""``compliance screen``: an officer's ad-hoc check, on list files given with --lists (the
lists in force from the database are covered by the integration tests)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from compliance.cli import main
from compliance.commands.sanctions import HIT_EXIT

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ofac_files import write_sdn


@pytest.fixture
def lists(tmp_path: Path) -> Path:
    return write_sdn(
        tmp_path / "lists",
        [
            (101, "QUENTINOVA BLIX, Zarathustra", "DOB 12 Mar 1971; nationality Iceland"),
            (102, "ORMBAKKEN, Hjalmar Torvik", "DOB 1960"),
        ],
        aliases=[(101, "Zara BLIXEN")],
    )


@pytest.fixture(autouse=True)
def no_compliance_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("COMPLIANCE_"):
            monkeypatch.delenv(name)


def test_a_hit_exits_with_the_hit_code_and_explains_the_alias_and_score(
    lists: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["screen", "Zara Blixen", "--dob", "1971-03-12", "--lists", str(lists)])
    out = capsys.readouterr().out
    assert code == HIT_EXIT == 3
    assert "1 hit(s)" in out
    assert "QUENTINOVA BLIX, Zarathustra [OFAC-SDN:101, OFAC-SDN]" in out
    assert "matched aka: 'Zara BLIXEN'" in out
    assert "score 100.0 = name 100.0 +8.0 date of birth, capped to 0..100" in out
    assert "date of birth 1971-03-12: exact (1971-03-12)" in out
    assert "list OFAC-SDN version sha256:" in out


def test_primary_name_hit_with_a_typo_and_reordered(
    lists: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["screen", "Torvik Hjalmar Ormbaken", "--lists", str(lists)]) == HIT_EXIT
    out = capsys.readouterr().out
    assert "matched primary name: 'ORMBAKKEN, Hjalmar Torvik'" in out
    assert "ormbaken~ormbakken" in out


def test_no_hit_exits_zero(lists: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["screen", "Maria Garcia", "--lists", str(lists)]) == 0
    assert capsys.readouterr().out.rstrip().endswith("no hit")


def test_a_dob_far_from_the_listed_one_lowers_the_score_below_the_threshold(
    lists: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["screen", "Zara Blixen", "--dob", "1931", "--lists", str(lists)]) == 0


def test_entity_type_is_used(lists: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["screen", "Zara Blixen", "--type", "entity", "--lists", str(lists)]) == 0


def test_truncated_list_file_is_an_error_naming_file_and_line(
    lists: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sdn = lists / "sdn.csv"
    sdn.write_bytes(sdn.read_bytes()[:-40])
    assert main(["screen", "Zara Blixen", "--lists", str(lists)]) == 2
    err = capsys.readouterr().err
    assert f"cannot load {sdn}, line 2" in err


def test_unrecognised_file_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    odd = tmp_path / "names.csv"
    odd.write_text("a,b\n")
    assert main(["screen", "Zara Blixen", "--lists", str(odd)]) == 2
    assert "names.csv is not a recognised list file" in capsys.readouterr().err


def test_bundled_lists_folder_holds_the_lists_the_product_ships() -> None:
    from compliance.config import Settings
    from compliance.screening.live import bundled_lists

    lists = bundled_lists(Settings())
    assert [lst.source for lst in lists] == ["OFAC-SDN", "OFAC-CONS", "UN-SC"]
    assert [len(lst) for lst in lists] == [8976, 442, 1003]
