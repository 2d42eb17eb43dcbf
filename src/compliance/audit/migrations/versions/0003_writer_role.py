"""A database role for the audit sink that can only append.

Creating a month partition needs ownership of ``audit_events``, which an append-only role
must not have: ``audit_ensure_month`` creates it on the sink's behalf (SECURITY DEFINER, with
the same append-only protection as the partitions made before). It keeps the search path of
the migration that made it, so it finds the audit tables in whatever schema they were made.
What such a role is granted is in ``compliance.audit.roles``; granting it is the owner's step
(``compliance db grant-writer <role>``).

Revision ID: 0003
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

ENSURE_MONTH = """
CREATE FUNCTION audit_ensure_month(any_instant timestamptz) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT SET timezone = 'UTC'
AS $$
DECLARE
    first_day timestamptz := date_trunc('month', any_instant);
    name text := 'audit_events_' || to_char(first_day, 'YYYY_MM');
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('compliance.audit_events.partitions'));
    IF to_regclass(name) IS NOT NULL THEN
        RETURN;
    END IF;
    EXECUTE format(
        'CREATE TABLE %I PARTITION OF audit_events FOR VALUES FROM (%L) TO (%L)',
        name, first_day, first_day + interval '1 month');
    EXECUTE format('REVOKE UPDATE, DELETE, TRUNCATE ON %I FROM PUBLIC, CURRENT_USER', name);
    EXECUTE format(
        'CREATE TRIGGER %I BEFORE TRUNCATE ON %I '
        'FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()',
        name || '_no_truncate', name);
END
$$;
REVOKE ALL ON FUNCTION audit_ensure_month(timestamptz) FROM PUBLIC;
"""


def upgrade() -> None:
    op.execute(ENSURE_MONTH)


def downgrade() -> None:
    op.execute("DROP FUNCTION audit_ensure_month(timestamptz)")
