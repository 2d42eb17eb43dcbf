"""What every request of the review application shares: settings, the database engine, the
sessions, the case desk and the templates."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.engine import Engine

from compliance.config import Settings
from compliance.review.sessions import SessionStore
from compliance.review.templating import Pages

if TYPE_CHECKING:
    from compliance.cases.desk import CaseDesk
    from compliance.codec import SchemaRegistry


@dataclass
class Review:
    settings: Settings
    engine: Engine
    sessions: SessionStore
    codec: SchemaRegistry
    desk: CaseDesk
    pages: Pages
