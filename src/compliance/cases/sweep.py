"""The SLA sweep: every open case past its due time, not flagged yet, gets an
``sla_breached`` decision, published on ``cases.decisions`` (so audited like any other) and
applied to the tables.

Run by the cases processor every ``cases_sweep_interval_s`` seconds and by the scheduler's
``sla-sweep`` job (``compliance.scheduler.sla_sweep``); both may run at once. A case is
flagged once: its breach decision's event id derives from the case alone, so two sweeps that
both found it publish the same event, and the projection (idempotent by event id) applies it
once; the count returned, and the ``sla_breaches`` metric, are of the decisions applied now.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select

from compliance.cases.counting import count_decisions
from compliance.cases.decisions import PROCESSOR, CaseState, decision
from compliance.cases.projection import apply_new
from compliance.cases.tables import OPEN_STATUSES, cases
from compliance.config import Settings
from compliance.db_errors import retryable_db_errors
from compliance.outgoing import Outgoing
from compliance.topics import CASES_DECISIONS

log = logging.getLogger(__name__)


def state_of(r: Any) -> CaseState:
    return CaseState(
        case_id=r.case_id,
        scope=r.scope,
        customer_id=r.customer_id,
        category=r.category,
        severity=r.severity,
        status=r.status,
        assignee=r.assignee,
        sla_due_at=r.sla_due_at,
        sla_breached=r.sla_breached,
        pending_outcome=r.pending_outcome,
        pending_by=r.pending_by,
        last_event_id=r.last_event_id,
    )


def breaches(open_cases: Iterable[CaseState], at: datetime) -> list[Outgoing]:
    """An ``sla_breached`` decision for each open case past its due time not flagged yet."""
    return [
        decision(
            case,
            action="sla_breached",
            actor=PROCESSOR,
            stage=PROCESSOR,
            cause=case.case_id,
            discriminator="sla_breached",
            occurred_at=at,
            detail={"due": case.sla_due_at.isoformat()} if case.sla_due_at else {},
        )
        for case in open_cases
        if case.is_open
        and not case.sla_breached
        and case.sla_due_at is not None
        and case.sla_due_at < at
    ]


def overdue_cases(engine: Engine, scope: str, at: datetime) -> list[CaseState]:
    c = cases.c
    query = select(cases).where(
        c.scope == scope,
        c.status.in_(OPEN_STATUSES),
        c.sla_breached.is_(False),
        c.sla_due_at < at,
    )
    with retryable_db_errors("the case tables"), engine.connect() as conn:
        return [state_of(r) for r in conn.execute(query)]


def sweep(settings: Settings, engine: Engine, sender: Any, at: datetime) -> int:
    """Flag the open cases of the deployment (``settings.topic_prefix``) past their due time
    at ``at``, with ``sender`` (an ``EventSender``); returns how many were flagged now."""
    marked = breaches(overdue_cases(engine, settings.topic_prefix, at), at)
    if not marked:
        return 0
    for out in marked:
        sender.send(CASES_DECISIONS, out.event_type, out.record)
    sender.flush()
    with retryable_db_errors("the case tables"), engine.begin() as conn:
        flagged = apply_new(conn, [o.record for o in marked], settings.topic_prefix)
    count_decisions(flagged)
    if flagged:
        log.info("cases: %d case(s) past their SLA", len(flagged))
    return len(flagged)


def sweep_sla_breaches(settings: Settings, engine: Engine, now: datetime) -> int:
    """The scheduler's entry (``compliance.scheduler.sla_sweep``): ``sweep`` with a sender
    of its own; the number of cases newly flagged."""
    from compliance.screening.sending import EventSender

    return sweep(settings, engine, EventSender(settings), now)
