"""The review application's factory: ``create_app(settings)`` wires the pages, the security
headers, the login redirect and the error pages around one engine, one case desk and the
session store."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import RedirectResponse, Response

from compliance.config import Settings
from compliance.errors import RetryableError
from compliance.review import case_pages, login_pages, queue_page
from compliance.review.auth import SESSION_COOKIE, LoginRequired, cookie_name, review_of
from compliance.review.context import Review
from compliance.review.headers import add_security_headers
from compliance.review.sessions import SessionStore
from compliance.review.templating import Pages

STATIC = Path(__file__).parent / "static"
log = logging.getLogger(__name__)


def build_review(settings: Settings) -> Review:
    from compliance.audit.store import connect, require_database
    from compliance.cases.desk import CaseDesk
    from compliance.subject_keyring import sealing_codec

    engine = connect(settings.database_dsn, pool_size=4)
    require_database(engine)
    lifetime = timedelta(seconds=settings.review_session_lifetime_s)
    return Review(
        settings=settings,
        engine=engine,
        sessions=SessionStore(engine, lifetime),
        codec=sealing_codec(engine),
        desk=CaseDesk(settings, engine),
        pages=Pages(),
    )


def create_app(settings: Settings, review: Review | None = None) -> FastAPI:
    """The application; ``review`` is built from ``settings`` unless given."""
    shared = review or build_review(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        close = getattr(shared.desk, "close", None)
        if callable(close):
            close()
        shared.engine.dispose()

    app = FastAPI(
        title="compliance review",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )
    app.state.review = shared
    app.middleware("http")(add_security_headers)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for module in (login_pages, queue_page, case_pages):
        app.include_router(module.router)
    app.add_exception_handler(LoginRequired, _to_login)
    app.add_exception_handler(StarletteHTTPException, _error_page)
    app.add_exception_handler(RequestValidationError, _bad_request)
    app.add_exception_handler(RetryableError, _unavailable)
    return app


async def _to_login(request: Request, exc: Exception) -> Response:
    return RedirectResponse("/login", status_code=303)


def _anonymous(request: Request) -> bool:
    review = review_of(request)
    token = request.cookies.get(cookie_name(review, SESSION_COOKIE))
    return not token or review.sessions.find(token) is None


async def _error_page(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code in (404, 405) and _anonymous(request):
        return RedirectResponse("/login", status_code=303)  # nothing answers without login
    return _message(request, exc.status_code, str(exc.detail))


async def _bad_request(request: Request, exc: Exception) -> Response:
    if _anonymous(request):
        return RedirectResponse("/login", status_code=303)
    return _message(request, 400, "The request was not understood.")


async def _unavailable(request: Request, exc: Exception) -> Response:
    log.warning("review application: %s", exc)
    return _message(request, 503, "The database is not answering; try again in a moment.")


def _message(request: Request, status: int, text: str) -> Response:
    pages = review_of(request).pages
    return pages.render(request, "error.html", None, status, status=status, message=text)
