"""Exceptions into cases: one open case per (customer, category).

``take_in`` is the pure decision: an exception either opens a case (there is no open one for
its customer and category: never one, or the last one closed) or is added to the open one.
The cases processor (``processors/cases.py``) gives it the open case as the projection has
it, or as the batch's earlier exceptions left it.
"""

from __future__ import annotations

from dataclasses import replace

from compliance.cases.decisions import (
    PROCESSOR,
    CaseState,
    decision,
    earlier,
    higher_severity,
)
from compliance.codec import Record
from compliance.events import derive_event_id
from compliance.exception_routing import current_policy
from compliance.outgoing import Outgoing

CaseKey = tuple[str, str]  # (customer id, category)


def case_key(exception: Record) -> CaseKey:
    """The case an exception belongs in: its customer (else its subject) and its category
    (routed by kind and rule for exceptions written before they carried one)."""
    customer = exception.get("customer_id") or exception["envelope"]["subject_id"]
    category = exception.get("category") or current_policy().category(
        exception["kind"], exception.get("rule_id")
    )
    return customer, category


def case_exception(exception: Record) -> Record:
    """The exception as a decision carries it (reason and details as they are: sealed)."""
    env = exception["envelope"]
    return {
        "event_id": env["event_id"],
        "subject_id": env["subject_id"],
        "document_id": exception.get("document_id"),
        "kind": exception["kind"],
        "rule_id": exception.get("rule_id"),
        "rule_version": exception.get("rule_version"),
        "severity": exception["severity"],
        "raised_at": env["occurred_at"],
        "sla_due_at": exception.get("sla_due_at"),
        "reason": exception["reason"],
        "details": dict(exception.get("details") or {}),
        "evidence": [{"kind": e["kind"], "ref": e["ref"]} for e in exception.get("evidence") or []],
    }


def take_in(
    exception: Record, open_case: CaseState | None, scope: str
) -> tuple[Outgoing, CaseState]:
    """The decision an exception makes, and the case after it."""
    env = exception["envelope"]
    customer, category = case_key(exception)
    taken = case_exception(exception)
    severity = exception["severity"]
    due = exception.get("sla_due_at")
    if open_case is None or not open_case.is_open:
        case_id = derive_event_id(PROCESSOR, env["event_id"], "case")
        case = CaseState(
            case_id=case_id,
            scope=scope,
            customer_id=customer,
            category=category,
            severity=severity,
            status="open",
            assignee=None,
            sla_due_at=due,
            sla_breached=False,
            pending_outcome=None,
            pending_by=None,
            last_event_id="",
        )
        out = decision(
            case,
            action="opened",
            actor=PROCESSOR,
            stage=PROCESSOR,
            cause=env["event_id"],
            discriminator="opened",
            title=title(category, customer, exception),
            exception=taken,
            occurred_at=env["occurred_at"],
            causation_id=env["event_id"],
        )
    else:
        case = replace(
            open_case,
            severity=higher_severity(open_case.severity, severity),
            sla_due_at=earlier(open_case.sla_due_at, due),
        )
        out = decision(
            case,
            action="exception_added",
            actor=PROCESSOR,
            stage=PROCESSOR,
            cause=env["event_id"],
            discriminator="exception_added",
            exception=taken,
            occurred_at=env["occurred_at"],
            causation_id=env["event_id"],
        )
    return out, replace(case, last_event_id=out.record["envelope"]["event_id"])


def title(category: str, customer: str, exception: Record) -> str:
    """Category, customer id and the first rule (or kind): nothing personal."""
    what = exception.get("rule_id") or exception["kind"]
    return f"{category.replace('_', ' ')}: customer {customer}, {what}"
