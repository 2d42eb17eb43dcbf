"""Content hashes with claimed ids, a table of conflicts, guards on heads and checkpoints.

- ``audit_event_ids.content_hash``: SHA-256 of the content an event id was first recorded
  with (``writer.content_hash_of``: all but the time it was produced; NULL for ids claimed
  before this revision). The same id with other content is a conflict.
- ``audit_event_conflicts``: one row per (event id, content hash) seen after the id was
  recorded with other content; the conflicting version is written to ``audit_events`` as a
  row of its own. Append-only.
- ``audit_chain_heads`` may only move forward, to a row written with that hash: a role that
  may update heads (the sink's) cannot move one back to hide rows deleted at a chain's end,
  nor point it at a row that is not there; heads are never deleted or truncated.
- ``audit_checkpoints`` may only sign a row that is in ``audit_events`` with the signed hash,
  at or before its chain's head.
- ``audit_ensure_month`` (0003, SECURITY DEFINER) kept the search path of the session that
  made it, which may name a schema its callers can write: pinned now to the audit schema and
  ``pg_temp`` last, like the new functions.

Revision ID: 0004
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

SCHEMA = """
ALTER TABLE audit_event_ids ADD COLUMN IF NOT EXISTS content_hash bytea;

CREATE TABLE audit_event_conflicts (
    event_id uuid NOT NULL,
    content_hash bytea NOT NULL,
    recorded_hash bytea,
    topic text NOT NULL,
    "partition" integer NOT NULL,
    "offset" bigint NOT NULL,
    detected_at timestamptz NOT NULL,
    PRIMARY KEY (event_id, content_hash)
);
CREATE TRIGGER audit_event_conflicts_append_only BEFORE UPDATE OR DELETE
    ON audit_event_conflicts FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_event_conflicts_no_truncate BEFORE TRUNCATE
    ON audit_event_conflicts FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
REVOKE UPDATE, DELETE, TRUNCATE ON audit_event_conflicts FROM PUBLIC, CURRENT_USER;

CREATE FUNCTION audit_head_moves_forward() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'chain heads are never deleted'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF TG_OP = 'INSERT' THEN
        IF NEW.chain_seq <> 0 THEN
            RAISE EXCEPTION 'a new chain head starts at the chain''s genesis'
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        RETURN NEW;
    END IF;
    IF NEW.topic <> OLD.topic OR NEW."partition" <> OLD."partition"
            OR NEW.chain_seq < OLD.chain_seq
            OR (NEW.chain_seq = OLD.chain_seq AND NEW.row_hash <> OLD.row_hash) THEN
        RAISE EXCEPTION 'chain head of %[%] may only move forward (% -> %)',
            OLD.topic, OLD."partition", OLD.chain_seq, NEW.chain_seq
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NEW.chain_seq > OLD.chain_seq AND NOT EXISTS (
            SELECT 1 FROM audit_events e WHERE e.topic = NEW.topic
                AND e."partition" = NEW."partition" AND e.chain_seq = NEW.chain_seq
                AND e.row_hash = NEW.row_hash) THEN
        RAISE EXCEPTION 'chain head of %[%] moved to a row that is not there (seq %)',
            NEW.topic, NEW."partition", NEW.chain_seq
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER audit_chain_heads_forward BEFORE INSERT OR UPDATE OR DELETE
    ON audit_chain_heads FOR EACH ROW EXECUTE FUNCTION audit_head_moves_forward();
CREATE TRIGGER audit_chain_heads_no_truncate BEFORE TRUNCATE
    ON audit_chain_heads FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
REVOKE DELETE, TRUNCATE ON audit_chain_heads FROM PUBLIC, CURRENT_USER;

CREATE FUNCTION audit_checkpoint_names_a_written_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (
            SELECT 1 FROM audit_events e WHERE e.topic = NEW.topic
                AND e."partition" = NEW."partition" AND e.chain_seq = NEW.chain_seq
                AND e.row_hash = NEW.row_hash)
        OR NOT EXISTS (
            SELECT 1 FROM audit_chain_heads h WHERE h.topic = NEW.topic
                AND h."partition" = NEW."partition" AND h.chain_seq >= NEW.chain_seq) THEN
        RAISE EXCEPTION 'a checkpoint of %[%] seq % names no row written with that hash',
            NEW.topic, NEW."partition", NEW.chain_seq
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER audit_checkpoints_written_rows BEFORE INSERT
    ON audit_checkpoints FOR EACH ROW EXECUTE FUNCTION audit_checkpoint_names_a_written_row();

DO $$
BEGIN
    EXECUTE format('ALTER FUNCTION audit_ensure_month(timestamptz) SET search_path = %I, pg_temp',
        current_schema());
    EXECUTE format('ALTER FUNCTION audit_head_moves_forward() SET search_path = %I, pg_temp',
        current_schema());
    EXECUTE format(
        'ALTER FUNCTION audit_checkpoint_names_a_written_row() SET search_path = %I, pg_temp',
        current_schema());
END
$$;
"""


def upgrade() -> None:
    op.execute(SCHEMA)


def downgrade() -> None:
    raise NotImplementedError("the audit trail is never downgraded")
