"""A case: its evidence, its history and the forms that decide it. Every form posts through
``compliance.cases.desk.CaseDesk`` (one ``cases.decisions`` event each); a change the desk
refuses is shown to the officer with the desk's reason, nothing else happens."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from starlette.responses import RedirectResponse, Response

from compliance.cases import queries
from compliance.cases.errors import CaseNotFound, TransitionRefused
from compliance.officers import officer_list
from compliance.review import charts, csrf
from compliance.review.auth import review_of, signed_in
from compliance.review.visitor import Visitor

router = APIRouter()
log = logging.getLogger(__name__)
CASE_ID = r"^[A-Za-z0-9._:@-]{1,200}$"
TEXT = 4000
# What the page says after a change went through (looked up, never echoed from the URL).
DONE = {
    "assigned": "Assigned.",
    "commented": "Comment added.",
    "started": "Review started.",
    "escalated": "Escalated.",
    "resolved": "Decision recorded.",
    "pending": "Decision recorded; it waits for a supervisor's approval (four eyes).",
    "approved": "Decision approved; the case is closed.",
    "rejected": "Pending decision rejected.",
}


def _case_page(
    request: Request,
    visitor: Visitor,
    case_id: str,
    *,
    done: str | None = None,
    refused: str | None = None,
) -> Response:
    review = review_of(request)
    view = queries.case_view(
        review.engine, review.codec, case_id, scope=review.settings.topic_prefix
    )
    if view is None:
        raise HTTPException(404, "No such case.")
    payments = charts.payments_of(view)
    return review.pages.render(
        request,
        "case.html",
        visitor,
        status_code=409 if refused else 200,
        view=view,
        case=view.case,
        done=DONE.get(done or ""),
        refused=refused,
        officers=[o for o in officer_list(review.engine) if not o.disabled],
        timeline=charts.timeline(payments) if payments else None,
        graph=charts.counterparty_graph(payments) if payments else None,
    )


@router.get("/cases/{case_id}")
def case_page(
    request: Request,
    visitor: Annotated[Visitor, Depends(signed_in)],
    case_id: str,
    done: str = "",
) -> Response:
    return _case_page(request, visitor, case_id, done=done)


def _decide(
    request: Request,
    visitor: Visitor,
    case_id: str,
    change: Callable[[], Any],
    done: str | Callable[[Any], str],
) -> Response:
    try:
        result = change()
    except TransitionRefused as exc:
        return _case_page(request, visitor, case_id, refused=str(exc))
    except CaseNotFound:
        raise HTTPException(404, "No such case.") from None
    code = done(result) if callable(done) else done
    return RedirectResponse(f"/cases/{case_id}?done={code}", status_code=303)


Officer = Annotated[Visitor, Depends(csrf.checked)]
Text = Annotated[str, Form(max_length=TEXT)]
# The case's last event id as the form's page showed it, and the pending decision's id.
Seen = Annotated[str, Form(max_length=200)]
DecisionId = Annotated[str, Form(max_length=200)]


@router.post("/cases/{case_id}/assign")
def assign(
    request: Request, visitor: Officer, case_id: str, assignee: Annotated[str, Form()] = ""
) -> Response:
    desk = review_of(request).desk
    to = visitor.officer.username if assignee in ("", "me") else assignee
    return _decide(
        request, visitor, case_id, lambda: desk.assign(case_id, visitor.officer, to), "assigned"
    )


@router.post("/cases/{case_id}/comment")
def comment(request: Request, visitor: Officer, case_id: str, text: Text = "") -> Response:
    desk = review_of(request).desk
    if not text.strip():
        return _case_page(request, visitor, case_id, refused="A comment needs some text.")
    return _decide(
        request,
        visitor,
        case_id,
        lambda: desk.comment(case_id, visitor.officer, text.strip()),
        "commented",
    )


@router.post("/cases/{case_id}/start-review")
def start_review(request: Request, visitor: Officer, case_id: str) -> Response:
    desk = review_of(request).desk
    return _decide(
        request, visitor, case_id, lambda: desk.start_review(case_id, visitor.officer), "started"
    )


@router.post("/cases/{case_id}/escalate")
def escalate(request: Request, visitor: Officer, case_id: str, reason: Text = "") -> Response:
    desk = review_of(request).desk
    return _decide(
        request,
        visitor,
        case_id,
        lambda: desk.escalate(case_id, visitor.officer, reason.strip()),
        "escalated",
    )


@router.post("/cases/{case_id}/resolve")
def resolve(
    request: Request,
    visitor: Officer,
    case_id: str,
    outcome: Annotated[str, Form()] = "",
    reason: Text = "",
    seen: Seen = "",
) -> Response:
    desk = review_of(request).desk
    if outcome not in ("cleared", "confirmed"):
        return _case_page(request, visitor, case_id, refused="Choose clear or confirm.")
    if not reason.strip():
        return _case_page(request, visitor, case_id, refused="A decision needs a reason.")
    return _decide(
        request,
        visitor,
        case_id,
        lambda: desk.resolve(case_id, visitor.officer, outcome, reason.strip(), seen=seen or None),
        lambda case: "pending" if case.pending_outcome else "resolved",
    )


@router.post("/cases/{case_id}/approve")
def approve(
    request: Request,
    visitor: Officer,
    case_id: str,
    decision: DecisionId = "",
    seen: Seen = "",
) -> Response:
    desk = review_of(request).desk
    return _decide(
        request,
        visitor,
        case_id,
        lambda: desk.approve(case_id, visitor.officer, decision, seen=seen or None),
        "approved",
    )


@router.post("/cases/{case_id}/reject")
def reject(
    request: Request,
    visitor: Officer,
    case_id: str,
    reason: Text = "",
    decision: DecisionId = "",
    seen: Seen = "",
) -> Response:
    desk = review_of(request).desk
    return _decide(
        request,
        visitor,
        case_id,
        lambda: desk.reject(case_id, visitor.officer, reason.strip(), decision, seen=seen or None),
        "rejected",
    )
