"""Case management against the real broker and database: exceptions grouped into cases by
the cases processor, officers' decisions through the desk, the tables as a projection of
cases.decisions, the SLA sweep, crashes, poison records and the audit trail."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, text

from compliance.cases.desk import CaseDesk
from compliance.cases.errors import TransitionRefused
from compliance.cases.queries import case_view, queue
from compliance.cases.samples import sample_exception
from compliance.cases.tables import case_exceptions, case_history, cases
from compliance.config import Settings
from compliance.events import now
from compliance.officers import Officer, add_officer
from compliance.outgoing import Outgoing
from compliance.screening.sending import EventSender
from compliance.subject_keyring import sealing_codec
from compliance.topics import CASES_DECISIONS, COMPLIANCE_EXCEPTIONS

from .conftest import Processes, compliance_cli, read_topic, recorded, wait_for

pytestmark = pytest.mark.integration


def publish(settings: Settings, engine: Engine, events: Iterable[Outgoing]) -> int:
    sender = EventSender(settings, codec=sealing_codec(engine))
    n = 0
    for out in events:
        sender.send(COMPLIANCE_EXCEPTIONS, out.event_type, out.record)
        n += 1
    sender.flush()
    return n


def customer() -> str:
    return f"cust-{uuid.uuid4().hex[:10]}"


def officer(engine: Engine, role: str) -> Officer:
    return add_officer(engine, f"{role}-{uuid.uuid4().hex[:8]}", role, "a long enough secret")


def scoped_cases(engine: Engine, settings: Settings) -> list[Any]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                select(cases)
                .where(cases.c.scope == settings.topic_prefix)
                .order_by(cases.c.case_id)
            )
        )


def exceptions_in_cases(engine: Engine, settings: Settings) -> int:
    ids = select(cases.c.case_id).where(cases.c.scope == settings.topic_prefix)
    with engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count()).where(case_exceptions.c.case_id.in_(ids))
            ).scalar_one()
        )


def wait_for_cases(
    engine: Engine, settings: Settings, n: int, processes: Processes, timeout_s: float = 60
) -> None:
    wait_for(
        lambda: exceptions_in_cases(engine, settings) >= n,
        timeout_s,
        f"{n} exceptions in cases",
        processes,
    )


def table_rows(engine: Engine, settings: Settings) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the three case tables in this test's scope."""
    ids = select(cases.c.case_id).where(cases.c.scope == settings.topic_prefix)
    with engine.connect() as conn:
        return {
            "cases": [
                tuple(r)
                for r in conn.execute(
                    select(cases)
                    .where(cases.c.scope == settings.topic_prefix)
                    .order_by(cases.c.case_id)
                )
            ],
            "case_exceptions": [
                tuple(r)
                for r in conn.execute(
                    select(case_exceptions)
                    .where(case_exceptions.c.case_id.in_(ids))
                    .order_by(case_exceptions.c.exception_event_id)
                )
            ],
            "case_history": [
                tuple(r)
                for r in conn.execute(
                    select(case_history)
                    .where(case_history.c.case_id.in_(ids))
                    .order_by(case_history.c.event_id)
                )
            ],
        }


# --- grouping ----------------------------------------------------------------------------


def test_twenty_failed_checks_of_one_customer_are_one_open_case_per_category(
    settings: Settings, engine: Engine, processes: Processes
) -> None:
    who = customer()
    events = [
        sample_exception(who, category="kyc", rule_id=f"identity.rule-{i}", severity="medium")
        for i in range(12)
    ] + [
        sample_exception(who, category="gdpr", rule_id=f"gdpr.rule-{i}", severity=sev)
        for i, sev in enumerate(["low"] * 7 + ["high"])
    ]
    publish(settings, engine, events)
    processes.start("cases")
    wait_for_cases(engine, settings, 20, processes)

    found = scoped_cases(engine, settings)
    assert sorted((c.customer_id, c.category, c.status) for c in found) == [
        (who, "gdpr", "open"),
        (who, "kyc", "open"),
    ]
    by_category = {c.category: c for c in found}
    assert by_category["kyc"].exception_count == 12
    assert by_category["gdpr"].exception_count == 8
    assert by_category["gdpr"].severity == "high"  # the highest of its exceptions
    earliest_due = min(e.record["sla_due_at"] for e in events if e.record["category"] == "kyc")
    assert by_category["kyc"].sla_due_at == earliest_due
    assert who in by_category["kyc"].title and "identity.rule-0" in by_category["kyc"].title


def test_an_exception_after_its_case_closed_opens_a_new_case(
    settings: Settings, engine: Engine, processes: Processes
) -> None:
    who = customer()
    publish(settings, engine, [sample_exception(who, severity="low")])
    processes.start("cases")
    wait_for_cases(engine, settings, 1, processes)
    [first] = scoped_cases(engine, settings)
    desk = CaseDesk(settings, engine)
    closed = desk.resolve(first.case_id, officer(engine, "analyst"), "cleared", "documents fine")
    assert closed.status == "closed_cleared"

    publish(settings, engine, [sample_exception(who, severity="low")])
    wait_for_cases(engine, settings, 2, processes)
    found = {c.case_id: c for c in scoped_cases(engine, settings)}
    assert len(found) == 2
    [second] = [c for c in found.values() if c.case_id != first.case_id]
    assert second.status == "open" and second.exception_count == 1
    assert found[first.case_id].exception_count == 1


# --- SLA ---------------------------------------------------------------------------------


def test_an_open_case_past_its_due_time_is_flagged_and_the_breach_audited(
    settings: Settings, engine: Engine, processes: Processes
) -> None:
    late, on_time = customer(), customer()
    publish(
        settings,
        engine,
        [
            sample_exception(late, sla_due_at=now() - timedelta(minutes=5)),
            sample_exception(on_time, sla_due_at=now() + timedelta(hours=5)),
        ],
    )
    processes.start("cases", COMPLIANCE_CASES_SWEEP_INTERVAL_S="0.5")
    processes.start("audit-sink")
    wait_for_cases(engine, settings, 2, processes)

    def flagged() -> dict[str, bool]:
        return {c.customer_id: c.sla_breached for c in scoped_cases(engine, settings)}

    wait_for(lambda: flagged().get(late) is True, 30, "the late case flagged", processes)
    assert flagged()[on_time] is False
    [late_case] = [c for c in scoped_cases(engine, settings) if c.customer_id == late]
    with engine.connect() as conn:
        actions = [
            r.action
            for r in conn.execute(
                select(case_history.c.action).where(case_history.c.case_id == late_case.case_id)
            )
        ]
    assert actions.count("sla_breached") == 1
    wait_for(
        lambda: _audited_actions(engine, settings).count("sla_breached") == 1,
        60,
        "the breach in the audit trail",
        processes,
    )


def _audited_actions(engine: Engine, settings: Settings) -> list[str]:
    from compliance.audit.tables import audit_events

    with engine.connect() as conn:
        rows = conn.execute(
            select(audit_events.c.payload).where(
                audit_events.c.topic == settings.topic(CASES_DECISIONS)
            )
        )
        return [r.payload["action"] for r in rows]


# --- the desk ----------------------------------------------------------------------------


def test_a_high_case_needs_a_second_officer_who_is_a_supervisor(
    settings: Settings, engine: Engine, processes: Processes
) -> None:
    publish(settings, engine, [sample_exception(customer(), severity="high")])
    processes.start("cases")
    wait_for_cases(engine, settings, 1, processes)
    [case] = scoped_cases(engine, settings)
    desk = CaseDesk(settings, engine)
    analyst, other_analyst = officer(engine, "analyst"), officer(engine, "analyst")
    boss, other_boss = officer(engine, "supervisor"), officer(engine, "supervisor")

    pending = desk.resolve(case.case_id, analyst, "confirmed", "the name does not match")
    assert pending.status == "open" and pending.pending_outcome == "confirmed"
    assert pending.pending_by == analyst.username
    first = pending.pending_event_id
    assert first is not None
    with pytest.raises(TransitionRefused, match="your own decision"):
        desk.approve(case.case_id, analyst, first)
    with pytest.raises(TransitionRefused, match="only a supervisor"):
        desk.approve(case.case_id, other_analyst, first)
    with pytest.raises(TransitionRefused, match="already waiting"):
        desk.resolve(case.case_id, other_analyst, "cleared", "looks fine to me")

    desk.reject(case.case_id, boss, "check the second page first", first)
    again = desk.resolve(case.case_id, boss, "confirmed", "second page checked")
    assert again.pending_by == boss.username
    second = again.pending_event_id
    assert second is not None and second != first
    with pytest.raises(TransitionRefused, match="your own decision"):
        desk.approve(case.case_id, boss, second)  # a supervisor neither
    closed = desk.approve(case.case_id, other_boss, second)
    assert closed.status == "closed_confirmed" and closed.pending_outcome is None
    with pytest.raises(TransitionRefused, match="closed case cannot be escalated"):
        desk.escalate(case.case_id, boss, "too late")

    view = case_view(engine, sealing_codec(engine), case.case_id, scope=settings.topic_prefix)
    assert view is not None
    assert [h.action for h in view.history] == [
        "opened",
        "decision_proposed",
        "decision_rejected",
        "decision_proposed",
        "decision_approved",
    ]
    assert view.history[2].comment == "check the second page first"  # opened for the reader
    with engine.connect() as conn:
        stored = conn.execute(
            select(case_history.c.comment).where(
                case_history.c.event_id == view.history[2].event_id
            )
        ).scalar_one()
    assert stored.startswith("sealed:v1:")  # kept sealed in the table


def test_the_desk_assigns_comments_reviews_and_escalates(
    settings: Settings, engine: Engine, processes: Processes
) -> None:
    who = customer()
    publish(settings, engine, [sample_exception(who, reason=f"name of {who} differs")])
    processes.start("cases")
    wait_for_cases(engine, settings, 1, processes)
    [case] = scoped_cases(engine, settings)
    desk = CaseDesk(settings, engine)
    analyst, boss = officer(engine, "analyst"), officer(engine, "supervisor")

    assert desk.assign(case.case_id, boss, analyst.username).assignee == analyst.username
    with pytest.raises(TransitionRefused, match="no active officer"):
        desk.assign(case.case_id, boss, "nobody-" + uuid.uuid4().hex[:6])
    desk.comment(case.case_id, analyst, "called the customer")
    assert desk.start_review(case.case_id, analyst).status == "in_review"
    assert desk.escalate(case.case_id, analyst, "needs legal").status == "escalated"
    mine = queue(engine, assignee=analyst.username, scope=settings.topic_prefix)
    assert [c.case_id for c in mine] == [case.case_id]
    assert queue(engine, search=who[:8], scope=settings.topic_prefix)[0].case_id == case.case_id
    view = case_view(engine, sealing_codec(engine), case.case_id, scope=settings.topic_prefix)
    assert view is not None
    assert view.exceptions[0].reason == f"name of {who} differs"
    assert [h.action for h in view.history][-3:] == ["commented", "review_started", "escalated"]


# --- the projection ----------------------------------------------------------------------


def test_the_tables_rebuilt_from_cases_decisions_equal_the_live_ones(
    settings: Settings, engine: Engine, processes: Processes
) -> None:
    customers = [customer() for _ in range(6)]
    events = [
        sample_exception(c, category=cat, severity=sev, sla_due_at=now() - timedelta(minutes=1))
        for c in customers
        for cat, sev in (("kyc", "medium"), ("gdpr", "high"), ("kyc", "low"))
    ]
    publish(settings, engine, events)
    processes.start("cases", COMPLIANCE_CASES_SWEEP_INTERVAL_S="0.5")
    wait_for_cases(engine, settings, len(events), processes)
    wait_for(
        lambda: all(c.sla_breached for c in scoped_cases(engine, settings)),
        30,
        "every case flagged",
        processes,
    )
    desk = CaseDesk(settings, engine)
    analyst, boss = officer(engine, "analyst"), officer(engine, "supervisor")
    found = scoped_cases(engine, settings)
    desk.assign(found[0].case_id, boss, analyst.username)
    desk.comment(found[1].case_id, analyst, "waiting for a new passport scan")
    desk.escalate(found[2].case_id, analyst, "odd address")
    low = next(c for c in found if c.severity == "medium")
    desk.resolve(low.case_id, analyst, "cleared", "all fine")
    high = next(c for c in found if c.severity == "high")
    desk.resolve(high.case_id, analyst, "confirmed", "a real problem")
    processes.stop_all()
    before = table_rows(engine, settings)
    assert len(before["cases"]) == 12 and len(before["case_exceptions"]) == 18

    done = compliance_cli(settings, "cases", "rebuild")
    assert done.returncode == 0, done.stderr
    assert "dropped 12 case(s)" in done.stdout
    assert table_rows(engine, settings) == before


# --- crashes, poison, the audit trail ----------------------------------------------------


def test_a_cases_processor_killed_mid_run_leaves_no_duplicate_case_or_history_row(
    settings: Settings, engine: Engine, processes: Processes
) -> None:
    customers = [customer() for _ in range(100)]
    events = [
        sample_exception(c, category=cat, rule_id=f"r{i}")
        for i in range(10)
        for c in customers
        for cat in ("kyc", "document_quality")
    ]
    publish(settings, engine, events)
    processes.start("cases", COMPLIANCE_BATCH_SIZE="20")  # 100 transactions: killed amid them
    wait_for(lambda: exceptions_in_cases(engine, settings) >= 100, 60, "a first part", processes)
    processes.kill("cases")
    assert exceptions_in_cases(engine, settings) < len(events), "killed after the end"
    processes.start("cases")
    wait_for_cases(engine, settings, len(events), processes, timeout_s=120)

    found = scoped_cases(engine, settings)
    assert len(found) == 200  # one per customer and category
    assert {c.exception_count for c in found} == {10}
    rows = table_rows(engine, settings)
    assert len(rows["case_exceptions"]) == len(events)
    assert len(rows["case_history"]) == len(events)  # one opened/exception_added each
    decisions = read_topic(settings, CASES_DECISIONS.name, timeout_s=30)
    assert len(decisions) == len(events)  # exactly once on the topic too


def test_a_poison_exception_goes_to_its_dead_letter_topic_once(
    settings: Settings, engine: Engine, processes: Processes
) -> None:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap})
    producer.produce(settings.topic(COMPLIANCE_EXCEPTIONS), key=b"someone", value=b"not avro")
    assert producer.flush(10) == 0
    publish(settings, engine, [sample_exception(customer())])
    processes.start("cases")
    wait_for_cases(engine, settings, 1, processes)
    processes.stop_all()
    processes.start("cases")  # read again from the committed offsets: nothing redone
    publish(settings, engine, [sample_exception(customer())])
    wait_for_cases(engine, settings, 2, processes)
    assert len(read_topic(settings, COMPLIANCE_EXCEPTIONS.dead_letter)) == 1


def test_every_decision_reaches_the_audit_trail(
    settings: Settings, engine: Engine, processes: Processes
) -> None:
    who = customer()
    publish(settings, engine, [sample_exception(who, severity="low") for _ in range(3)])
    processes.start("cases")
    processes.start("audit-sink")
    wait_for_cases(engine, settings, 3, processes)
    [case] = scoped_cases(engine, settings)
    desk = CaseDesk(settings, engine)
    analyst = officer(engine, "analyst")
    desk.comment(case.case_id, analyst, "looked at it")
    desk.resolve(case.case_id, analyst, "cleared", "nothing wrong")
    expected = ["opened", "exception_added", "exception_added", "commented", "closed"]
    wait_for(
        lambda: sorted(_audited_actions(engine, settings)) == sorted(expected),
        60,
        "the decisions in the audit trail",
        processes,
    )
    assert recorded(engine, settings.topic(CASES_DECISIONS)) == len(expected)

    view = case_view(engine, sealing_codec(engine), case.case_id, scope=settings.topic_prefix)
    assert view is not None
    trail = [t for t in view.trail if t.event_type == "ComplianceException"]
    assert sorted(t.event_id for t in trail) == sorted(e.event_id for e in view.exceptions)
    assert {t.payload["reason"] for t in trail} == {"the rule failed"}  # opened from the trail


# --- sanctions ---------------------------------------------------------------------------


def test_clearing_a_sanctions_case_records_a_clearance_so_the_hit_does_not_come_back(
    settings: Settings, engine: Engine, processes: Processes
) -> None:
    from compliance.screening.clearance_store import ClearanceStore
    from compliance.screening.customers import customer_version
    from compliance.screening.live import lists_in_force
    from compliance.screening.model import entity_version
    from compliance.topics import SANCTIONS_CLEARANCES

    entity = lists_in_force(settings, engine).lists[0].entities[0]
    who = customer()
    details = {
        "full_name": "Ivan Placeholder",
        "date_of_birth": "1960-01-12",
        "nationality": "NL",
        "entity_id": entity.entity_id,
        "matched_name": entity.name,
        "score": "91.0",
    }
    publish(
        settings,
        engine,
        [
            sample_exception(
                who,
                category="sanctions",
                rule_id="aml.sanctions-name-screen",
                kind="needs_review",
                severity="high",
                reason=f"name matches listed person {entity.name!r}",
                details=details,
            )
        ],
    )
    processes.start("cases")
    wait_for_cases(engine, settings, 1, processes)
    [case] = scoped_cases(engine, settings)
    desk = CaseDesk(settings, engine)
    analyst, boss = officer(engine, "analyst"), officer(engine, "supervisor")
    store = ClearanceStore(engine)
    version = entity_version(entity)
    screened = customer_version("Ivan Placeholder", "1960-01-12", ["NL"])

    pending = desk.resolve(case.case_id, analyst, "cleared", "different person: other birth date")
    assert store.in_force(who, entity.entity_id, version, screened) is None  # not before approval
    assert pending.pending_event_id is not None
    closed = desk.approve(case.case_id, boss, pending.pending_event_id)
    assert closed.status == "closed_cleared"

    clearance = store.in_force(who, entity.entity_id, version, screened)
    assert clearance is not None
    assert clearance.officer == f"{analyst.username}, approved by {boss.username}"
    assert len(read_topic(settings, SANCTIONS_CLEARANCES.name)) == 1
    view = case_view(engine, sealing_codec(engine), case.case_id, scope=settings.topic_prefix)
    assert view is not None
    assert view.history[-1].detail["cleared_entities"] == entity.entity_id


def test_a_decision_on_the_topic_whose_apply_was_lost_reaches_the_tables(
    settings: Settings, engine: Engine, processes: Processes
) -> None:
    """A desk that died between publishing its decision and applying it: the cases
    processor's feed applies the decision from cases.decisions."""
    from compliance.cases.decisions import DESK, decision, desk_discriminator
    from compliance.processors.cases import state_of

    publish(settings, engine, [sample_exception(customer(), severity="low")])
    processes.start("cases")
    wait_for_cases(engine, settings, 1, processes)
    [row] = scoped_cases(engine, settings)
    out = decision(
        state_of(row),
        action="escalated",
        actor="someone",
        stage=DESK,
        cause=row.last_event_id,
        discriminator=desk_discriminator("escalated", "someone", "lost"),
        status="escalated",
    )
    sender = EventSender(settings, codec=sealing_codec(engine))
    sender.send(CASES_DECISIONS, out.event_type, out.record)
    sender.flush()  # published, never applied by its maker

    wait_for(
        lambda: scoped_cases(engine, settings)[0].status == "escalated",
        30,
        "the lost decision applied",
        processes,
    )
    [after] = scoped_cases(engine, settings)
    assert after.last_event_id == out.record["envelope"]["event_id"]


def test_a_transaction_monitoring_case_shows_the_payments_behind_its_alert(
    settings: Settings, engine: Engine, processes: Processes
) -> None:
    from decimal import Decimal

    from compliance.topics import TRANSACTIONS_SUBMITTED
    from compliance.transactions.model import Transaction, transaction_record

    who, account = customer(), f"NL{uuid.uuid4().hex[:10]}"
    payments = [
        Transaction(
            transaction_id=f"tx-{uuid.uuid4().hex[:8]}",
            booked_at=now() - timedelta(hours=3 - i),
            amount=Decimal("9500.00"),
            currency="EUR",
            direction="in",
            account_id=account,
            channel="sepa",
            account_owner=who,
            counterparty_name=f"Sender {i}",
            counterparty_account=f"DE{i:020d}",
            counterparty_country="DE",
        )
        for i in range(3)
    ]
    reason = "28500.00 EUR came in and 27000.00 EUR (95%) left again within P7D"
    sender = EventSender(settings, codec=sealing_codec(engine))
    for tx in payments:
        sender.send(
            TRANSACTIONS_SUBMITTED,
            "TransactionSubmitted",
            transaction_record(tx, source_system="t"),
        )
    sender.flush()
    publish(
        settings,
        engine,
        [
            sample_exception(
                who,
                category="transaction_monitoring",
                rule_id="tx.structuring",
                kind="transaction_alert",
                evidence=[("transaction", tx.transaction_id) for tx in payments],
                subject_id=account,  # an alert's subject is the account, not the customer
                reason=reason,
                details={"window": "P7D", "note": f"owner {who}"},
            )
        ],
    )
    processes.start("cases")
    processes.start("audit-sink")
    wait_for_cases(engine, settings, 1, processes)
    [case] = scoped_cases(engine, settings)

    def shown() -> list[Any]:
        view = case_view(engine, sealing_codec(engine), case.case_id, scope=settings.topic_prefix)
        return [] if view is None else view.transactions

    wait_for(lambda: len(shown()) == 3, 60, "the payments in the case view", processes)
    txs = shown()
    assert [t.transaction_id for t in txs] == [tx.transaction_id for tx in payments]  # by time
    assert {(t.amount, t.currency, t.direction) for t in txs} == {("9500.00", "EUR", "in")}
    assert [t.counterparty for t in txs] == ["Sender 0", "Sender 1", "Sender 2"]
    view = case_view(engine, sealing_codec(engine), case.case_id, scope=settings.topic_prefix)
    assert view is not None
    [alert] = view.exceptions
    assert alert.subject_id == account
    assert alert.reason == reason  # sealed again with the customer's key, opened with it
    assert alert.details == {"window": "P7D", "note": f"owner {who}"}


def _plan(engine: Engine, statement: Any) -> str:
    """The plan PostgreSQL makes for ``statement`` when it must read an index in order if one
    serves (sequential and bitmap scans and sorts off, so the answer does not depend on how
    many cases the shared table or this test's scope holds: a Sort left in the plan means
    no index gives the queue's order)."""
    from sqlalchemy import text
    from sqlalchemy.dialects import postgresql

    sql = str(
        statement.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True})
    )
    with engine.begin() as conn:
        for plan in ("enable_seqscan", "enable_bitmapscan", "enable_sort"):
            conn.execute(text(f"SET LOCAL {plan} = off"))
        return "\n".join(r[0] for r in conn.execute(text("EXPLAIN " + sql)))


def test_the_queue_is_read_in_index_order_and_the_search_through_indexes(
    settings: Settings, engine: Engine
) -> None:
    from compliance.cases.queries import queue_query

    scope = settings.topic_prefix
    open_queue = _plan(
        engine, queue_query(statuses=("open", "in_review", "escalated"), scope=scope)
    )
    assert "cases_open_queue" in open_queue and "Sort" not in open_queue, open_queue
    one_status = _plan(engine, queue_query(statuses=("closed_cleared",), scope=scope))
    assert "cases_status_queue" in one_status and "Sort" not in one_status, one_status
    search = _plan(engine, queue_query(search="C-12", scope=scope))
    # Which index serves the customer branch depends on the table's statistics (in a fresh
    # database an empty scope is as cheap through the status index): no branch scans a table,
    # the documents' branch uses its prefix index, and the customers' prefix index exists.
    assert "Seq Scan" not in search, search
    assert "case_exceptions_document_prefix" in search, search
    with engine.connect() as conn:
        definition = conn.execute(
            text("SELECT indexdef FROM pg_indexes WHERE indexname = 'cases_customer_prefix'")
        ).scalar_one()
    assert "scope" in definition and "customer_id text_pattern_ops" in definition, definition
