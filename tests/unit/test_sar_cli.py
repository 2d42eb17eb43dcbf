"""``compliance report sar``: a confirmed case in, a FinCEN SAR out that the schema accepts;
nothing is written (and nothing already there is touched) when the report would be invalid or
the case is not confirmed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from compliance.cli import main
from compliance.reports.sar_schema import sar_schema, validate_sar

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module", autouse=True)
def schema_loaded_once() -> None:
    sar_schema()


@pytest.fixture
def env(clean_env: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    clean_env.setenv("COMPLIANCE_SAR_CONFIG_FILE", str(ROOT / "config" / "sar.yaml"))
    return clean_env


def write_case(folder: Path, **changes: Any) -> Path:
    case: dict[str, Any] = {
        "case_id": "b0a1c2d3-e4f5-4a6b-8c7d-9e0f1a2b3c4d",
        "customer_id": "C-2002",
        "category": "transaction_monitoring",
        "status": "closed_confirmed",
        "exceptions": [
            {
                "rule_id": "tx.fan-in",
                "kind": "transaction_alert",
                "severity": "high",
                "reason": "12 distinct payers credited the account within 24h",
                "raised_at": "2026-04-02T18:00:00Z",
            }
        ],
        "transactions": [
            {
                "booked_at": f"2026-04-02T{h:02d}:10:00Z",
                "amount": "450.00",
                "currency": "EUR",
                "direction": "in",
                "account": "DE89370400440532013000",
                "counterparty_name": f"Payer {h}",
            }
            for h in range(8, 20)
        ],
        "decisions": [
            {"actor": "analyst.kim", "action": "resolve", "at": "2026-04-03T10:00:00Z"},
        ],
        "subject": {"full_name": "Max Example", "date_of_birth": "1975-02-03"},
    }
    case.update(changes)
    path = folder / "case.json"
    path.write_text(json.dumps(case), encoding="utf-8")
    return path


def test_the_command_writes_a_sar_that_fincens_schema_accepts(
    env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "sar.xml"
    code = main(
        ["report", "sar", "--input", str(write_case(tmp_path)), "--out", str(out),
         "--filing-date", "2026-04-10"]
    )  # fmt: skip
    assert code == 0
    xml = out.read_bytes()
    validate_sar(xml)
    assert b"<fc2:SuspiciousActivitySubtypeID>824</fc2:SuspiciousActivitySubtypeID>" in xml
    assert b"<fc2:FilingDateText>20260410</fc2:FilingDateText>" in xml
    assert "valid against FinCEN's SAR XML schema" in capsys.readouterr().out
    assert {p.name for p in tmp_path.iterdir()} == {"case.json", "sar.xml"}


def test_the_command_never_writes_an_invalid_sar(
    env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "sar.xml"
    out.write_bytes(b"the previous report")
    born_too_early = {"full_name": "Max Example", "date_of_birth": "1899-12-31"}
    code = main(
        ["report", "sar", "--input", str(write_case(tmp_path, subject=born_too_early)),
         "--out", str(out)]
    )  # fmt: skip
    assert code == 2
    assert "IndividualBirthDateText" in capsys.readouterr().err
    assert out.read_bytes() == b"the previous report"
    assert {p.name for p in tmp_path.iterdir()} == {"case.json", "sar.xml"}  # no leftovers


def test_the_command_refuses_a_case_that_is_not_confirmed(
    env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "sar.xml"
    code = main(
        ["report", "sar", "--input", str(write_case(tmp_path, status="closed_cleared")),
         "--out", str(out)]
    )  # fmt: skip
    assert code == 2
    assert "is closed_cleared: only a closed_confirmed case" in capsys.readouterr().err
    assert not out.exists()


def test_the_command_names_what_is_wrong_with_the_input(
    env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    case = write_case(tmp_path, transactions=[{"booked_at": "yesterday", "amount": "1"}])
    code = main(["report", "sar", "--input", str(case), "--out", str(tmp_path / "sar.xml")])
    assert code == 2
    err = capsys.readouterr().err
    assert "is not a case" in err and "transactions.0.booked_at" in err
