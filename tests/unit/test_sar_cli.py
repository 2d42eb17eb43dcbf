"""``compliance report sar`` without a database: what it takes, and an input file that is not
a case refused before anything else (the filings themselves, which need a case confirmed in
the case tables, are tested in tests/integration/test_sar_report.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from compliance.cli import main
from compliance.reports.sar_schema import sar_schema

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


def test_the_command_takes_a_case_id_or_an_input_file_not_both_nor_neither(
    env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = str(tmp_path / "sar.xml")
    with pytest.raises(SystemExit) as neither:
        main(["report", "sar", "--out", out])
    assert neither.value.code == 2
    assert "one of the arguments --case --input is required" in capsys.readouterr().err
    with pytest.raises(SystemExit) as both:
        main(["report", "sar", "--case", "x", "--input", str(write_case(tmp_path)), "--out", out])
    assert both.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_the_command_names_what_is_wrong_with_the_input(
    env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    case = write_case(tmp_path, transactions=[{"booked_at": "yesterday", "amount": "1"}])
    code = main(["report", "sar", "--input", str(case), "--out", str(tmp_path / "sar.xml")])
    assert code == 2
    err = capsys.readouterr().err
    assert "is not a case" in err and "transactions.0.booked_at" in err
