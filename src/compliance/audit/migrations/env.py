"""Alembic environment: runs on the connection ``compliance.audit.migrations.upgrade`` holds
(inside its transaction and advisory lock); never opens one of its own."""

from __future__ import annotations

from alembic import context

from compliance.audit.migrations import VERSION_TABLE

context.configure(
    connection=context.config.attributes["connection"],
    version_table=VERSION_TABLE,
    transactional_ddl=True,
)
with context.begin_transaction():
    context.run_migrations()
