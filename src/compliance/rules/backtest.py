"""Backtest: replay audited documents through a (changed) ruleset and report which decisions
would change.

The documents are the ``DocumentClassified`` events in the audit trail; the decisions they
got are the ``CheckResult`` events they caused. Each document is re-decided as of its own
classification time, against the customer's state as of then (``rules.store``), exactly as
the checker would have decided it with the new rules. Nothing is written anywhere.

A ruleset whose sanctions rule screens the lists in force decides with the lists it is bound
to (``Ruleset.with_lists``; the ``rules backtest`` command binds the lists and clearances in
force now, so a change in the lists since shows among the changes too); the report names
them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select

from compliance.audit.personal_data import ERASED, reveal
from compliance.audit.store import audit_events
from compliance.audit.subject_keys import existing_keys
from compliance.codec import Record
from compliance.rules.engine import evaluate
from compliance.rules.ruleset import Ruleset
from compliance.rules.state import NO_STATE
from compliance.rules.store import StateStore

CHUNK = 500


@dataclass(frozen=True)
class Change:
    document_id: str
    customer_id: str | None
    document_type: str
    classified_at: datetime
    rule_id: str
    before: str | None  # outcome recorded then; None: the rule did not apply then
    after: str | None  # outcome now; None: the rule no longer applies
    explanation: str  # why, under the new rules (or why then, for a rule now gone)


@dataclass
class BacktestReport:
    ruleset_version: str
    lists_version: str | None = None  # the sanctions lists screened, if the rules screen any
    documents: int = 0
    decisions: int = 0
    erased: int = 0  # documents whose subject was erased: their fields cannot be replayed
    versions_before: set[str] = field(default_factory=set)
    changes: list[Change] = field(default_factory=list)

    @property
    def documents_changed(self) -> int:
        return len({c.document_id for c in self.changes})


def document_from_audit(payload: dict[str, Any]) -> Record:
    """A DocumentClassified record as the checker received it, from its audit payload."""
    record = dict(payload)
    env = dict(record["envelope"])
    env["occurred_at"] = datetime.fromisoformat(env["occurred_at"])
    record["envelope"] = env
    return record


def _classified(
    engine: Engine, topic: str, since: datetime, until: datetime | None
) -> Iterator[dict[str, Any]]:
    """Audited DocumentClassified payloads, personal fields opened with their subject's key."""
    t = audit_events.c
    query = select(t.event_id, t.subject_id, t.payload).where(
        t.event_type == "DocumentClassified", t.topic == topic, t.occurred_at >= since
    )
    if until is not None:
        query = query.where(t.occurred_at < until)
    with engine.connect() as conn:
        rows = list(conn.execute(query.order_by(t.occurred_at, t.event_id)))
        keys = existing_keys(conn, {subject for _, subject, _ in rows if subject})
    for event_id, subject, payload in rows:
        yield reveal(str(event_id), payload, keys.get(subject) if subject else None)


def _decisions(engine: Engine, causes: Sequence[str]) -> dict[str, dict[str, tuple[str, str, str]]]:
    """Classified event id -> rule id -> (outcome, explanation, ruleset version)."""
    t = audit_events.c
    found: dict[str, dict[str, tuple[str, str, str]]] = {}
    with engine.connect() as conn:
        for start in range(0, len(causes), CHUNK):
            query = select(t.causation_id, t.payload).where(
                t.event_type == "CheckResult", t.causation_id.in_(causes[start : start + CHUNK])
            )
            for cause, payload in conn.execute(query):
                explanation = payload["explanation"]
                found.setdefault(cause, {})[payload["rule_id"]] = (
                    payload["outcome"],
                    explanation if isinstance(explanation, str) else "(sealed)",
                    payload["envelope"].get("ruleset_version") or "",
                )
    return found


def backtest(
    engine: Engine,
    ruleset: Ruleset,
    *,
    topic: str,
    scope: str,
    since: datetime,
    until: datetime | None = None,
) -> BacktestReport:
    report = BacktestReport(ruleset.version, ruleset.lists_version)
    documents = []
    for payload in _classified(engine, topic, since, until):
        if payload.get("fields") == ERASED:
            report.erased += 1
            continue
        documents.append(document_from_audit(payload))
    before = _decisions(engine, [d["envelope"]["event_id"] for d in documents])
    store = StateStore(engine, scope)
    for document in documents:
        env = document["envelope"]
        decided = before.get(env["event_id"], {})
        report.documents += 1
        report.versions_before.update(v for _, _, v in decided.values() if v)
        needs = ruleset.needs_for_type(document["document_type"])
        customer_id = document["customer_id"]
        state = (
            store.state_for(customer_id, env["occurred_at"], env["event_id"], needs)
            if needs and customer_id
            else NO_STATE
        )
        fields = {f["name"]: f["value"] for f in document["fields"]}
        results = evaluate(
            ruleset,
            document["document_type"],
            fields,
            env["occurred_at"],
            customer_id=customer_id,
            customer=state,
            declared_type=document.get("declared_type"),
        )
        now = {r.rule.id: r for r in results}
        report.decisions += len(now)
        for rule_id in sorted(set(now) | set(decided)):
            old = decided.get(rule_id)
            new = now.get(rule_id)
            old_outcome = old[0] if old else None
            new_outcome = new.outcome if new else None
            if old_outcome == new_outcome:
                continue
            report.changes.append(
                Change(
                    document_id=document["document_id"],
                    customer_id=customer_id,
                    document_type=document["document_type"],
                    classified_at=env["occurred_at"],
                    rule_id=rule_id,
                    before=old_outcome,
                    after=new_outcome,
                    explanation=new.explanation if new else (old[1] if old else ""),
                )
            )
    return report
