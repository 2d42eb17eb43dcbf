"""The case tables as a projection of ``cases.decisions``.

``apply`` (one decision) and ``apply_many`` (decisions in order) are the one way the tables
change, used by the cases processor (after its Kafka transaction commits), by the desk (after
its event is delivered), by the feed that follows the topic, and by ``compliance cases
rebuild``. They are idempotent by event id: every decision writes one ``case_history`` row
keyed by its event id, and a decision whose row is there already changes nothing. So a
decision applied directly and read again from the topic, or read again after a crash, counts
once.

Each decision carries what the projection needs (an opened or exception_added decision the
whole exception): nothing else is read. Each action changes only what it is about (an added
exception: the count, the highest severity, the earliest due time; a review or escalation:
the status; an assignment: the assignee ...), so decisions of different writers (the
processor, the desk, the SLA sweep) do not undo each other whatever order they land in.

An exception never joins a closed case silently: an ``exception_added`` decision that finds
its case closed (closed meanwhile by an officer whose decision landed first) reopens it, with
a ``reopened`` history row saying why, so the new exception is in the queue again.

A batch is applied in a few round trips whatever its size: the history rows, the new cases
and the new exceptions inserted in multi-row statements, then every case touched updated in
one statement, each with its decisions folded in order (the rows of the cases touched locked
first, in the order of their ids). Rows are written in the order of their keys, so two
writers applying overlapping batches never deadlock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, text
from sqlalchemy.dialects.postgresql import insert

from compliance.cases.decisions import PROCESSOR, SEVERITY_RANK, to_json
from compliance.cases.tables import case_exceptions, case_history, cases
from compliance.codec import Record
from compliance.events import derive_event_id

STATUS_ACTIONS = frozenset({"review_started", "escalated", "decision_approved", "closed"})
ENDS_PENDING = frozenset({"decision_approved", "decision_rejected", "closed"})
REOPENED = "reopened"  # a history row of the projection's own (no event: it follows from one)


def apply(conn: Connection, decision: Record, scope: str = "") -> bool:
    """Apply one decision in the caller's transaction; False when it was applied before."""
    return apply_many(conn, [decision], scope) == 1


def apply_many(conn: Connection, decisions: Sequence[Record], scope: str = "") -> int:
    """Apply decisions in order, in the caller's transaction, skipping those applied before;
    returns how many were new."""
    return len(apply_new(conn, decisions, scope))


def apply_new(conn: Connection, decisions: Sequence[Record], scope: str = "") -> list[Record]:
    """``apply_many``, returning the decisions applied now (not before, nor by another
    writer meanwhile), in order."""
    fresh = _not_applied(conn, decisions)
    if not fresh:
        return []
    new = _insert_history(conn, fresh)
    fresh = [d for d in fresh if d["envelope"]["event_id"] in new]
    _insert_cases(conn, [d for d in fresh if d["action"] == "opened"], scope)
    added = _insert_exceptions(conn, [d for d in fresh if d.get("exception") is not None])
    statuses = _locked_statuses(conn, sorted({d["case_id"] for d in fresh}))
    changes: dict[str, _Change] = {}
    reopenings: list[Record] = []
    for d in fresh:
        case_id = d["case_id"]
        change = changes.setdefault(case_id, _Change(case_id, start_status=statuses.get(case_id)))
        was = change.current_status
        if change.fold(d, d.get("exception") is not None and d["exception"]["event_id"] in added):
            reopenings.append(_reopening(d, was or ""))
    if reopenings:
        _insert_history(conn, reopenings)
    _update_cases(conn, [changes[case_id] for case_id in sorted(changes)])
    return fresh


def _locked_statuses(conn: Connection, case_ids: list[str]) -> dict[str, str]:
    """The status of each case touched, its row locked until the caller's transaction ends
    (in the order of the ids: one lock order for every writer)."""
    if not case_ids:
        return {}
    query = (
        select(cases.c.case_id, cases.c.status)
        .where(cases.c.case_id.in_(case_ids))
        .order_by(cases.c.case_id)
        .with_for_update()
    )
    return {r.case_id: r.status for r in conn.execute(query)}


def _reopening(d: Record, was: str) -> Record:
    """The history row (as a decision-shaped record) of a closed case reopened by the
    exception ``d`` adds; its id derives from that decision's, so it is written once."""
    event_id = d["envelope"]["event_id"]
    return {
        "envelope": {
            "event_id": derive_event_id("cases-projection", event_id, REOPENED),
            "occurred_at": d["envelope"]["occurred_at"],
        },
        "case_id": d["case_id"],
        "actor": PROCESSOR,
        "action": REOPENED,
        "status": "open",
        "comment": None,
        "detail": {
            "was": was,
            "because": "an exception arrived after the case was closed",
            "decision_event_id": event_id,
        },
        "exception": d.get("exception"),
    }


def _not_applied(conn: Connection, decisions: Sequence[Record]) -> list[Record]:
    """The decisions whose history row is not there yet (each once, in order)."""
    ids = list({d["envelope"]["event_id"] for d in decisions})
    if not ids:
        return []
    known = {
        r[0]
        for r in conn.execute(
            select(case_history.c.event_id).where(case_history.c.event_id.in_(ids))
        )
    }
    fresh = []
    for d in decisions:
        event_id = d["envelope"]["event_id"]
        if event_id not in known:
            known.add(event_id)
            fresh.append(d)
    return fresh


def _insert_history(conn: Connection, decisions: list[Record]) -> set[str]:
    """Insert the history rows; the ids inserted now (another writer may have won some)."""
    rows = [
        {
            "event_id": d["envelope"]["event_id"],
            "case_id": d["case_id"],
            "at": d["envelope"]["occurred_at"],
            "actor": d["actor"],
            "action": d["action"],
            "comment": d.get("comment"),
            "detail": to_json(_history_detail(d)),
        }
        for d in decisions
    ]
    rows.sort(key=lambda r: r["event_id"])  # one lock order for every writer: no deadlock
    statement = insert(case_history).on_conflict_do_nothing().returning(case_history.c.event_id)
    return {r[0] for r in conn.execute(statement, rows)}


def _insert_cases(conn: Connection, opened: list[Record], scope: str) -> None:
    rows = [
        {
            "case_id": d["case_id"],
            "scope": scope,
            "customer_id": d["customer_id"],
            "category": d["category"],
            "severity": d.get("severity") or "low",
            "status": d["status"],
            "assignee": d.get("assignee"),
            "title": d.get("title") or f"{d['category']}: customer {d['customer_id']}",
            "opened_at": d["envelope"]["occurred_at"],
            "updated_at": d["envelope"]["occurred_at"],
            "sla_due_at": d.get("sla_due_at"),
            "sla_breached": False,
            "exception_count": 0,
            "last_event_id": d["envelope"]["event_id"],
        }
        for d in opened
    ]
    rows.sort(key=lambda r: r["case_id"])
    if rows:  # RETURNING makes it multi-row statements, not one statement per row
        conn.execute(insert(cases).on_conflict_do_nothing().returning(cases.c.case_id), rows)


def _insert_exceptions(conn: Connection, decisions: list[Record]) -> set[str]:
    """Insert the exceptions the decisions take in; the ids inserted now."""
    rows = []
    for d in decisions:
        e = d["exception"]
        rows.append(
            {
                "exception_event_id": e["event_id"],
                "case_id": d["case_id"],
                "subject_id": e["subject_id"],
                "document_id": e.get("document_id"),
                "kind": e["kind"],
                "rule_id": e.get("rule_id"),
                "rule_version": e.get("rule_version"),
                "severity": e["severity"],
                "raised_at": e["raised_at"],
                "sla_due_at": e.get("sla_due_at"),
                "reason": e["reason"],
                "details": to_json(e.get("details") or {}),
                "evidence": to_json(e.get("evidence") or []),
            }
        )
    rows.sort(key=lambda r: r["exception_event_id"])
    if not rows:
        return set()
    statement = (
        insert(case_exceptions)
        .on_conflict_do_nothing()
        .returning(case_exceptions.c.exception_event_id)
    )
    return {r[0] for r in conn.execute(statement, rows)}


@dataclass
class _Change:
    """What a case's decisions of one batch do to its row, folded in order."""

    case_id: str
    start_status: str | None = None  # as the row was before this batch (None: new)
    added: int = 0
    severity: str | None = None  # the highest severity of the exceptions added
    due: datetime | None = None  # the earliest due time of the exceptions added
    status: str | None = None
    set_assignee: bool = False
    assignee: str | None = None
    set_pending: bool = False
    pending_outcome: str | None = None
    pending_by: str | None = None
    pending_at: datetime | None = None
    pending_event_id: str | None = None
    breached: bool = False
    at: datetime | None = None
    event_id: str = ""

    @property
    def current_status(self) -> str | None:
        return self.status if self.status is not None else self.start_status

    def fold(self, d: Record, exception_added: bool) -> bool:
        """Fold one decision in; True when it reopens a closed case (an exception added to
        a case closed before it)."""
        action = d["action"]
        reopens = action == "exception_added" and _closed(self.current_status)
        at = d["envelope"]["occurred_at"]
        if exception_added:
            e = d["exception"]
            self.added += 1
            if self.severity is None or _rank(e["severity"]) > _rank(self.severity):
                self.severity = e["severity"]
            due = e.get("sla_due_at")
            if due is not None and (self.due is None or due < self.due):
                self.due = due
        if action in STATUS_ACTIONS:
            self.status = d["status"]
        if action == "assigned":
            self.set_assignee, self.assignee = True, d.get("assignee")
        if action == "decision_proposed":
            self.set_pending = True
            self.pending_outcome, self.pending_by, self.pending_at = (
                d.get("outcome"),
                d["actor"],
                at,
            )
            self.pending_event_id = d["envelope"]["event_id"]
        elif action in ENDS_PENDING:
            self.set_pending = True
            self.pending_outcome = self.pending_by = self.pending_at = None
            self.pending_event_id = None
        if action == "sla_breached":
            self.breached = True
        if reopens:
            self.status = "open"
            self.set_pending = True
            self.pending_outcome = self.pending_by = self.pending_at = None
            self.pending_event_id = None
        self.at, self.event_id = at, d["envelope"]["event_id"]
        return reopens

    def parameters(self) -> dict[str, Any]:
        return {
            "case_id": self.case_id,
            "added": self.added,
            "severity": self.severity,
            "severity_rank": _rank(self.severity) if self.severity else -1,
            "due": self.due,
            "status": self.status,
            "set_assignee": self.set_assignee,
            "assignee": self.assignee,
            "set_pending": self.set_pending,
            "pending_outcome": self.pending_outcome,
            "pending_by": self.pending_by,
            "pending_at": self.pending_at,
            "pending_event_id": self.pending_event_id,
            "breached": self.breached,
            "at": self.at,
            "event_id": self.event_id,
        }


def _closed(status: str | None) -> bool:
    return status is not None and status.startswith("closed")


def _rank(severity: str) -> int:
    return SEVERITY_RANK.get(severity, -1)


_CASE_RANK = (
    "CASE c.severity "
    + " ".join(f"WHEN '{name}' THEN {rank}" for name, rank in SEVERITY_RANK.items())
    + " ELSE -1 END"
)
# One statement for every case a batch touches: the changes go as arrays, one element per
# case, joined to the rows by case id.
_UPDATE = text(
    f"""
UPDATE cases AS c SET
  exception_count = c.exception_count + v.added,
  severity = CASE WHEN v.severity_rank > {_CASE_RANK} THEN v.severity ELSE c.severity END,
  sla_due_at = CASE WHEN v.due IS NULL THEN c.sla_due_at
                    ELSE LEAST(COALESCE(c.sla_due_at, v.due), v.due) END,
  status = COALESCE(v.status, c.status),
  assignee = CASE WHEN v.set_assignee THEN v.assignee ELSE c.assignee END,
  pending_outcome = CASE WHEN v.set_pending THEN v.pending_outcome ELSE c.pending_outcome END,
  pending_by = CASE WHEN v.set_pending THEN v.pending_by ELSE c.pending_by END,
  pending_at = CASE WHEN v.set_pending THEN v.pending_at ELSE c.pending_at END,
  pending_event_id = CASE WHEN v.set_pending THEN v.pending_event_id
                          ELSE c.pending_event_id END,
  sla_breached = c.sla_breached OR v.breached,
  updated_at = v.at,
  last_event_id = v.event_id
FROM unnest(
  CAST(:case_id AS text[]), CAST(:added AS integer[]), CAST(:severity AS text[]),
  CAST(:severity_rank AS integer[]), CAST(:due AS timestamptz[]), CAST(:status AS text[]),
  CAST(:set_assignee AS boolean[]), CAST(:assignee AS text[]),
  CAST(:set_pending AS boolean[]), CAST(:pending_outcome AS text[]),
  CAST(:pending_by AS text[]), CAST(:pending_at AS timestamptz[]),
  CAST(:pending_event_id AS text[]),
  CAST(:breached AS boolean[]), CAST(:at AS timestamptz[]), CAST(:event_id AS text[])
) AS v(case_id, added, severity, severity_rank, due, status, set_assignee, assignee,
       set_pending, pending_outcome, pending_by, pending_at, pending_event_id, breached, at,
       event_id)
WHERE c.case_id = v.case_id
"""
)


def _update_cases(conn: Connection, changes: list[_Change]) -> None:
    if not changes:
        return
    rows = [c.parameters() for c in changes]
    conn.execute(_UPDATE, {name: [r[name] for r in rows] for name in rows[0]})


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
