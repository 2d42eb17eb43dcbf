"""The checker's per-customer state in PostgreSQL: the customer's earlier documents (for
cross-document consistency) and their consent statements (for GDPR consent checks).

Both tables are keyed by the id of the input event that produced the row and written with
``INSERT ... ON CONFLICT DO NOTHING``: reprocessing an input after a crash (the Kafka
transaction aborted, the database write already done) changes nothing. Reads are *as of* the
input event: documents classified before it (ties broken by event id), consent statements
recorded by it. So a reprocessed or backtested event sees the state it saw the first time.
Rows are scoped by the topic prefix, so tenants and tests sharing a database stay apart.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    Index,
    MetaData,
    Table,
    Text,
    and_,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import insert

from compliance.codec import Record
from compliance.db_errors import retryable_db_errors
from compliance.rules.state import ConsentStatement, CustomerDocument, CustomerState

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
    Index("rules_consents_customer", "scope", "customer_id", "recorded_at"),
)

REMEMBERED = ("full_name", "date_of_birth", "address")


def create_state_schema(engine: Engine) -> None:
    with _retryable():
        metadata.create_all(engine, checkfirst=True)


def _retryable() -> AbstractContextManager[None]:
    """Database unavailable (down, failed over, shutting down, pool exhausted) ->
    RetryableError: the runner pauses and retries the batch (see ``compliance.db_errors``)."""
    return retryable_db_errors("the checker's customer state database")


class StateStore:
    def __init__(self, engine: Engine, scope: str) -> None:
        self.engine = engine
        self.scope = scope

    def remember_document(self, document: Record) -> None:
        customer_id = document.get("customer_id")
        if not customer_id:
            return
        fields = {f["name"]: f["value"] for f in document["fields"]}
        row = {
            "event_id": document["envelope"]["event_id"],
            "scope": self.scope,
            "customer_id": customer_id,
            "document_id": document["document_id"],
            "document_type": document["document_type"],
            "occurred_at": document["envelope"]["occurred_at"],
        } | {name: (fields.get(name) or "").strip() or None for name in REMEMBERED}
        self._insert(customer_documents, row)

    def record_consent(self, event: Record) -> None:
        row = {
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
        self._insert(consents, row)

    def _insert(self, table: Table, row: dict[str, Any]) -> None:
        statement = insert(table).values(row).on_conflict_do_nothing(index_elements=["event_id"])
        with _retryable(), self.engine.begin() as conn:
            conn.execute(statement)

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
            yield CustomerDocument(
                event_id=row["event_id"],
                document_id=row["document_id"],
                document_type=row["document_type"],
                occurred_at=row["occurred_at"],
                full_name=row["full_name"],
                date_of_birth=row["date_of_birth"],
                address=row["address"],
            )

    def _consents(
        self, execute: Callable[..., Any], customer_id: str, at: datetime
    ) -> Iterator[ConsentStatement]:
        t = consents.c
        query = (
            select(consents)
            .where(t.scope == self.scope, t.customer_id == customer_id, t.recorded_at <= at)
            .order_by(t.recorded_at, t.event_id)
        )
        for row in execute(query).mappings():
            yield ConsentStatement(
                event_id=row["event_id"],
                consent_id=row["consent_id"],
                purpose=row["purpose"],
                lawful_basis=row["lawful_basis"],
                recorded_at=row["recorded_at"],
                given_at=row["given_at"],
                expires_at=row["expires_at"],
                withdrawn_at=row["withdrawn_at"],
            )
