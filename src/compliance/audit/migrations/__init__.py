"""Schema migrations of the audit trail, driven by Alembic from code (no alembic.ini).

``upgrade(engine)`` brings the database to the newest revision. Many processes call it at
start-up (every sink, every test session, ``make run``): a PostgreSQL advisory lock makes
them take turns, and all but the first find nothing to do. The version is kept in
``audit_schema_version`` so other areas may use Alembic with their own version table.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, text

VERSION_TABLE = "audit_schema_version"


def config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent))
    cfg.set_main_option("path_separator", "os")
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    cfg = config()
    with engine.begin() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('compliance.audit.migrations'))"))
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
