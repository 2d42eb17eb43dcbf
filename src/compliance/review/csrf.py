"""CSRF tokens: every POST form carries the session's token in a hidden field, compared in
constant time; a form without it, or with another, is refused with 403. The login form, which
comes before any session, uses a random token held in a short-lived cookie and the form
(double submit); SameSite=Strict cookies guard both as well."""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from fastapi import Depends, HTTPException, Request

from compliance.review.auth import cookie_name, review_of, signed_in
from compliance.review.visitor import Visitor

FIELD = "csrf_token"
LOGIN_COOKIE = "review-login"


def same(expected: str, given: object) -> bool:
    return (
        isinstance(given, str)
        and bool(expected)
        and hmac.compare_digest(expected.encode(), given.encode())
    )


async def checked(request: Request, visitor: Annotated[Visitor, Depends(signed_in)]) -> Visitor:
    """The signed-in officer of a POST whose form carries their session's CSRF token."""
    form = await request.form()
    if not same(visitor.session.csrf_token, form.get(FIELD)):
        raise HTTPException(403, "This form is out of date or was not sent from this site.")
    return visitor


LOGIN_TOKEN_BYTES = 24


def new_login_token() -> str:
    return secrets.token_urlsafe(LOGIN_TOKEN_BYTES)


def well_formed(token: str) -> bool:
    return len(token) == 32 and all(c.isalnum() or c in "-_" for c in token)


async def login_checked(request: Request) -> None:
    form = await request.form()
    expected = request.cookies.get(cookie_name(review_of(request), LOGIN_COOKIE), "")
    if not same(expected, form.get(FIELD)):
        raise HTTPException(403, "This form is out of date or was not sent from this site.")
