"""``compliance cases ...`` as an officer runs it: the same desk and events as the review
application, as the officer named by --as, and nothing sealed printed raw."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import Engine, select

from compliance.cases.samples import sample_exception
from compliance.cases.tables import case_history, cases
from compliance.config import Settings
from compliance.officers import add_officer, officers

from .conftest import Processes, compliance_cli
from .test_cases import customer, publish, scoped_cases, wait_for_cases

SECRET = "a long enough secret\n"  # what an officer types, or pipes with --password-stdin

pytestmark = pytest.mark.integration


def test_an_officer_lists_shows_assigns_and_resolves_a_case_on_the_command_line(
    settings: Settings, engine: Engine, processes: Processes
) -> None:
    who = customer()
    analyst = add_officer(engine, f"ana-{uuid.uuid4().hex[:6]}", "analyst", SECRET.strip())
    publish(settings, engine, [sample_exception(who, severity="low", reason=f"{who} is unknown")])
    processes.start("cases")
    wait_for_cases(engine, settings, 1, processes)
    [case] = scoped_cases(engine, settings)

    listed = compliance_cli(settings, "cases", "list")
    assert listed.returncode == 0, listed.stderr
    assert case.case_id in listed.stdout and "1 case(s)" in listed.stdout

    assigned = compliance_cli(
        settings,
        "cases",
        "assign",
        case.case_id,
        analyst.username,
        "--as",
        analyst.username,
        "--password-stdin",
        stdin=SECRET,
    )
    assert assigned.returncode == 0, assigned.stderr
    commented = compliance_cli(
        settings,
        "cases",
        "comment",
        case.case_id,
        "phoned the branch",
        "--as",
        analyst.username,
        "--password-stdin",
        stdin=SECRET,
    )
    assert commented.returncode == 0, commented.stderr

    shown = compliance_cli(settings, "cases", "show", case.case_id)
    assert shown.returncode == 0, shown.stderr
    assert f"{who} is unknown" in shown.stdout  # opened for the officer
    assert "phoned the branch" in shown.stdout
    assert "sealed:v1:" not in shown.stdout

    resolved = compliance_cli(
        settings,
        "cases",
        "resolve",
        case.case_id,
        "cleared",
        "--reason",
        "customer known",
        "--as",
        analyst.username,
        "--password-stdin",
        stdin=SECRET,
    )
    assert resolved.returncode == 0, resolved.stderr
    assert "closed_cleared" in resolved.stdout
    with engine.connect() as conn:
        status = conn.execute(
            select(cases.c.status).where(cases.c.case_id == case.case_id)
        ).scalar_one()
        actions = [
            r.action
            for r in conn.execute(
                select(case_history.c.action)
                .where(case_history.c.case_id == case.case_id)
                .order_by(case_history.c.at)
            )
        ]
    assert status == "closed_cleared"
    assert actions == ["opened", "assigned", "commented", "closed"]


def test_an_unknown_or_disabled_officer_is_refused(
    settings: Settings, engine: Engine, processes: Processes
) -> None:
    publish(settings, engine, [sample_exception(customer(), severity="low")])
    processes.start("cases")
    wait_for_cases(engine, settings, 1, processes)
    [case] = scoped_cases(engine, settings)
    gone = add_officer(engine, f"gone-{uuid.uuid4().hex[:6]}", "supervisor", SECRET.strip())
    with engine.begin() as conn:
        conn.execute(
            officers.update().where(officers.c.username == gone.username).values(disabled=True)
        )

    for user in ("nobody-" + uuid.uuid4().hex[:6], gone.username):
        refused = compliance_cli(
            settings,
            "cases",
            "escalate",
            case.case_id,
            "--reason",
            "just because",
            "--as",
            user,
            "--password-stdin",
            stdin=SECRET,
        )
        assert refused.returncode == 2
        assert user in refused.stderr
    [after] = scoped_cases(engine, settings)
    assert after.status == "open" and after.last_event_id == case.last_event_id


def test_an_officer_must_prove_who_they_are_with_their_password(
    settings: Settings, engine: Engine, processes: Processes
) -> None:
    """Naming a supervisor with --as is not enough: without their password, one person could
    propose and approve a four-eyes decision alone."""
    publish(settings, engine, [sample_exception(customer(), severity="low")])
    processes.start("cases")
    wait_for_cases(engine, settings, 1, processes)
    [case] = scoped_cases(engine, settings)
    boss = add_officer(engine, f"boss-{uuid.uuid4().hex[:6]}", "supervisor", SECRET.strip())

    for typed in ("not their password\n", "\n"):
        refused = compliance_cli(
            settings,
            "cases",
            "escalate",
            case.case_id,
            "--reason",
            "looks odd",
            "--as",
            boss.username,
            "--password-stdin",
            stdin=typed,
        )
        assert refused.returncode == 2, refused.stdout
        assert "wrong password" in refused.stderr
    [after] = scoped_cases(engine, settings)
    assert after.status == "open" and after.last_event_id == case.last_event_id
