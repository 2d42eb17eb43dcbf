"""The one way to change a case (the review application, the command line and tests all come
here).

Each method checks the change against the case as the projection has it and the officer
making it, publishes one ``cases.decisions`` event, waits until Kafka has it, applies it to
the tables (``compliance.cases.projection.apply``) and returns the case as it now is. The
event is on Kafka before the tables change: if the process dies in between, the feed of the
cases processor applies it later.

Four eyes: clearing or confirming a high or critical case records a pending decision; a
different officer who is a supervisor approves it (or rejects it). Nobody approves their own
decision, whatever their role; an analyst never approves. Clearing a sanctions case records a
clearance for its hits through the allowlist, so the same hit does not come back.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import Engine

from compliance.cases.clearing import record_clearances
from compliance.cases.counting import count_decisions
from compliance.cases.decisions import (
    DESK,
    CaseState,
    decision,
    desk_discriminator,
)
from compliance.cases.errors import CaseNotFound, TransitionRefused
from compliance.cases.projection import apply
from compliance.cases.queries import CaseSummary, case_view, find_case
from compliance.config import Settings
from compliance.db_errors import retryable_db_errors
from compliance.officers import Officer, find_officer
from compliance.outgoing import Outgoing
from compliance.sealing import ERASED, seal_text
from compliance.subject_keyring import DatabaseKeyring, sealing_codec
from compliance.topics import CASES_DECISIONS, SANCTIONS_CLEARANCES

log = logging.getLogger(__name__)
OUTCOMES = ("cleared", "confirmed")
MIN_REASON = 3


class CaseDesk:
    """Officers' decisions on cases: each one event on ``cases.decisions``, then the tables."""

    def __init__(self, settings: Settings, engine: Engine) -> None:
        from compliance.screening.sending import EventSender

        self.settings = settings
        self.engine = engine
        self.keyring = DatabaseKeyring(engine)
        self._codec = sealing_codec(engine)
        self._sender: EventSender | None = None

    @property
    def sender(self) -> Any:
        from compliance.screening.sending import EventSender

        if self._sender is None:
            self._sender = EventSender(self.settings, codec=self._codec)
        return self._sender

    # --- the decisions -------------------------------------------------------------------

    def assign(self, case_id: str, actor: Officer, assignee: str) -> CaseSummary:
        case = self._open_case(case_id, actor, "assigned")
        officer = find_officer(self.engine, assignee)
        if officer is None or officer.disabled:
            raise TransitionRefused(f"there is no active officer {assignee!r} to assign it to")
        if case.assignee == officer.username:
            return case
        return self._decide(case, actor, "assigned", assignee=officer.username)

    def comment(self, case_id: str, actor: Officer, text: str) -> CaseSummary:
        case = self._case(case_id, actor)
        return self._decide(case, actor, "commented", comment=_required(text, "a comment"))

    def start_review(self, case_id: str, actor: Officer) -> CaseSummary:
        case = self._open_case(case_id, actor, "put in review")
        if case.status != "open":
            raise TransitionRefused(f"the case is {_status(case.status)} already")
        return self._decide(case, actor, "review_started", status="in_review")

    def escalate(self, case_id: str, actor: Officer, reason: str) -> CaseSummary:
        case = self._open_case(case_id, actor, "escalated")
        if case.status == "escalated":
            raise TransitionRefused("the case is escalated already")
        text = _required(reason, "a reason for the escalation")
        return self._decide(case, actor, "escalated", status="escalated", comment=text)

    def resolve(self, case_id: str, actor: Officer, outcome: str, reason: str) -> CaseSummary:
        """Clear or confirm the case: at once for a low or medium case, else a pending
        decision for a second officer to approve."""
        if outcome not in OUTCOMES:
            raise TransitionRefused(f"the outcome is cleared or confirmed, not {outcome!r}")
        case = self._open_case(case_id, actor, "resolved")
        if case.pending_outcome is not None:
            raise TransitionRefused(
                f"a decision ({case.pending_outcome} by {case.pending_by}) is already waiting "
                "for approval: approve or reject it first"
            )
        text = _required(reason, "a reason for the decision")
        if case.needs_four_eyes:
            return self._decide(case, actor, "decision_proposed", outcome=outcome, comment=text)
        detail = self._clear_sanctions(case, outcome, actor.username, actor.username)
        return self._decide(
            case,
            actor,
            "closed",
            status=f"closed_{outcome}",
            outcome=outcome,
            comment=text,
            detail=detail,
        )

    def approve(self, case_id: str, actor: Officer) -> CaseSummary:
        case = self._open_case(case_id, actor, "approved")
        if case.pending_outcome is None or case.pending_by is None:
            raise TransitionRefused("no decision on this case is waiting for approval")
        if case.pending_by == actor.username:
            raise TransitionRefused("you cannot approve your own decision")
        if not actor.is_supervisor:
            raise TransitionRefused("only a supervisor approves a decision")
        outcome = case.pending_outcome
        detail = self._clear_sanctions(case, outcome, case.pending_by, actor.username)
        detail["proposed_by"] = case.pending_by
        return self._decide(
            case,
            actor,
            "decision_approved",
            status=f"closed_{outcome}",
            outcome=outcome,
            detail=detail,
        )

    def reject(self, case_id: str, actor: Officer, reason: str) -> CaseSummary:
        """Drop a pending decision: a supervisor other than its author, or its author
        withdrawing it."""
        case = self._open_case(case_id, actor, "rejected")
        if case.pending_outcome is None or case.pending_by is None:
            raise TransitionRefused("no decision on this case is waiting for approval")
        if case.pending_by != actor.username and not actor.is_supervisor:
            raise TransitionRefused("only a supervisor rejects another officer's decision")
        text = _required(reason, "a reason for the rejection")
        return self._decide(
            case,
            actor,
            "decision_rejected",
            outcome=case.pending_outcome,
            comment=text,
            detail={"proposed_by": case.pending_by},
        )

    # --- how a decision is made ----------------------------------------------------------

    def _case(self, case_id: str, actor: Officer) -> CaseSummary:
        if actor.disabled:
            raise TransitionRefused(f"officer {actor.username} is disabled")
        with retryable_db_errors("the case tables"):
            case = find_case(self.engine, case_id)
        if case is None:
            raise CaseNotFound(case_id)
        return case

    def _open_case(self, case_id: str, actor: Officer, what: str) -> CaseSummary:
        case = self._case(case_id, actor)
        if not case.is_open:
            raise TransitionRefused(f"a closed case cannot be {what}")
        return case

    def _decide(
        self,
        case: CaseSummary,
        actor: Officer,
        action: str,
        *,
        status: str | None = None,
        outcome: str | None = None,
        assignee: str | None = None,
        comment: str | None = None,
        detail: dict[str, str] | None = None,
    ) -> CaseSummary:
        sealed = self._seal(case.customer_id, comment) if comment is not None else None
        out = decision(
            _state(case),
            action=action,
            actor=actor.username,
            stage=DESK,
            cause=case.last_event_id,
            discriminator=desk_discriminator(action, actor.username, comment, assignee, outcome),
            status=status,
            outcome=outcome,
            assignee=assignee,
            comment=sealed,
            detail=detail,
            causation_id=case.last_event_id,
        )
        self._publish(out)
        with retryable_db_errors("the case tables"), self.engine.begin() as conn:
            made = apply(conn, out.record, self.settings.topic_prefix)
        if made:  # not a form submitted again on the same case state
            count_decisions([out.record])
        updated = find_case(self.engine, case.case_id)
        assert updated is not None, "a case is never deleted by a decision"
        return updated

    def _publish(self, out: Outgoing) -> None:
        self.sender.send(CASES_DECISIONS, out.event_type, out.record)
        self.sender.flush()

    def _seal(self, customer_id: str, text: str) -> str:
        key = self.keyring.sealing_key(customer_id)
        return ERASED if key is None else seal_text(key, text)

    def _clear_sanctions(
        self, case: CaseSummary, outcome: str, decided_by: str, approved_by: str
    ) -> dict[str, str]:
        """For a sanctions case cleared: a clearance per matched entity (see
        ``compliance.cases.clearing``); what was cleared goes into the decision's detail."""
        if outcome != "cleared" or case.category != "sanctions":
            return {}
        view = case_view(self.engine, self.keyring, case.case_id)
        assert view is not None
        by = decided_by if decided_by == approved_by else f"{decided_by}, approved by {approved_by}"
        cleared = record_clearances(
            self.settings,
            self.engine,
            customer_id=case.customer_id,
            exceptions=[e for e in view.exceptions if e.details.get("entity_id")],
            officer=by,
            reason=f"false positive, case {case.case_id} cleared by {by}",
            announce=self._announce_clearance,
        )
        return {"cleared_entities": ",".join(cleared)} if cleared else {}

    def _announce_clearance(self, clearance: Any) -> None:
        from compliance.screening.events import clearance_event

        self.sender.send(SANCTIONS_CLEARANCES, "SanctionsClearance", clearance_event(clearance))
        self.sender.flush()


def _state(case: CaseSummary) -> CaseState:
    return CaseState(
        case_id=case.case_id,
        scope="",
        customer_id=case.customer_id,
        category=case.category,
        severity=case.severity,
        status=case.status,
        assignee=case.assignee,
        sla_due_at=case.sla_due_at,
        sla_breached=case.sla_breached,
        pending_outcome=case.pending_outcome,
        pending_by=case.pending_by,
        last_event_id=case.last_event_id,
    )


def _required(text: str, what: str) -> str:
    text = " ".join((text or "").split())
    if len(text) < MIN_REASON:
        raise TransitionRefused(f"{what} is required")
    return text


def _status(status: str) -> str:
    return status.replace("_", " ")
