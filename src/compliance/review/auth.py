"""Who is asking: the session cookie, looked up server-side, and the officer behind it.

Every page and form depends on ``signed_in``; without a live session the request ends in a
303 to the login page (``LoginRequired``). The cookie is HttpOnly and SameSite=Strict, and
Secure unless ``review_cookie_secure`` is off; when Secure it carries the ``__Host-`` prefix,
so it cannot be set by a sub-domain or for another path.
"""

from __future__ import annotations

from fastapi import Request
from starlette.responses import Response

from compliance.officers import find_officer
from compliance.review.context import Review
from compliance.review.visitor import Visitor


class LoginRequired(Exception):
    """No live session: the request is answered with a redirect to the login page."""


def cookie_name(review: Review, base: str) -> str:
    return f"__Host-{base}" if review.settings.review_cookie_secure else base


SESSION_COOKIE = "review-session"


def set_cookie(review: Review, response: Response, base: str, value: str, max_age: int) -> None:
    response.set_cookie(
        cookie_name(review, base),
        value,
        max_age=max_age,
        path="/",
        secure=review.settings.review_cookie_secure,
        httponly=True,
        samesite="strict",
    )


def clear_cookie(review: Review, response: Response, base: str) -> None:
    response.delete_cookie(
        cookie_name(review, base),
        path="/",
        secure=review.settings.review_cookie_secure,
        httponly=True,
        samesite="strict",
    )


def review_of(request: Request) -> Review:
    review: Review = request.app.state.review
    return review


def signed_in(request: Request) -> Visitor:
    """The officer of this request's session; LoginRequired when there is none, it expired,
    or the officer was disabled since."""
    review = review_of(request)
    token = request.cookies.get(cookie_name(review, SESSION_COOKIE))
    if not token:
        raise LoginRequired
    session = review.sessions.find(token)
    if session is None:
        raise LoginRequired
    officer = find_officer(review.engine, session.username)
    if officer is None or officer.disabled:
        review.sessions.close(token)
        raise LoginRequired
    return Visitor(officer, session, token)
