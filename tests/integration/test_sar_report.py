"""``compliance report sar`` against the real case tables and audit trail: a filing only for
a case the tables hold as closed_confirmed whose confirming decision is audited, built from
the case and the trail; a status written in an input file is never believed."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from compliance.audit.tables import audit_events
from compliance.cases.desk import CaseDesk
from compliance.cases.samples import sample_exception
from compliance.config import Settings
from compliance.reports.sar_schema import validate_sar

from .conftest import Processes, compliance_cli, wait_for
from .test_cases import customer, officer, publish, scoped_cases, wait_for_cases

pytestmark = pytest.mark.integration
FILED = "2026-04-10"


def _sar(settings: Settings, out: Path, *source: str) -> Any:
    return compliance_cli(
        settings, "report", "sar", *source, "--out", str(out), "--filing-date", FILED
    )


def _audited(engine: Engine, event_id: str) -> bool:
    query = select(func.count()).where(audit_events.c.event_id == event_id)
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one()) > 0


def _fan_in_case(settings: Settings, engine: Engine, processes: Processes) -> Any:
    who = customer()
    publish(
        settings,
        engine,
        [
            sample_exception(
                who,
                category="transaction_monitoring",
                rule_id="tx.fan-in",
                kind="transaction_alert",
                severity="medium",
                reason="12 distinct payers credited the account within 24h",
            )
        ],
    )
    processes.start("cases")
    wait_for_cases(engine, settings, 1, processes)
    [case] = scoped_cases(engine, settings)
    return case


def test_a_confirmed_case_is_filed_from_the_tables_once_its_confirmation_is_audited(
    settings: Settings, engine: Engine, processes: Processes, tmp_path: Path
) -> None:
    case = _fan_in_case(settings, engine, processes)
    out = tmp_path / "sar.xml"

    still_open = _sar(settings, out, "--case", case.case_id)
    assert still_open.returncode == 2
    assert f"case {case.case_id} is open: only a closed_confirmed case" in still_open.stderr

    confirmed = CaseDesk(settings, engine).resolve(
        case.case_id, officer(engine, "analyst"), "confirmed", "payers are mules, seen before"
    )
    assert confirmed.status == "closed_confirmed"
    not_audited = _sar(settings, out, "--case", case.case_id)
    assert not_audited.returncode == 2
    assert "not in the audit trail yet" in not_audited.stderr
    assert not out.exists()

    processes.start("audit-sink")
    wait_for(
        lambda: _audited(engine, confirmed.last_event_id),
        60,
        "the confirmation in the audit trail",
        processes,
    )
    filed = _sar(settings, out, "--case", case.case_id)
    assert filed.returncode == 0, filed.stderr
    xml = out.read_bytes()
    validate_sar(xml)
    assert b"<fc2:SuspiciousActivitySubtypeID>824</fc2:SuspiciousActivitySubtypeID>" in xml
    assert b"12 distinct payers credited the account within 24h" in xml  # the rule's words
    assert b"payers are mules, seen before" in xml  # the officer's comment, opened
    assert f"FinCEN SAR for case {case.case_id}" in filed.stdout


def test_no_filing_for_a_cleared_an_unknown_or_another_deployments_case(
    settings: Settings, engine: Engine, processes: Processes, tmp_path: Path
) -> None:
    case = _fan_in_case(settings, engine, processes)
    CaseDesk(settings, engine).resolve(
        case.case_id, officer(engine, "analyst"), "cleared", "known payroll payers"
    )
    out = tmp_path / "sar.xml"
    cleared = _sar(settings, out, "--case", case.case_id)
    assert cleared.returncode == 2 and "is closed_cleared" in cleared.stderr
    unknown = _sar(settings, out, "--case", str(uuid.uuid4()))
    assert unknown.returncode == 2 and "no case" in unknown.stderr
    assert not out.exists()


def test_a_status_written_in_an_input_file_is_not_believed(
    settings: Settings, engine: Engine, processes: Processes, tmp_path: Path
) -> None:
    case = _fan_in_case(settings, engine, processes)
    content = {
        "case_id": case.case_id,
        "customer_id": case.customer_id,
        "category": "transaction_monitoring",
        "status": "closed_confirmed",  # what the file claims; the tables say open
        "exceptions": [
            {
                "rule_id": "tx.fan-in",
                "kind": "transaction_alert",
                "severity": "high",
                "reason": "12 distinct payers credited the account within 24h",
                "raised_at": "2026-04-02T18:00:00Z",
            }
        ],
    }
    path = tmp_path / "case.json"
    path.write_text(json.dumps(content), encoding="utf-8")
    out = tmp_path / "sar.xml"

    claimed = _sar(settings, out, "--input", str(path))
    assert claimed.returncode == 2
    assert f"case {case.case_id} is open: only a closed_confirmed case" in claimed.stderr
    made_up = dict(content, case_id=str(uuid.uuid4()))
    path.write_text(json.dumps(made_up), encoding="utf-8")
    invented = _sar(settings, out, "--input", str(path))
    assert invented.returncode == 2 and "no case" in invented.stderr
    assert not out.exists()

    confirmed = CaseDesk(settings, engine).resolve(
        case.case_id, officer(engine, "analyst"), "confirmed", "mules"
    )
    processes.start("audit-sink")
    wait_for(
        lambda: _audited(engine, confirmed.last_event_id), 60, "the confirmation audited",
        processes,
    )  # fmt: skip
    someone_else = dict(content, customer_id="C-SOMEONE-ELSE")
    path.write_text(json.dumps(someone_else), encoding="utf-8")
    swapped = _sar(settings, out, "--input", str(path))
    assert swapped.returncode == 2 and "the file's customer differ" in swapped.stderr
    assert not out.exists()
    path.write_text(json.dumps(dict(content, status="open")), encoding="utf-8")
    filed = _sar(settings, out, "--input", str(path))  # the tables' status counts, not this
    assert filed.returncode == 0, filed.stderr
    validate_sar(out.read_bytes())

    previous = out.read_bytes()
    born_too_early = {"full_name": "Max Example", "date_of_birth": "1899-12-31"}
    path.write_text(json.dumps(dict(content, subject=born_too_early)), encoding="utf-8")
    invalid = _sar(settings, out, "--input", str(path))
    assert invalid.returncode == 2 and "IndividualBirthDateText" in invalid.stderr
    assert out.read_bytes() == previous  # an invalid report is never written
    assert {p.name for p in tmp_path.iterdir()} == {"case.json", "sar.xml"}  # no leftovers
