"""The queue: open cases, the most urgent (earliest SLA due time) first, with filters by
category, severity, status and "assigned to me", and a search by customer or document id."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from compliance.cases import queries
from compliance.exception_routing import CATEGORIES, SEVERITIES
from compliance.review.auth import review_of, signed_in
from compliance.review.visitor import Visitor

router = APIRouter()
PAGE_SIZE = 50
OPEN = ("open", "in_review", "escalated")
STATUSES = (*OPEN, "closed_cleared", "closed_confirmed")
MAX_PAGE = 10_000


@dataclass(frozen=True)
class Filters:
    category: str
    severity: str
    status: str  # "" = every open status, "all", or one status
    mine: bool
    q: str
    page: int

    def statuses(self) -> tuple[str, ...] | None:
        if self.status == "all":
            return None
        return (self.status,) if self.status in STATUSES else OPEN

    def link(self, **changes: object) -> str:
        values = {
            "category": self.category,
            "severity": self.severity,
            "status": self.status,
            "mine": "1" if self.mine else "",
            "q": self.q,
            "page": str(self.page),
        } | {k: str(v) for k, v in changes.items()}
        kept = {k: v for k, v in values.items() if v and not (k == "page" and v == "1")}
        return "/?" + urlencode(kept) if kept else "/"


def _one_of(value: str, allowed: tuple[str, ...]) -> str:
    return value if value in allowed else ""


@router.get("/")
def queue_page(
    request: Request,
    visitor: Annotated[Visitor, Depends(signed_in)],
    category: str = "",
    severity: str = "",
    status: str = "",
    mine: str = "",
    q: Annotated[str, Query(max_length=200)] = "",
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
) -> Response:
    review = review_of(request)
    filters = Filters(
        category=_one_of(category, CATEGORIES),
        severity=_one_of(severity, SEVERITIES),
        status=_one_of(status, (*STATUSES, "all")),
        mine=bool(mine),
        q=q.strip(),
        page=page,
    )
    rows = queries.queue(
        review.engine,
        statuses=filters.statuses(),
        category=filters.category or None,
        severity=filters.severity or None,
        assignee=visitor.officer.username if filters.mine else None,
        search=filters.q or None,
        limit=PAGE_SIZE + 1,
        offset=(filters.page - 1) * PAGE_SIZE,
        scope=review.settings.topic_prefix,
    )
    return review.pages.render(
        request,
        "queue.html",
        visitor,
        cases=rows[:PAGE_SIZE],
        more=len(rows) > PAGE_SIZE,
        filters=filters,
        categories=CATEGORIES,
        severities=SEVERITIES,
        statuses=STATUSES,
    )
