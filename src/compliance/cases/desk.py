"""The one way to change a case (the review application, the command line and tests all come
here).

Each method locks the case's row (``SELECT ... FOR UPDATE``, waiting at most
``LOCK_TIMEOUT``), checks the change against the case as the locked row has it and the
officer making it, publishes one ``cases.decisions`` event, waits until Kafka has it, applies
it to the tables (``compliance.cases.projection.apply``) in the same database transaction and
returns the case as it now is. While the row is locked nothing else changes the case (the
cases processor locks the open cases it adds exceptions to, from its read to its apply), so
a decision is made on the case as it is, never on one that changed under it. An officer's
form carries the case's last event id as they saw it (``seen``): a decision on a case that
changed since (a new exception, another officer's decision) is refused, so nobody closes a
case over evidence they have not seen. The event is on Kafka before the tables change: if
the process dies in between, the feed of the cases processor applies it later.

Four eyes: clearing or confirming a high or critical case records a pending decision; a
different officer who is a supervisor approves it (or rejects it). Nobody approves their own
decision, whatever their role; an analyst never approves. An approval or rejection names the
pending decision it is about (its event id, shown with it): when the decision waiting is no
longer that one, it is refused. Clearing a sanctions case records a
clearance for its hits through the allowlist, so the same hit does not come back.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import OperationalError

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
from compliance.cases.queries import CaseSummary, case_view, find_case, one_case, summary
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
LOCK_TIMEOUT = "10s"  # how long a decision waits for another writer of the same case
_LOCK_NOT_AVAILABLE = "55P03"


class CaseDesk:
    """Officers' decisions on cases: each one event on ``cases.decisions``, then the tables."""

    def __init__(self, settings: Settings, engine: Engine) -> None:
        from compliance.screening.sending import EventSender

        self.settings = settings
        self.engine = engine
        self.scope = settings.topic_prefix
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

    def assign(
        self, case_id: str, actor: Officer, assignee: str, *, seen: str | None = None
    ) -> CaseSummary:
        officer = find_officer(self.engine, assignee)
        with self._locked(case_id, actor, seen) as (conn, case):
            _require_open(case, "assigned")
            if officer is None or officer.disabled:
                raise TransitionRefused(f"there is no active officer {assignee!r} to assign it to")
            if case.assignee == officer.username:
                return case
            self._decide(conn, case, actor, "assigned", assignee=officer.username)
        return self._current(case_id)

    def comment(
        self, case_id: str, actor: Officer, text: str, *, seen: str | None = None
    ) -> CaseSummary:
        with self._locked(case_id, actor, seen) as (conn, case):
            self._decide(conn, case, actor, "commented", comment=_required(text, "a comment"))
        return self._current(case_id)

    def start_review(self, case_id: str, actor: Officer, *, seen: str | None = None) -> CaseSummary:
        with self._locked(case_id, actor, seen) as (conn, case):
            _require_open(case, "put in review")
            if case.status != "open":
                raise TransitionRefused(f"the case is {_status(case.status)} already")
            self._decide(conn, case, actor, "review_started", status="in_review")
        return self._current(case_id)

    def escalate(
        self, case_id: str, actor: Officer, reason: str, *, seen: str | None = None
    ) -> CaseSummary:
        with self._locked(case_id, actor, seen) as (conn, case):
            _require_open(case, "escalated")
            if case.status == "escalated":
                raise TransitionRefused("the case is escalated already")
            text = _required(reason, "a reason for the escalation")
            self._decide(conn, case, actor, "escalated", status="escalated", comment=text)
        return self._current(case_id)

    def resolve(
        self,
        case_id: str,
        actor: Officer,
        outcome: str,
        reason: str,
        *,
        seen: str | None = None,
    ) -> CaseSummary:
        """Clear or confirm the case: at once for a low or medium case, else a pending
        decision for a second officer to approve."""
        if outcome not in OUTCOMES:
            raise TransitionRefused(f"the outcome is cleared or confirmed, not {outcome!r}")
        with self._locked(case_id, actor, seen) as (conn, case):
            _require_open(case, "resolved")
            if case.pending_outcome is not None:
                raise TransitionRefused(
                    f"a decision ({case.pending_outcome} by {case.pending_by}) is already "
                    "waiting for approval: approve or reject it first"
                )
            text = _required(reason, "a reason for the decision")
            if case.needs_four_eyes:
                self._decide(conn, case, actor, "decision_proposed", outcome=outcome, comment=text)
            else:
                detail = self._clear_sanctions(case, outcome, actor.username, actor.username)
                self._decide(
                    conn,
                    case,
                    actor,
                    "closed",
                    status=f"closed_{outcome}",
                    outcome=outcome,
                    comment=text,
                    detail=detail,
                )
        return self._current(case_id)

    def approve(
        self, case_id: str, actor: Officer, decision_id: str, *, seen: str | None = None
    ) -> CaseSummary:
        """Approve the pending decision ``decision_id`` (its event id, as shown with it)."""
        with self._locked(case_id, actor, seen) as (conn, case):
            _require_open(case, "approved")
            pending_by = _pending(case, decision_id, "approve")
            if pending_by == actor.username:
                raise TransitionRefused("you cannot approve your own decision")
            if not actor.is_supervisor:
                raise TransitionRefused("only a supervisor approves a decision")
            outcome = case.pending_outcome
            assert outcome is not None
            detail = self._clear_sanctions(case, outcome, pending_by, actor.username)
            detail["proposed_by"] = pending_by
            detail["approved_decision"] = decision_id
            self._decide(
                conn,
                case,
                actor,
                "decision_approved",
                status=f"closed_{outcome}",
                outcome=outcome,
                detail=detail,
            )
        return self._current(case_id)

    def reject(
        self,
        case_id: str,
        actor: Officer,
        reason: str,
        decision_id: str,
        *,
        seen: str | None = None,
    ) -> CaseSummary:
        """Drop the pending decision ``decision_id``: a supervisor other than its author, or
        its author withdrawing it."""
        with self._locked(case_id, actor, seen) as (conn, case):
            _require_open(case, "rejected")
            pending_by = _pending(case, decision_id, "reject")
            if pending_by != actor.username and not actor.is_supervisor:
                raise TransitionRefused("only a supervisor rejects another officer's decision")
            text = _required(reason, "a reason for the rejection")
            self._decide(
                conn,
                case,
                actor,
                "decision_rejected",
                outcome=case.pending_outcome,
                comment=text,
                detail={"proposed_by": pending_by, "rejected_decision": decision_id},
            )
        return self._current(case_id)

    # --- how a decision is made ----------------------------------------------------------

    @contextmanager
    def _locked(
        self, case_id: str, actor: Officer, seen: str | None
    ) -> Iterator[tuple[Connection, CaseSummary]]:
        """The case's row locked for this decision's transaction, as it is now; refused when
        the officer is disabled, or when the case changed since they saw it (``seen``: its
        last event id then)."""
        if actor.disabled:
            raise TransitionRefused(f"officer {actor.username} is disabled")
        with retryable_db_errors("the case tables"), self.engine.begin() as conn:
            conn.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
            try:
                row = conn.execute(one_case(case_id, self.scope).with_for_update()).first()
            except OperationalError as exc:
                if getattr(exc.orig, "pgcode", None) != _LOCK_NOT_AVAILABLE:
                    raise
                raise TransitionRefused(
                    "another decision on this case is being recorded right now; try again"
                ) from None
            if row is None:
                raise CaseNotFound(case_id)
            case = summary(row)
            if seen is not None and seen != case.last_event_id:
                raise TransitionRefused(
                    "the case changed since you opened it (a new exception or another "
                    "officer's decision): look at it again before deciding"
                )
            yield conn, case

    def _current(self, case_id: str) -> CaseSummary:
        with retryable_db_errors("the case tables"):
            updated = find_case(self.engine, case_id, scope=self.scope)
        assert updated is not None, "a case is never deleted by a decision"
        return updated

    def _decide(
        self,
        conn: Connection,
        case: CaseSummary,
        actor: Officer,
        action: str,
        *,
        status: str | None = None,
        outcome: str | None = None,
        assignee: str | None = None,
        comment: str | None = None,
        detail: dict[str, str] | None = None,
    ) -> None:
        """Publish the decision and apply it in ``conn`` (the transaction holding the case's
        row lock)."""
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
        if apply(conn, out.record, self.scope):  # not a form submitted again on the same state
            count_decisions([out.record])

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
        view = case_view(self.engine, self.keyring, case.case_id, scope=self.scope)
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


def _require_open(case: CaseSummary, what: str) -> None:
    if not case.is_open:
        raise TransitionRefused(f"a closed case cannot be {what}")


def _pending(case: CaseSummary, decision_id: str, verb: str) -> str:
    """Who proposed the pending decision, when it is ``decision_id``; else refused."""
    if case.pending_outcome is None or case.pending_by is None:
        raise TransitionRefused("no decision on this case is waiting for approval")
    if not decision_id or decision_id != case.pending_event_id:
        raise TransitionRefused(
            f"the decision you were asked to {verb} is no longer the one waiting on this case "
            f"(now: {case.pending_outcome} by {case.pending_by}, decision "
            f"{case.pending_event_id}); look at the case again"
        )
    return case.pending_by


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
