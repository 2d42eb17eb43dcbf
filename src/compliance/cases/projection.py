"""The case tables as a projection of ``cases.decisions``.

``apply`` is the one function that changes the tables, used by the cases processor (after
its Kafka transaction commits), by the desk (after its event is delivered), by the feed that
follows the topic, and by ``compliance cases rebuild``. It is idempotent by event id: every
decision writes one ``case_history`` row keyed by its event id, and a decision whose row is
there already changes nothing. So a decision applied directly and read again from the topic,
or read again after a crash, counts once.

Each decision carries the case's status, severity, assignee and SLA due time after it, and an
opened or exception_added decision the whole exception: the projection reads nothing else.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, case, func, select, update
from sqlalchemy.dialects.postgresql import insert

from compliance.cases.decisions import SEVERITY_RANK, to_json
from compliance.cases.tables import case_exceptions, case_history, cases
from compliance.codec import Record


def apply(conn: Connection, decision: Record, scope: str = "") -> bool:
    """Apply one decision in the caller's transaction; False when it was applied before."""
    return apply_many(conn, [decision], scope) == 1


def apply_many(conn: Connection, decisions: Sequence[Record], scope: str = "") -> int:
    """Apply decisions in order, in the caller's transaction, skipping those applied before
    (read in one query); returns how many were new."""
    ids = [d["envelope"]["event_id"] for d in decisions]
    known = _known(conn, ids)
    applied = 0
    for d in decisions:
        event_id = d["envelope"]["event_id"]
        if event_id in known:
            continue
        known.add(event_id)
        if _apply_new(conn, d, scope):
            applied += 1
    return applied


def _known(conn: Connection, ids: Iterable[str]) -> set[str]:
    wanted = list(set(ids))
    if not wanted:
        return set()
    rows = conn.execute(select(case_history.c.event_id).where(case_history.c.event_id.in_(wanted)))
    return {r[0] for r in rows}


def _apply_new(conn: Connection, d: Record, scope: str) -> bool:
    env = d["envelope"]
    at = env["occurred_at"]
    history = (
        insert(case_history)
        .values(
            event_id=env["event_id"],
            case_id=d["case_id"],
            at=at,
            actor=d["actor"],
            action=d["action"],
            comment=d.get("comment"),
            detail=to_json(_history_detail(d)),
        )
        .on_conflict_do_nothing()
        .returning(case_history.c.event_id)
    )
    if conn.execute(history).first() is None:
        return False  # applied meanwhile by another writer
    action = d["action"]
    if action == "opened":
        conn.execute(
            insert(cases)
            .values(
                case_id=d["case_id"],
                scope=scope,
                customer_id=d["customer_id"],
                category=d["category"],
                severity=d.get("severity") or "low",
                status=d["status"],
                assignee=d.get("assignee"),
                title=d.get("title") or f"{d['category']} case for customer {d['customer_id']}",
                opened_at=at,
                updated_at=at,
                sla_due_at=d.get("sla_due_at"),
                sla_breached=False,
                exception_count=0,
                last_event_id=env["event_id"],
            )
            .on_conflict_do_nothing()
        )
    changes: dict[str, Any] = {"updated_at": at, "last_event_id": env["event_id"]}
    exception = d.get("exception")
    if exception is not None and _add_exception(conn, d["case_id"], exception):
        changes["exception_count"] = cases.c.exception_count + 1
        changes["severity"] = _higher(exception["severity"])
        if exception.get("sla_due_at") is not None:
            changes["sla_due_at"] = func.least(
                func.coalesce(cases.c.sla_due_at, exception["sla_due_at"]),
                exception["sla_due_at"],
            )
    # Each action changes only what it is about, so decisions from different writers (the
    # processor, the desk, the SLA sweep) do not undo each other whatever order they land in.
    if action == "assigned":
        changes["assignee"] = d.get("assignee")
    elif action in ("review_started", "escalated"):
        changes["status"] = d["status"]
    elif action == "decision_proposed":
        changes.update(pending_outcome=d.get("outcome"), pending_by=d["actor"], pending_at=at)
    elif action == "decision_rejected":
        changes.update(pending_outcome=None, pending_by=None, pending_at=None)
    elif action in ("decision_approved", "closed"):
        changes.update(status=d["status"], pending_outcome=None, pending_by=None, pending_at=None)
    elif action == "sla_breached":
        changes["sla_breached"] = True
    conn.execute(update(cases).where(cases.c.case_id == d["case_id"]).values(**changes))
    return True


def _higher(severity: str) -> Any:
    """SQL: the higher of the case's severity and ``severity``."""
    rank = case(SEVERITY_RANK, value=cases.c.severity, else_=-1)
    return case((rank >= SEVERITY_RANK.get(severity, -1), cases.c.severity), else_=severity)


def _add_exception(conn: Connection, case_id: str, e: Record) -> bool:
    added = conn.execute(
        insert(case_exceptions)
        .values(
            exception_event_id=e["event_id"],
            case_id=case_id,
            subject_id=e["subject_id"],
            document_id=e.get("document_id"),
            kind=e["kind"],
            rule_id=e.get("rule_id"),
            rule_version=e.get("rule_version"),
            severity=e["severity"],
            raised_at=e["raised_at"],
            sla_due_at=e.get("sla_due_at"),
            reason=e["reason"],
            details=to_json(e.get("details") or {}),
            evidence=to_json(e.get("evidence") or []),
        )
        .on_conflict_do_nothing()
        .returning(case_exceptions.c.exception_event_id)
    ).first()
    return added is not None


def _history_detail(d: Record) -> dict[str, Any]:
    """What the history row keeps besides actor, action and comment (nothing personal)."""
    detail: dict[str, Any] = dict(d.get("detail") or {})
    detail["status"] = d["status"]
    for name in ("outcome", "assignee", "severity"):
        if d.get(name) is not None:
            detail[name] = d[name]
    exception = d.get("exception")
    if exception is not None:
        detail["exception_event_id"] = exception["event_id"]
    return detail
