"""The audit trail's database: connecting, the schema (by migration), writing a batch.

One row per event, once: ``audit_event_ids`` holds every recorded event id with the hash of
its content, claimed in the same transaction as the row, so writing the same event twice (a
redelivery after a crash, a reprocessed input with its deterministic id and the same bytes)
leaves one row; the same id with other content is a conflict, recorded as a row of its own.
The caller commits Kafka offsets only after a batch is written. See ``compliance.audit.writer``
for the order of a write.
"""

from __future__ import annotations

from collections.abc import Sequence

import psycopg2.errors
from sqlalchemy import Engine, create_engine, select
from sqlalchemy.exc import DBAPIError

from compliance.audit.rows import AuditRow
from compliance.audit.tables import audit_events, metadata
from compliance.audit.writer import AuditWriter, Outcome
from compliance.errors import ConfigurationError

__all__ = [
    "AuditRow",
    "AuditWriter",
    "audit_events",
    "connect",
    "create_schema",
    "metadata",
    "require_database",
    "write_batch",
]


# A server that does not complete a new connection within this many seconds is an outage.
CONNECT_TIMEOUT_S = 10
# TCP keepalives on every connection: a peer that vanished (host down, network cut) is
# noticed after about a minute instead of the kernel's two hours, and the call fails as an
# outage instead of waiting.
KEEPALIVES = {
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
}


def connect(
    database_url: str, pool_size: int = 2, connect_timeout_s: int = CONNECT_TIMEOUT_S
) -> Engine:
    """An engine with ``pool_size`` connections kept (plus two more when busy), each
    established within ``connect_timeout_s`` and kept alive. Statement parameters are left
    out of its errors: they carry subject ids and other personal data, and errors end up in
    logs."""
    return create_engine(
        database_url,
        pool_pre_ping=True,
        pool_size=pool_size,
        max_overflow=2,
        hide_parameters=True,
        # UTF-8 whatever the server's default: binary COPY sends text as UTF-8 bytes as is.
        connect_args={
            "connect_timeout": connect_timeout_s,
            "client_encoding": "utf8",
            **KEEPALIVES,
        },
    )


def require_database(engine: Engine, setting: str = "COMPLIANCE_DATABASE_URL") -> None:
    """Stop start-up with one clear sentence when PostgreSQL does not answer or refuses the
    login; ``setting`` names the variable the URL came from."""
    try:
        with engine.connect() as conn:
            conn.execute(select(1))
    except DBAPIError as exc:
        where = engine.url.render_as_string(hide_password=True)
        if isinstance(exc.orig, psycopg2.errors.InvalidPassword) or _refused_login(exc):
            raise ConfigurationError(
                f"PostgreSQL at {where} refuses the login of role {engine.url.username!r} "
                f"(wrong password, or no such role: check {setting}, and run `compliance db "
                "init` as the owner to create the roles)"
            ) from None
        raise ConfigurationError(
            f"cannot reach PostgreSQL at {where} (start it with `make services`, or set {setting})"
        ) from None


def _refused_login(exc: DBAPIError) -> bool:
    """libpq reports a failed password check as an OperationalError with this text."""
    return "password authentication failed" in str(exc.orig)


def create_schema(engine: Engine) -> None:
    """Bring the audit schema to the newest migration (safe to call from many processes)."""
    from compliance.audit import migrations  # Alembic is needed only here

    migrations.upgrade(engine)


def write_batch(engine: Engine, rows: Sequence[AuditRow]) -> Outcome:
    """Record the rows, skipping events already recorded with the same content; return what
    became of them. Without a signing key: the sink uses an ``AuditWriter`` that signs
    checkpoints."""
    return AuditWriter(engine, signing_key=None).write(rows)
