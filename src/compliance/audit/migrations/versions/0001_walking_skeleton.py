"""The walking skeleton's audit table, as ``metadata.create_all`` made it: the baseline that
databases created before migrations existed already have (created here only when missing).

Revision ID: 0001
"""

from __future__ import annotations

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE IF NOT EXISTS audit_events (
            id bigserial PRIMARY KEY,
            event_id uuid NOT NULL UNIQUE,
            event_type text NOT NULL,
            topic text NOT NULL,
            "partition" integer NOT NULL,
            "offset" bigint NOT NULL,
            kafka_key text,
            correlation_id text NOT NULL,
            causation_id text,
            subject_id text,
            occurred_at timestamptz NOT NULL,
            recorded_at timestamptz NOT NULL DEFAULT now(),
            schema_fingerprint text,
            raw_value bytea,
            payload jsonb NOT NULL
        )
        """
    )


def downgrade() -> None:
    raise NotImplementedError("the audit trail is never downgraded")
