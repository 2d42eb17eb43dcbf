"""The templates: Jinja2 with autoescaping on for every template (documents, names and
reasons are written by outsiders), undefined names an error, and a few filters for times."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.responses import HTMLResponse

from compliance.review.visitor import Visitor

TEMPLATES = Path(__file__).parent / "templates"


def _when(value: datetime | None) -> str:
    if value is None:
        return "-"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _due(value: datetime | None, now: datetime | None = None) -> str:
    """How long until (or since) a due time, in the largest unit that matters."""
    if value is None:
        return "no due time"
    seconds = (value - (now or datetime.now(UTC))).total_seconds()
    late = seconds < 0
    seconds = abs(seconds)
    if seconds >= 86400:
        span = f"{seconds / 86400:.0f} d"
    elif seconds >= 3600:
        span = f"{seconds / 3600:.0f} h"
    else:
        span = f"{max(seconds // 60, 1):.0f} min"
    return f"overdue by {span}" if late else f"due in {span}"


def _overdue(value: datetime | None) -> bool:
    return value is not None and value < datetime.now(UTC)


def _shown(value: object) -> str:
    """A value from an event as text (the template escapes it)."""
    if value is None:
        return "-"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return str(value)


def _label(value: str | None) -> str:
    return (value or "").replace("_", " ")


def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    env.filters["due"] = _due
    env.filters["label"] = _label
    env.filters["shown"] = _shown
    env.tests["overdue"] = _overdue
    return env


class Pages:
    def __init__(self) -> None:
        self.env = environment()

    def render(
        self,
        request: Request,
        name: str,
        visitor: Visitor | None,
        status_code: int = 200,
        **context: Any,
    ) -> HTMLResponse:
        html = self.env.get_template(name).render(
            request=request,
            visitor=visitor,
            csrf_token=visitor.session.csrf_token if visitor else "",
            **context,
        )
        return HTMLResponse(html, status_code=status_code)
