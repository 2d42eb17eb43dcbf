"""What the audit sink's own database role may do: append, and nothing else.

The owner of the audit tables (the role that runs the migrations) grants these once, with
``compliance db grant-writer <role>``; the sink then connects as that role
(``COMPLIANCE_AUDIT_DATABASE_URL``). It can read and insert audit rows, claim event ids, add
subject keys and checkpoints, and move the chain heads; it cannot update, delete or truncate
a recorded row, alter or drop a table or trigger, or erase a subject's key. New month
partitions are made for it by ``audit_ensure_month``.
"""

from __future__ import annotations

from sqlalchemy import Engine, text

from compliance.audit.migrations import VERSION_TABLE
from compliance.errors import ConfigurationError

APPEND = (
    "audit_events",
    "audit_event_ids",
    "audit_event_conflicts",
    "audit_checkpoints",
    "audit_subject_keys",
)
WRITER_GRANTS = (
    f"GRANT SELECT, INSERT ON {', '.join(APPEND)} TO {{role}}",
    "GRANT SELECT, INSERT, UPDATE ON audit_chain_heads TO {role}",
    "GRANT USAGE ON SEQUENCE audit_checkpoints_id_seq TO {role}",
    "GRANT EXECUTE ON FUNCTION audit_ensure_month(timestamptz) TO {role}",
    f"GRANT SELECT ON {VERSION_TABLE} TO {{role}}",
)


def grant_writer(engine: Engine, role: str) -> None:
    """Grant ``role`` what the audit sink needs (idempotent; run as the tables' owner)."""
    quoted = engine.dialect.identifier_preparer.quote(role)
    with engine.begin() as conn:
        exists = conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role})
        if exists.first() is None:
            raise ConfigurationError(
                f"database role {role!r} does not exist: create it first "
                f"(CREATE ROLE {quoted} LOGIN PASSWORD '...'), then grant again"
            )
        for statement in WRITER_GRANTS:
            conn.execute(text(statement.format(role=quoted)))
