"""The officer behind a request, with their session and its cookie's token."""

from __future__ import annotations

from dataclasses import dataclass

from compliance.officers import Officer
from compliance.review.sessions import Session


@dataclass(frozen=True)
class Visitor:
    officer: Officer
    session: Session
    token: str
