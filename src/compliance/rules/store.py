"""The checker's per-customer state in PostgreSQL: the customer's earlier documents (for
cross-document consistency) and their consent statements (for GDPR consent checks).

Both tables are keyed by the id of the input event that produced the row and written with
``INSERT ... ON CONFLICT DO NOTHING``: reprocessing an input after a crash (the Kafka
transaction aborted, the database write already done) changes nothing. Reads are *as of* the
input event: documents classified before it (ties broken by event id), consent statements
recorded by it and read from consents.recorded by it. So a reprocessed or backtested event
sees the state it saw the first time. Rows are scoped by the topic prefix, so tenants and
tests sharing a database stay apart.

"Read by it" is measured on the consents topic itself, so that it does not depend on how far
a consumer happened to be: each consent statement is stored with its partition's *stream
time*, the latest Kafka timestamp of that partition up to and including the statement, and
counts for a document at T only when that stream time is not after T. The consent feed
(``compliance.rules.consent_feed``) keeps, per partition, the stream time reached and the
last moment it had read the partition to its end (``rules_consent_progress``), and a document
needing consents is decided only once every partition is read past its time.

The checker works a batch at a time: ``states_for_documents`` reads the state of every
document of a batch in one round trip per table (each document still sees exactly what is
as of its own event, the batch's earlier documents of the same customer included), and
``remember_documents`` writes the batch in one statement.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Engine,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    and_,
    func,
    or_,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import insert

from compliance.codec import Record
from compliance.db_errors import retryable_db_errors
from compliance.rules.state import NO_STATE, ConsentStatement, CustomerDocument, CustomerState

metadata = MetaData()
HISTORY_LIMIT = 500  # earlier documents read per customer (the earliest ones set the record)

customer_documents = Table(
    "rules_customer_documents",
    metadata,
    Column("event_id", Text, primary_key=True, doc="The DocumentClassified event."),
    Column("scope", Text, nullable=False, doc="Topic prefix: tenants and tests apart."),
    Column("customer_id", Text, nullable=False),
    Column("document_id", Text, nullable=False),
    Column("document_type", Text, nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("full_name", Text),
    Column("date_of_birth", Text),
    Column("address", Text),
    Index("rules_customer_documents_customer", "scope", "customer_id", "occurred_at"),
)

consents = Table(
    "rules_consents",
    metadata,
    Column("event_id", Text, primary_key=True, doc="The ConsentRecorded event."),
    Column("scope", Text, nullable=False),
    Column("customer_id", Text, nullable=False),
    Column("consent_id", Text, nullable=False),
    Column("purpose", Text, nullable=False),
    Column("lawful_basis", Text, nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("given_at", DateTime(timezone=True)),
    Column("expires_at", DateTime(timezone=True)),
    Column("withdrawn_at", DateTime(timezone=True)),
    Column(
        "stream_time",
        DateTime(timezone=True),
        doc="Latest Kafka timestamp of the statement's partition up to it (NULL: stored before "
        "stream times were kept; such a statement counts from its recorded_at).",
    ),
    Index("rules_consents_customer", "scope", "customer_id", "recorded_at"),
)

consent_progress = Table(
    "rules_consent_progress",
    metadata,
    Column("scope", Text, primary_key=True),
    Column("partition", Integer, primary_key=True, doc="A partition of consents.recorded."),
    Column("stream_time", DateTime(timezone=True), doc="Latest Kafka timestamp stored from it."),
    Column(
        "caught_up_at",
        DateTime(timezone=True),
        doc="A moment when every record appended before it was stored (read to the end).",
    ),
)

REMEMBERED = ("full_name", "date_of_birth", "address")


def create_state_schema(engine: Engine) -> None:
    with _retryable():
        metadata.create_all(engine, checkfirst=True)
        with engine.begin() as conn:  # a table made before stream times were kept
            if not _has_column(conn, "rules_consents", "stream_time"):  # only its owner may
                conn.execute(text("ALTER TABLE rules_consents ADD COLUMN stream_time timestamptz"))


def _has_column(conn: Connection, table: str, column: str) -> bool:
    found = conn.execute(
        text(
            "SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema()"
            " AND table_name = :table AND column_name = :column"
        ),
        {"table": table, "column": column},
    )
    return found.first() is not None


@dataclass(frozen=True)
class ConsumedConsent:
    """A record read from a partition of consents.recorded, in offset order: its Kafka
    timestamp, and the statement (None for a record that went to the dead-letter topic,
    whose timestamp still moves the partition's stream time on)."""

    partition: int
    timestamp: datetime
    statement: Record | None


def _retryable() -> AbstractContextManager[None]:
    """Database unavailable (down, failed over, shutting down, pool exhausted) ->
    RetryableError: the runner pauses and retries the batch (see ``compliance.db_errors``)."""
    return retryable_db_errors("the checker's customer state database")


class StateStore:
    def __init__(self, engine: Engine, scope: str) -> None:
        self.engine = engine
        self.scope = scope

    def remember_document(self, document: Record) -> None:
        self.remember_documents([document])

    def remember_documents(self, documents: Iterable[Record]) -> None:
        """What each document said about its customer, in one statement for the batch."""
        rows = [self._document_row(d) for d in documents if d.get("customer_id")]
        if not rows:
            return
        with _retryable(), self.engine.begin() as conn:
            # A customer erased while the batch was decided is not remembered: the erasure
            # deletes what was written before it, this keeps out what comes after.
            erased = _erased(conn, {row["customer_id"] for row in rows})
            kept = [row for row in rows if row["customer_id"] not in erased]
            if kept:
                _insert_new(conn, customer_documents, kept)

    def _document_row(self, document: Record) -> dict[str, Any]:
        fields = {f["name"]: f["value"] for f in document["fields"]}
        return {
            "event_id": document["envelope"]["event_id"],
            "scope": self.scope,
            "customer_id": document["customer_id"],
            "document_id": document["document_id"],
            "document_type": document["document_type"],
            "occurred_at": document["envelope"]["occurred_at"],
        } | {name: (fields.get(name) or "").strip() or None for name in REMEMBERED}

    def record_consents(self, consumed: Sequence[ConsumedConsent]) -> None:
        """Store the statements read from consents.recorded (each partition's in offset
        order), each with its partition's stream time, and move every partition's stream
        time on, in one transaction. A statement stored before keeps its first stream time."""
        partitions = sorted({c.partition for c in consumed})
        if not partitions:
            return
        p = consent_progress.c
        with _retryable(), self.engine.begin() as conn:
            current = select(p.partition, p.stream_time).where(
                p.scope == self.scope, p.partition.in_(partitions)
            )
            reached: dict[int, datetime | None] = dict.fromkeys(partitions)
            reached |= {row[0]: row[1] for row in conn.execute(current.with_for_update())}
            rows = []
            for item in consumed:
                previous = reached[item.partition]
                stream_time = item.timestamp if previous is None else max(previous, item.timestamp)
                reached[item.partition] = stream_time
                if item.statement is not None:
                    rows.append(self._consent_row(item.statement) | {"stream_time": stream_time})
            if rows:
                _insert_new(conn, consents, rows)
            progress = insert(consent_progress).values(
                [
                    {"scope": self.scope, "partition": n, "stream_time": t}
                    for n, t in reached.items()
                ]
            )
            conn.execute(
                progress.on_conflict_do_update(
                    index_elements=["scope", "partition"],
                    set_={
                        "stream_time": func.greatest(p.stream_time, progress.excluded.stream_time)
                    },
                )
            )

    def _consent_row(self, event: Record) -> dict[str, Any]:
        return {
            "event_id": event["envelope"]["event_id"],
            "scope": self.scope,
            "customer_id": event["customer_id"],
            "consent_id": event["consent_id"],
            "purpose": event["purpose"],
            "lawful_basis": event["lawful_basis"],
            "recorded_at": event["envelope"]["occurred_at"],
            "given_at": event["given_at"],
            "expires_at": event["expires_at"],
            "withdrawn_at": event["withdrawn_at"],
        }

    def caught_up(self, partitions: Iterable[int], at: datetime) -> None:
        """Every record appended to ``partitions`` before ``at`` is stored."""
        rows = [{"scope": self.scope, "partition": n, "caught_up_at": at} for n in partitions]
        if not rows:
            return
        p = consent_progress.c
        statement = insert(consent_progress).values(rows)
        with _retryable(), self.engine.begin() as conn:
            conn.execute(
                statement.on_conflict_do_update(
                    index_elements=["scope", "partition"],
                    set_={
                        "caught_up_at": func.greatest(
                            p.caught_up_at, statement.excluded.caught_up_at
                        )
                    },
                )
            )

    def consent_progress(self) -> dict[int, tuple[datetime | None, datetime | None]]:
        """Per partition of consents.recorded: (stream time stored, caught up at)."""
        p = consent_progress.c
        query = select(p.partition, p.stream_time, p.caught_up_at).where(p.scope == self.scope)
        with _retryable(), self.engine.connect() as conn:
            return {row[0]: (row[1], row[2]) for row in conn.execute(query)}

    def states_for_documents(
        self, documents: Sequence[tuple[Record, frozenset[str]]]
    ) -> list[CustomerState]:
        """The state of each document's customer as of the document (what ``state_for``
        reads), for a whole batch in one round trip per table. ``documents`` pairs each
        DocumentClassified record of the batch with the state its rules need; the batch's
        documents count as remembered already, so a document sees the earlier documents of
        its customer within the batch too (they are written after the batch is decided)."""
        wanted: dict[str, set[str]] = {"documents": set(), "consents": set()}
        for document, needs in documents:
            if document["customer_id"]:
                for need in needs & wanted.keys():
                    wanted[need].add(document["customer_id"])
        if not wanted["documents"] and not wanted["consents"]:
            return [NO_STATE] * len(documents)
        latest = max(d["envelope"]["occurred_at"] for d, _ in documents)
        with _retryable(), self.engine.connect() as conn:
            history = self._histories(conn.execute, wanted["documents"], latest)
            statements = self._statements(conn.execute, wanted["consents"], latest)
        for document, _ in documents:  # the batch itself, as if remembered already
            customer_id = document["customer_id"]
            if customer_id in history:
                row = self._document_row(document)
                known = history[customer_id]
                if all(d.event_id != row["event_id"] for d in known):
                    known.append(_customer_document(row))
        for known in history.values():
            known.sort(key=lambda d: (d.occurred_at, d.event_id))
        return [
            _as_of(document, needs, history, statements) if document["customer_id"] else NO_STATE
            for document, needs in documents
        ]

    def _histories(
        self, execute: Callable[..., Any], customers: set[str], latest: datetime
    ) -> dict[str, list[CustomerDocument]]:
        if not customers:
            return {}
        t = customer_documents.c
        order = func.row_number().over(
            partition_by=t.customer_id, order_by=(t.occurred_at, t.event_id)
        )
        ranked = (
            select(customer_documents, order.label("rank"))
            .where(
                t.scope == self.scope,
                t.customer_id.in_(sorted(customers)),
                t.occurred_at <= latest,
            )
            .subquery()
        )
        found: dict[str, list[CustomerDocument]] = {c: [] for c in customers}
        for row in execute(select(ranked).where(ranked.c.rank <= HISTORY_LIMIT)).mappings():
            found[row["customer_id"]].append(_customer_document(row))
        return found

    def _statements(
        self, execute: Callable[..., Any], customers: set[str], latest: datetime
    ) -> dict[str, list[tuple[datetime | None, ConsentStatement]]]:
        if not customers:
            return {}
        t = consents.c
        query = (
            select(consents)
            .where(
                t.scope == self.scope,
                t.customer_id.in_(sorted(customers)),
                t.recorded_at <= latest,
                or_(t.stream_time.is_(None), t.stream_time <= latest),
            )
            .order_by(t.recorded_at, t.event_id)
        )
        found: dict[str, list[tuple[datetime | None, ConsentStatement]]] = {
            c: [] for c in customers
        }
        for row in execute(query).mappings():
            found[row["customer_id"]].append((row["stream_time"], _consent_statement(row)))
        return found

    def state_for(
        self, customer_id: str, at: datetime, event_id: str, needs: frozenset[str]
    ) -> CustomerState:
        """What the customer's state was when event ``event_id`` happened at ``at``."""
        with _retryable(), self.engine.connect() as conn:
            documents = (
                tuple(self._documents(conn.execute, customer_id, at, event_id))
                if "documents" in needs
                else ()
            )
            statements = (
                tuple(self._consents(conn.execute, customer_id, at)) if "consents" in needs else ()
            )
        return CustomerState(documents, statements)

    def _documents(
        self, execute: Callable[..., Any], customer_id: str, at: datetime, event_id: str
    ) -> Iterator[CustomerDocument]:
        t = customer_documents.c
        query = (
            select(customer_documents)
            .where(
                t.scope == self.scope,
                t.customer_id == customer_id,
                t.event_id != event_id,
                or_(t.occurred_at < at, and_(t.occurred_at == at, t.event_id < event_id)),
            )
            .order_by(t.occurred_at, t.event_id)
            .limit(HISTORY_LIMIT)
        )
        for row in execute(query).mappings():
            yield _customer_document(row)

    def _consents(
        self, execute: Callable[..., Any], customer_id: str, at: datetime
    ) -> Iterator[ConsentStatement]:
        t = consents.c
        query = (
            select(consents)
            .where(
                t.scope == self.scope,
                t.customer_id == customer_id,
                t.recorded_at <= at,
                or_(t.stream_time.is_(None), t.stream_time <= at),
            )
            .order_by(t.recorded_at, t.event_id)
        )
        for row in execute(query).mappings():
            yield _consent_statement(row)


def _erased(conn: Connection, customers: set[str]) -> set[str]:
    """The ``customers`` whose key has been destroyed (``compliance gdpr erase``)."""
    found = conn.execute(
        text(
            "SELECT subject_id FROM audit_subject_keys WHERE subject_id = ANY(:ids) AND key IS NULL"
        ),
        {"ids": list(customers)},
    )
    return {str(subject) for (subject,) in found}


def _insert_new(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` whose event id is not there yet, in one statement and one round trip:
    each column travels as one array (``unnest``), so the statement's text is the same for
    any number of rows and is prepared once."""
    columns = list(table.columns)
    arrays = ", ".join(
        f"CAST(:{c.name} AS {'timestamptz' if isinstance(c.type, DateTime) else 'text'}[])"
        for c in columns
    )
    statement = text(
        f"INSERT INTO {table.name} ({', '.join(c.name for c in columns)}) "
        f"SELECT * FROM unnest({arrays}) ON CONFLICT (event_id) DO NOTHING"
    )
    conn.execute(statement, {c.name: [row.get(c.name) for row in rows] for c in columns})


def _customer_document(row: Mapping[str, Any]) -> CustomerDocument:
    return CustomerDocument(
        event_id=row["event_id"],
        document_id=row["document_id"],
        document_type=row["document_type"],
        occurred_at=row["occurred_at"],
        full_name=row["full_name"],
        date_of_birth=row["date_of_birth"],
        address=row["address"],
    )


def _consent_statement(row: Mapping[str, Any]) -> ConsentStatement:
    return ConsentStatement(
        event_id=row["event_id"],
        consent_id=row["consent_id"],
        purpose=row["purpose"],
        lawful_basis=row["lawful_basis"],
        recorded_at=row["recorded_at"],
        given_at=row["given_at"],
        expires_at=row["expires_at"],
        withdrawn_at=row["withdrawn_at"],
    )


def _as_of(
    document: Record,
    needs: frozenset[str],
    history: Mapping[str, list[CustomerDocument]],
    statements: Mapping[str, list[tuple[datetime | None, ConsentStatement]]],
) -> CustomerState:
    """What ``state_for`` reads for ``document``, out of its batch's customers' state."""
    customer_id = document["customer_id"]
    env = document["envelope"]
    at, event_id = env["occurred_at"], env["event_id"]
    earlier: tuple[CustomerDocument, ...] = ()
    if "documents" in needs:
        earlier = tuple(
            d
            for d in history.get(customer_id, ())
            if d.occurred_at < at or (d.occurred_at == at and d.event_id < event_id)
        )[:HISTORY_LIMIT]
    recorded: tuple[ConsentStatement, ...] = ()
    if "consents" in needs:
        recorded = tuple(
            s
            for stream_time, s in statements.get(customer_id, ())
            if s.recorded_at <= at and (stream_time is None or stream_time <= at)
        )
    return CustomerState(earlier, recorded)
