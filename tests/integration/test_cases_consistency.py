"""Cases under concurrent writers, against the real broker and database: an exception never
lands silently on a closed case, an officer's decision waits for the processor's batch and is
made on the case as it is, an approval names the pending decision it approves, every read of
a case goes through the queue's access check, and the processor starting before its topics
are ready waits for them."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select, text

from compliance import kafka_io
from compliance.cases.desk import CaseDesk
from compliance.cases.errors import CaseNotFound, TransitionRefused
from compliance.cases.grouping import take_in
from compliance.cases.projection import REOPENED, apply
from compliance.cases.queries import case_view, find_case, queue
from compliance.cases.samples import sample_exception
from compliance.cases.sweep import state_of
from compliance.cases.tables import case_history, cases
from compliance.config import Settings
from compliance.officers import add_officer
from compliance.subject_keyring import DatabaseKeyring, sealing_codec
from compliance.topics import CASES_DECISIONS
from processors.cases import CaseGrouper

from .conftest import LOG_DIR, Processes, as_owner, compliance_cli, wait_for
from .test_cases import customer, officer, publish, scoped_cases, table_rows, wait_for_cases

pytestmark = pytest.mark.integration
SECRET = "a long enough secret"


def _row(engine: Engine, case_id: str) -> Any:
    with engine.connect() as conn:
        return conn.execute(select(cases).where(cases.c.case_id == case_id)).one()


def _history(engine: Engine, case_id: str) -> list[Any]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                select(case_history)
                .where(case_history.c.case_id == case_id)
                .order_by(case_history.c.at, case_history.c.event_id)
            )
        )


def _one_case(settings: Settings, engine: Engine, processes: Processes, **kw: Any) -> Any:
    publish(settings, engine, [sample_exception(customer(), **kw)])
    processes.start("cases")
    wait_for_cases(engine, settings, 1, processes)
    [case] = scoped_cases(engine, settings)
    return case


# --- an exception and a closed case ------------------------------------------------------


def test_an_exception_reaching_a_case_closed_meanwhile_reopens_it_with_a_history_row(
    settings: Settings, engine: Engine, processes: Processes
) -> None:
    """The processor read the case open, an officer closed it, then the processor's
    decision adding an exception arrives: the case is open again, and its history says why;
    the tables rebuilt from the topic say the same."""
    case = _one_case(settings, engine, processes, severity="low")
    processes.stop_all()  # this test plays the processor's part itself
    read_open = state_of(_row(engine, case.case_id))  # what the processor's read saw

    desk = CaseDesk(settings, engine)
    closed = desk.resolve(case.case_id, officer(engine, "analyst"), "cleared", "all in order")
    assert closed.status == "closed_cleared"

    late = sample_exception(case.customer_id, severity="high").record
    grouper = CaseGrouper(engine, DatabaseKeyring(engine), settings.topic_prefix)
    out, _ = take_in(grouper._sealed(late, case.customer_id), read_open, settings.topic_prefix)
    assert out.record["action"] == "exception_added"
    desk.sender.send(CASES_DECISIONS, out.event_type, out.record)
    desk.sender.flush()
    with engine.begin() as conn:
        assert apply(conn, out.record, settings.topic_prefix)

    row = _row(engine, case.case_id)
    assert row.status == "open" and row.exception_count == 2 and row.severity == "high"
    history = _history(engine, case.case_id)
    assert [h.action for h in history][-2:] in (
        ["exception_added", REOPENED],
        [REOPENED, "exception_added"],
    )
    [reopened] = [h for h in history if h.action == REOPENED]
    assert reopened.detail["was"] == "closed_cleared"
    assert reopened.detail["decision_event_id"] == out.record["envelope"]["event_id"]

    live = table_rows(engine, settings)
    compliance_cli(settings, "cases", "rebuild", "--timeout", "60").check_returncode()
    assert table_rows(engine, settings) == live


def test_an_officers_decision_waits_for_the_processors_batch_and_sees_its_exception(
    settings: Settings, engine: Engine, processes: Processes
) -> None:
    """The processor holds the open case's row from its read to its apply: an officer
    closing the case meanwhile waits, then closes it with the new exception in it (the
    decision caused by the exception's), never leaving an exception on a closed case."""
    case = _one_case(settings, engine, processes, severity="low")
    processes.stop_all()
    grouper = CaseGrouper(engine, DatabaseKeyring(engine), settings.topic_prefix)
    desk = CaseDesk(settings, engine)
    analyst = officer(engine, "analyst")
    closing: dict[str, Any] = {}

    def close() -> None:
        try:
            closing["case"] = desk.resolve(case.case_id, analyst, "confirmed", "seen enough")
        except Exception as exc:  # reported by the assertions below
            closing["error"] = exc

    with engine.begin() as conn:
        pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        grouper.conn = conn
        [result] = grouper([("ComplianceException", sample_exception(case.customer_id).record)])
        grouper.conn = None
        assert not isinstance(result, Exception)
        [added] = result
        assert added.record["case_id"] == case.case_id
        officer_thread = threading.Thread(target=close)
        officer_thread.start()

        def officer_waits() -> bool:
            with engine.connect() as probe:
                waiting = probe.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE :pid = ANY(pg_blocking_pids(pid))"
                    ),
                    {"pid": pid},
                ).scalar_one()
            return int(waiting) > 0 or not officer_thread.is_alive()

        wait_for(officer_waits, 30, "the officer's decision waiting for the batch's lock")
        assert officer_thread.is_alive(), f"decided without waiting: {closing}"
        apply(conn, added.record, settings.topic_prefix)
    officer_thread.join(30)

    assert "error" not in closing, closing.get("error")
    row = _row(engine, case.case_id)
    assert row.status == "closed_confirmed" and row.exception_count == 2
    history = _history(engine, case.case_id)
    assert [h.action for h in history] == ["opened", "exception_added", "closed"]
    assert REOPENED not in {h.action for h in history}


def test_a_decision_on_a_case_that_changed_since_the_officer_saw_it_is_refused(
    settings: Settings, engine: Engine, processes: Processes
) -> None:
    case = _one_case(settings, engine, processes, severity="low")
    seen = case.last_event_id
    publish(settings, engine, [sample_exception(case.customer_id)])
    wait_for_cases(engine, settings, 2, processes)

    desk = CaseDesk(settings, engine)
    analyst = officer(engine, "analyst")
    with pytest.raises(TransitionRefused, match="changed since you opened it"):
        desk.resolve(case.case_id, analyst, "cleared", "nothing wrong", seen=seen)
    assert _row(engine, case.case_id).status == "open"
    current = _row(engine, case.case_id).last_event_id
    closed = desk.resolve(case.case_id, analyst, "cleared", "both seen", seen=current)
    assert closed.status == "closed_cleared" and closed.exception_count == 2


# --- four eyes: the approval names the decision ------------------------------------------


def test_an_approval_of_a_pending_decision_that_changed_since_it_was_viewed_is_refused(
    settings: Settings, engine: Engine, processes: Processes
) -> None:
    case = _one_case(settings, engine, processes, severity="high")
    desk = CaseDesk(settings, engine)
    analyst, boss = officer(engine, "analyst"), officer(engine, "supervisor")

    viewed = desk.resolve(case.case_id, analyst, "cleared", "a namesake, other birth date")
    assert viewed.pending_event_id is not None  # what the supervisor is shown
    # Meanwhile the analyst withdraws it and proposes the opposite.
    desk.reject(case.case_id, analyst, "wrong button", viewed.pending_event_id)
    now_pending = desk.resolve(case.case_id, analyst, "confirmed", "the same person after all")
    assert now_pending.pending_event_id not in (None, viewed.pending_event_id)

    with pytest.raises(TransitionRefused, match="no longer the one waiting"):
        desk.approve(case.case_id, boss, viewed.pending_event_id)
    with pytest.raises(TransitionRefused, match="no longer the one waiting"):
        desk.reject(case.case_id, boss, "not this one", viewed.pending_event_id)
    unchanged = find_case(engine, case.case_id, scope=settings.topic_prefix)
    assert unchanged is not None and unchanged.status == "open"
    assert unchanged.pending_outcome == "confirmed"

    shown = compliance_cli(settings, "cases", "show", case.case_id)
    assert shown.returncode == 0, shown.stderr
    assert f"pending decision {now_pending.pending_event_id}" in shown.stdout
    add_officer(engine, f"boss-{uuid.uuid4().hex[:6]}", "supervisor", SECRET)
    cli_boss = add_officer(engine, f"boss-{uuid.uuid4().hex[:6]}", "supervisor", SECRET)

    def approve_on_the_command_line(decision: str) -> Any:
        return compliance_cli(
            settings,
            "cases",
            "approve",
            case.case_id,
            "--decision",
            decision,
            "--as",
            cli_boss.username,
            "--password-stdin",
            stdin=SECRET + "\n",
        )

    stale = approve_on_the_command_line(str(viewed.pending_event_id))
    assert stale.returncode == 2 and "no longer the one waiting" in stale.stderr
    fresh = approve_on_the_command_line(str(now_pending.pending_event_id))
    assert fresh.returncode == 0, fresh.stderr
    closed = find_case(engine, case.case_id, scope=settings.topic_prefix)
    assert closed is not None and closed.status == "closed_confirmed"


# --- one access check for every read ------------------------------------------------------


def test_a_case_of_another_deployment_is_unknown_to_every_read_and_decision(
    settings: Settings, engine: Engine, processes: Processes
) -> None:
    case = _one_case(settings, engine, processes, severity="low")
    other = as_owner(topic_prefix=f"t{uuid.uuid4().hex[:10]}.", instance_id="other")

    assert find_case(engine, case.case_id, scope=settings.topic_prefix) is not None
    assert find_case(engine, case.case_id, scope=other.topic_prefix) is None
    codec = sealing_codec(engine)
    assert case_view(engine, codec, case.case_id, scope=other.topic_prefix) is None
    assert queue(engine, search=case.customer_id, scope=other.topic_prefix) == []
    with pytest.raises(CaseNotFound):
        CaseDesk(other, engine).comment(case.case_id, officer(engine, "supervisor"), "hello")

    shown = compliance_cli(other, "cases", "show", case.case_id)
    assert shown.returncode == 2 and f"no case {case.case_id}" in shown.stderr
    assert case.customer_id not in shown.stdout + shown.stderr


# --- start-up right after the topics are made ---------------------------------------------


def test_the_cases_processor_started_before_its_topics_are_ready_waits_for_them(
    engine: Engine, tmp_path: Path
) -> None:
    prefix = f"t{uuid.uuid4().hex[:10]}."
    settings = as_owner(
        topic_prefix=prefix,
        document_roots=[tmp_path],
        instance_id=f"test-{prefix}",
        transaction_timeout_ms=10_000,
    )
    processes = Processes(settings)
    admin = kafka_io.admin(settings)
    try:
        processes.start("cases", COMPLIANCE_CASES_STARTUP_RETRY_S="90")
        log = LOG_DIR / f"{prefix}cases.log"
        wait_for(
            lambda: log.exists() and "trying again" in log.read_text(errors="replace"),
            60,
            "the processor finding its topics missing",
            processes,
        )
        kafka_io.create_topics(settings)
        publish(settings, engine, [sample_exception(customer())])
        wait_for_cases(engine, settings, 1, processes, timeout_s=120)
        processes.assert_alive()
    finally:
        processes.stop_all()
        topics = [t for t in admin.list_topics(timeout=10).topics if t.startswith(prefix)]
        if topics:
            for future in admin.delete_topics(topics, operation_timeout=30).values():
                future.result()


def test_the_projections_start_gives_up_after_its_bound_when_the_topic_never_comes(
    engine: Engine,
) -> None:
    from compliance.cases.feed import started_feed
    from compliance.errors import RetryableError

    missing = as_owner(topic_prefix=f"t{uuid.uuid4().hex[:10]}.", instance_id="missing")
    with pytest.raises(RetryableError, match="not readable after"):
        started_feed(missing, engine, within_s=2.0, pause_s=0.5)
