"""Logging in and out. A failed login says only that the name or password is wrong, and costs
the same time whether the name exists or not (``compliance.officers.authenticate``). Every
attempt is recorded, and too many failures of one name or from one client address lock
further attempts for a while (``compliance.officer_logins``: ``review_login_max_failures``
per name, ``review_login_max_failures_per_client`` per address, within
``review_login_lockout_s``)."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from starlette.responses import RedirectResponse, Response

from compliance.officer_logins import LoginPolicy, log_in
from compliance.review import csrf
from compliance.review.auth import SESSION_COOKIE, clear_cookie, cookie_name, review_of, set_cookie
from compliance.review.visitor import Visitor

router = APIRouter()
log = logging.getLogger(__name__)
LOGIN_FORM_LIFETIME_S = 3600


def _login_page(request: Request, message: str | None, status_code: int = 200) -> Response:
    review = review_of(request)
    # Another tab (or the browser's own icon request) may have fetched this page meanwhile:
    # keep the token the browser holds, so every open login form stays valid.
    held = request.cookies.get(cookie_name(review, csrf.LOGIN_COOKIE), "")
    token = held if csrf.well_formed(held) else csrf.new_login_token()
    response = review.pages.render(
        request, "login.html", None, status_code, login_token=token, message=message
    )
    set_cookie(review, response, csrf.LOGIN_COOKIE, token, LOGIN_FORM_LIFETIME_S)
    return response


@router.get("/login")
def login_form(request: Request) -> Response:
    return _login_page(request, None)


@router.post("/login", dependencies=[Depends(csrf.login_checked)])
def login(
    request: Request,
    username: Annotated[str, Form(max_length=64)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    review = review_of(request)
    policy = LoginPolicy.of(review.settings)
    client = request.client.host if request.client is not None else "unknown"
    result = log_in(review.engine, username.strip().lower(), password, client, policy)
    if result.outcome == "locked":
        log.warning("review application: a login refused, too many failures")
        return _login_page(
            request, "Too many failed logins: wait a while before trying again.", 429
        )
    officer = result.officer
    if officer is None:
        return _login_page(request, "Wrong user name or password.", 401)
    token, _ = review.sessions.open(officer.username)
    log.info("officer logged in to the review application")
    response = RedirectResponse("/", status_code=303)
    lifetime = int(review.settings.review_session_lifetime_s)
    set_cookie(review, response, SESSION_COOKIE, token, lifetime)
    clear_cookie(review, response, csrf.LOGIN_COOKIE)
    return response


@router.post("/logout")
def logout(request: Request, visitor: Annotated[Visitor, Depends(csrf.checked)]) -> Response:
    review = review_of(request)
    review.sessions.close(visitor.token)
    response = RedirectResponse("/login", status_code=303)
    clear_cookie(review, response, SESSION_COOKIE)
    return response
