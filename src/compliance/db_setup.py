"""What ``compliance db init`` does, connected as the owner of the tables: every table the
processors use is made (the audit trail by its migrations, the others from their table
definitions), then the processors' role and the audit sink's role are created when missing
and granted what they need (``compliance.audit.roles``). The processors themselves connect as
those roles, which own nothing: they find their tables made and cannot make or alter any.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from compliance.config import Settings

Purpose = Literal["processors", "audit-sink"]


@dataclass(frozen=True)
class RoleReady:
    role: str
    purpose: Purpose
    created: bool


def create_every_table(engine: Engine) -> None:
    """Bring the audit trail to its newest migration and make the processors' tables that are
    missing (safe to run again, and from several processes at once)."""
    from compliance.audit.store import create_schema
    from compliance.cases.tables import create_cases_schema
    from compliance.classification.cache import ResultCache
    from compliance.notify.store import create_outbox_table
    from compliance.officers import create_officers_table
    from compliance.review.sessions import create_sessions_table
    from compliance.rules.store import create_state_schema
    from compliance.scheduler.claims import create_scheduler_schema
    from compliance.screening.tables import create_screening_schema

    create_schema(engine)
    create_state_schema(engine)
    create_screening_schema(engine)
    ResultCache(engine).create_table()
    create_officers_table(engine)
    create_outbox_table(engine)
    create_cases_schema(engine)
    create_sessions_table(engine)
    create_scheduler_schema(engine)


def grant(engine: Engine, role: str, purpose: Purpose, password: str | None) -> RoleReady:
    """Create ``role`` if missing (with ``password``; without one a missing role is a
    ConfigurationError) and grant it what ``purpose`` needs."""
    from compliance.audit.roles import create_role, grant_processors, grant_writer

    created = password is not None and create_role(engine, role, password)
    if purpose == "processors":
        grant_processors(engine, role)
    else:
        grant_writer(engine, role)
    return RoleReady(role, purpose, created)


def configured_roles(settings: Settings) -> list[tuple[str, Purpose, str | None]]:
    """The roles the processors and the audit sink connect as, with the passwords their URLs
    carry; a role that is the owner itself is left out (nothing to grant)."""
    owner = make_url(settings.admin_database_dsn).username
    roles: list[tuple[str, Purpose, str | None]] = []
    for dsn, purpose in (
        (settings.database_dsn, "processors"),
        (settings.audit_database_dsn, "audit-sink"),
    ):
        url = make_url(dsn)
        if url.username and url.username != owner:
            roles.append((url.username, purpose, url.password))  # type: ignore[arg-type]
    return roles


def initialise(engine: Engine, settings: Settings) -> list[RoleReady]:
    """Every table, then the configured roles created and granted (``compliance db init``)."""
    create_every_table(engine)
    return [grant(engine, role, purpose, pw) for role, purpose, pw in configured_roles(settings)]
