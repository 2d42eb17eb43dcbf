"""The audit trail's tables, described for queries (the migrations in
``compliance.audit.migrations`` create them; ``metadata.create_all`` is never used).

- ``audit_events``: one row per event, partitioned by month of ``occurred_at``, each row
  hash-chained to the previous row of its (topic, partition) chain. Append-only.
- ``audit_event_ids``: every recorded event id, once, with the SHA-256 of the content it
  was first recorded with (all but the time it was produced). A unique index on a
  partitioned table must contain the partition key, so global uniqueness of ``event_id``
  lives here and is written in the same transaction as the row. Append-only. The claim is
  global on purpose: the same id may come back on another partition or topic, or months
  later (a document published again, a replay after a rules change), and must then be
  found; a claim scoped per partition and day would miss it. Its index grows at random
  places (ids are UUIDv5 of their causes); only ids ordered by time would let it append,
  and that is a change of every producer's ids.
- ``audit_event_conflicts``: each other version (content hash) of an id recorded before,
  once; the version itself is a row of its own in ``audit_events``. Append-only.
- ``audit_chain_heads``: the last link of each chain, locked by the writer of a batch so two
  sinks never extend one chain at once; a trigger lets a head move forward only, to a row
  written with that hash.
- ``audit_checkpoints``: chain heads signed with an HMAC key the database never sees; a
  trigger accepts only checkpoints of rows written with the signed hash.
- ``audit_subject_keys``: one AES key per data subject, apart from the rows it protects;
  erasing a subject destroys its key.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
)
from sqlalchemy.dialects.postgresql import JSON, UUID

metadata = MetaData()

audit_events = Table(
    "audit_events",
    metadata,
    Column("event_id", UUID(as_uuid=False), nullable=False),
    Column("event_type", Text, nullable=False),
    Column("topic", Text, nullable=False),
    Column("partition", Integer, nullable=False),
    Column("offset", BigInteger, nullable=False),
    Column("chain_seq", BigInteger, nullable=False),
    Column("kafka_key", Text),
    Column("correlation_id", Text, nullable=False),
    Column("causation_id", Text),
    Column("subject_id", Text),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("schema_fingerprint", Text),
    Column("raw_value", LargeBinary, doc="Only for records that could not be decoded."),
    Column("payload", JSON, nullable=False, doc="Stored verbatim (json, not jsonb): hashed."),
    Column("prev_hash", LargeBinary, nullable=False),
    Column("row_hash", LargeBinary, nullable=False),
)

audit_event_ids = Table(
    "audit_event_ids",
    metadata,
    Column("event_id", UUID(as_uuid=False), primary_key=True),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("content_hash", LargeBinary, doc="NULL for ids claimed before hashes were kept."),
)

audit_event_conflicts = Table(
    "audit_event_conflicts",
    metadata,
    Column("event_id", UUID(as_uuid=False), primary_key=True),
    Column("content_hash", LargeBinary, primary_key=True),
    Column("recorded_hash", LargeBinary, doc="The hash the id was first recorded with."),
    Column("topic", Text, nullable=False),
    Column("partition", Integer, nullable=False),
    Column("offset", BigInteger, nullable=False),
    Column("detected_at", DateTime(timezone=True), nullable=False),
)

audit_chain_heads = Table(
    "audit_chain_heads",
    metadata,
    Column("topic", Text, primary_key=True),
    Column("partition", Integer, primary_key=True),
    Column("chain_seq", BigInteger, nullable=False),
    Column("offset", BigInteger, nullable=False),
    Column("row_hash", LargeBinary, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

audit_checkpoints = Table(
    "audit_checkpoints",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("signed_at", DateTime(timezone=True), nullable=False),
    Column("topic", Text, nullable=False),
    Column("partition", Integer, nullable=False),
    Column("chain_seq", BigInteger, nullable=False),
    Column("row_hash", LargeBinary, nullable=False),
    Column("signature", LargeBinary, nullable=False),
)

audit_subject_keys = Table(
    "audit_subject_keys",
    metadata,
    Column("subject_id", Text, primary_key=True),
    Column("key", LargeBinary, doc="NULL once the subject is erased."),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("erased_at", DateTime(timezone=True)),
)
