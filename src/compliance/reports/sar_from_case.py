"""A SAR's input from the case tables and the audit trail (``compliance report sar --case``).

Only a case the case tables hold as ``closed_confirmed`` makes a filing, and only once the
decision that confirmed it is in the audit trail (the filing rests on audited facts, never on
a status someone typed). Its content is read from the same places the review application
shows it (``compliance.cases.queries.case_view``, through the same access check): the
exceptions with their rules' explanations, the officers' decisions with their comments, the
payments behind a transaction alert as the audit trail recorded them, and what the classified
documents of the trail say about the subject (the latest document's value of each field).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import Engine, func, select

from compliance.audit.tables import audit_events
from compliance.cases.queries import CaseView, TrailEntry, case_view, find_case
from compliance.errors import ComplianceError
from compliance.reports.sar_case import CONFIRMED, CaseNotConfirmed
from compliance.reports.sar_input import (
    CaseDecision,
    CaseException,
    CaseInput,
    CaseTransaction,
    SubjectDetails,
)
from compliance.sealing import Keyring

CLOSING_ACTIONS = ("closed", "decision_approved")
_SUBJECT_FIELDS = (
    "full_name",
    "surname",
    "given_names",
    "date_of_birth",
    "sex",
    "document_number",
    "issuing_state",
    "nationality",
    "address",
)
_IDENTITY_DOCUMENTS = ("passport", "national_id", "drivers_license", "residence_permit")


class CaseNotInTables(ComplianceError):
    def __init__(self, case_id: str) -> None:
        super().__init__(
            f"no case {case_id} in this deployment's case tables: only a confirmed case there "
            "makes a filing"
        )


def confirmed_view(engine: Engine, keyring: Keyring, case_id: str, scope: str) -> CaseView:
    """The case as the tables hold it, when it is ``closed_confirmed`` and the decision that
    confirmed it is in the audit trail; else a ComplianceError saying which."""
    case = find_case(engine, case_id, scope=scope)
    if case is None:
        raise CaseNotInTables(case_id)
    if case.status != CONFIRMED:
        raise CaseNotConfirmed(case_id, case.status)
    view = case_view(engine, keyring, case_id, scope=scope)
    if view is None:  # deleted between the two reads: a rebuild running
        raise CaseNotInTables(case_id)
    closing = [h for h in view.history if h.action in CLOSING_ACTIONS]
    if not closing or not _audited(engine, closing[-1].event_id):
        raise ComplianceError(
            f"case {case_id} is confirmed, but the decision that confirmed it is not in the "
            "audit trail yet (is the audit sink running?): try again once it is recorded"
        )
    return view


def case_input(engine: Engine, keyring: Keyring, case_id: str, scope: str) -> CaseInput:
    """The confirmed case as a SAR's input, from the tables and the audit trail."""
    view = confirmed_view(engine, keyring, case_id, scope)
    status = view.case.status
    return CaseInput(
        case_id=view.case.case_id,
        customer_id=view.case.customer_id,
        category=view.case.category,
        status=status,
        opened_at=view.case.opened_at,
        closed_at=_closed_at(view),
        exceptions=[
            CaseException(
                rule_id=e.rule_id,
                kind=e.kind,
                severity=e.severity,
                reason=e.reason,
                details=dict(e.details),
                raised_at=e.raised_at,
            )
            for e in view.exceptions
        ],
        transactions=[t for t in map(_transaction, view.transactions) if t is not None],
        decisions=[
            CaseDecision(actor=h.actor, action=h.action, at=h.at, comment=h.comment)
            for h in view.history
            if h.actor != "cases"  # the officers' decisions, not the processor's bookkeeping
        ],
        subject=_subject(view),
    )


def _audited(engine: Engine, event_id: str) -> bool:
    try:
        wanted = uuid.UUID(event_id)
    except ValueError:
        return False
    query = select(func.count()).where(audit_events.c.event_id == str(wanted))
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one()) > 0


def _closed_at(view: CaseView) -> datetime | None:
    closing = [h.at for h in view.history if h.action in CLOSING_ACTIONS]
    return max(closing) if closing else None


def _transaction(t: Any) -> CaseTransaction | None:
    """A payment of the trail; None for one the trail does not describe fully."""
    try:
        amount = Decimal(t.amount)
        booked = datetime.fromisoformat(t.booked_at)
    except (InvalidOperation, ValueError):
        return None
    if amount <= 0 or t.direction not in ("in", "out"):
        return None
    return CaseTransaction(
        transaction_id=t.transaction_id,
        account=t.account_id,
        booked_at=booked,
        amount=amount,
        currency=t.currency,
        direction=t.direction,
        counterparty_name=t.counterparty,
        counterparty_account=t.counterparty_account,
        counterparty_country=t.counterparty_country,
    )


def _subject(view: CaseView) -> SubjectDetails | None:
    """What the classified documents of the trail say about the subject: each field from
    the latest document that has it; None when no document says anything."""
    found: dict[str, str] = {}
    document_type: str | None = None
    for entry in sorted(_classified(view.trail), key=lambda e: e.occurred_at):
        kind = entry.payload.get("document_type")
        values = {
            f.get("name"): f.get("value")
            for f in entry.payload.get("fields") or []
            if isinstance(f, dict) and isinstance(f.get("value"), str) and f.get("value")
        }
        for name in _SUBJECT_FIELDS:
            if name in values:
                found[name] = str(values[name])
        if kind in _IDENTITY_DOCUMENTS and "document_number" in values:
            document_type = str(kind)
    if not found:
        return None
    born = _date(found.get("date_of_birth"))
    accounts = sorted({t.account_id for t in view.transactions if t.account_id})
    return SubjectDetails(
        full_name=found.get("full_name"),
        surname=found.get("surname"),
        given_names=found.get("given_names"),
        date_of_birth=born,
        sex=found.get("sex"),
        document_type=document_type,
        document_number=found.get("document_number") if document_type else None,
        issuing_state=found.get("issuing_state"),
        nationality=found.get("nationality"),
        address=found.get("address"),
        accounts=accounts,
    )


def _classified(trail: list[TrailEntry]) -> list[TrailEntry]:
    return [t for t in trail if t.event_type == "DocumentClassified"]


def _date(text: str | None) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None
