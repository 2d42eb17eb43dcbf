"""Publishing document-arrival events: the API upstream systems import, used by the CLI too.

An arrival event carries a reference to the document (``file://`` or, for small payloads,
inline content), its media type, size and SHA-256, never megabytes of content. Its event id is
derived from the source system, document and customer, so publishing the same document twice
is recorded once. A system that already keeps its documents in an S3-compatible store announces
them by reference (``arrival_for_reference``, ``Publisher.publish_reference``): nothing is
uploaded or read here.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import KafkaError, Message, Producer
from sqlalchemy import Engine

from compliance import kafka_io
from compliance.audit.store import connect
from compliance.codec import Record, SchemaRegistry
from compliance.config import Settings
from compliance.documents.reference import DocumentFile, describe, guess_media_type
from compliance.documents.s3 import S3_SCHEME
from compliance.errors import ComplianceError, RetryableError
from compliance.events import envelope, subject_key
from compliance.subject_keyring import sealing_codec
from compliance.topics import DOCUMENTS_ARRIVED, TRANSACTIONS_SUBMITTED
from compliance.transactions.model import Transaction, transaction_record

STAGE = "publisher"
_SHA256 = re.compile(r"[0-9a-f]{64}")


class DocumentTooLarge(ComplianceError):
    """A file over ``COMPLIANCE_MAX_DOCUMENT_BYTES``: rejected before anything is published."""


class InvalidReference(ComplianceError):
    """A reference announced by an upstream system that the classifier could never read."""


def check_size(path: Path, max_bytes: int) -> None:
    size = path.stat().st_size
    if size > max_bytes:
        raise DocumentTooLarge(
            f"{path} is {size} bytes, over the {max_bytes}-byte limit "
            "(COMPLIANCE_MAX_DOCUMENT_BYTES); not published"
        )


@dataclass(frozen=True)
class Published:
    document_id: str
    event_id: str
    path: Path


@dataclass(frozen=True)
class PublishedReference:
    document_id: str
    event_id: str
    uri: str


def default_document_id(source_system: str, customer_id: str | None, sha256: str) -> str:
    """One document per source, customer and content: the same file sent twice is one
    document; the same file sent for two customers is two."""
    key = f"{source_system}\x1f{customer_id or ''}\x1f{sha256}".encode()
    return "doc-" + hashlib.sha256(key).hexdigest()[:20]


def arrival_event(
    path: Path,
    *,
    source_system: str,
    customer_id: str | None = None,
    document_id: str | None = None,
    declared_type: str | None = None,
    inline_max_bytes: int = 0,
) -> Record:
    return _arrival(
        describe(path, inline_max_bytes),
        source_system=source_system,
        customer_id=customer_id,
        document_id=document_id,
        declared_type=declared_type,
    )


def arrival_for_reference(
    uri: str,
    *,
    size_bytes: int,
    sha256: str,
    source_system: str,
    media_type: str | None = None,
    filename: str | None = None,
    customer_id: str | None = None,
    document_id: str | None = None,
    declared_type: str | None = None,
) -> Record:
    """The arrival event of a document already stored at ``s3://bucket/key``, as described by
    the system that stored it. The classifier checks the size and SHA-256 when it reads it."""
    bucket, _, key = uri.removeprefix(S3_SCHEME).partition("/")
    if not uri.startswith(S3_SCHEME) or not bucket or not key:
        raise InvalidReference(f"{uri!r} is not an s3://bucket/key reference")
    if size_bytes < 0:
        raise InvalidReference(f"size of {uri} is negative ({size_bytes})")
    digest = sha256.lower()
    if not _SHA256.fullmatch(digest):
        raise InvalidReference(f"SHA-256 of {uri} is not 64 hexadecimal digits")
    name = filename or key.rsplit("/", 1)[-1]
    doc = DocumentFile(
        uri=uri,
        filename=name,
        media_type=media_type or guess_media_type(name),
        size_bytes=size_bytes,
        sha256=digest,
        inline_content=None,
    )
    return _arrival(
        doc,
        source_system=source_system,
        customer_id=customer_id,
        document_id=document_id,
        declared_type=declared_type,
    )


def _arrival(
    doc: DocumentFile,
    *,
    source_system: str,
    customer_id: str | None,
    document_id: str | None,
    declared_type: str | None,
) -> Record:
    document_id = document_id or default_document_id(source_system, customer_id, doc.sha256)
    return {
        "envelope": envelope(
            event_type="DocumentArrived",
            stage=STAGE,
            cause=f"{source_system}/{document_id}",
            discriminator=customer_id or "",
            correlation_id=document_id,
            subject_id=customer_id or document_id,
            causation_id=None,
        ),
        "document_id": document_id,
        "customer_id": customer_id,
        "source_system": source_system,
        "uri": doc.uri,
        "filename": doc.filename,
        "media_type": doc.media_type,
        "size_bytes": doc.size_bytes,
        "sha256": doc.sha256,
        "inline_content": doc.inline_content,
        "declared_type": declared_type,
        "metadata": {},
    }


class Publisher:
    """Publishes arrival events; ``close`` (or leaving the ``with`` block) waits for delivery.

    The reference, file name, inline content and metadata are personal data: they are sealed
    with the subject's key (``compliance.sealing``), kept in PostgreSQL
    (``COMPLIANCE_DATABASE_URL``) unless a ``codec`` is given. So are a payment's
    counterparty name and account and its reference, with the key of its account (the
    payment's data subject)."""

    def __init__(
        self,
        settings: Settings,
        producer: Producer | None = None,
        codec: SchemaRegistry | None = None,
    ) -> None:
        self.settings = settings
        self.producer = producer or kafka_io.idempotent_producer(settings)
        self.topic = settings.topic(DOCUMENTS_ARRIVED)
        self._errors: list[str] = []
        self._engine: Engine | None = None
        if codec is None:
            self._engine = connect(settings.database_dsn, pool_size=1)
            codec = sealing_codec(self._engine)
        self.codec = codec

    def publish(self, record: Record) -> None:
        self.producer.produce(
            self.topic,
            key=subject_key(record),
            value=self.codec.encode("DocumentArrived", record),
            on_delivery=self._delivered,
        )
        self.producer.poll(0)

    def publish_files(
        self,
        paths: Iterable[Path],
        *,
        source_system: str = "cli",
        customer_id: str | None = None,
        declared_type: str | None = None,
    ) -> list[Published]:
        """Publish each file; a file over the size limit raises ``DocumentTooLarge`` before
        anything of it is sent (files before it in ``paths`` are published)."""
        published = []
        for path in paths:
            check_size(path, self.settings.max_document_bytes)
            record = arrival_event(
                path,
                source_system=source_system,
                customer_id=customer_id,
                declared_type=declared_type,
                inline_max_bytes=self.settings.inline_max_bytes,
            )
            self.publish(record)
            published.append(Published(record["document_id"], record["envelope"]["event_id"], path))
        return published

    def publish_reference(
        self,
        uri: str,
        *,
        size_bytes: int,
        sha256: str,
        source_system: str,
        media_type: str | None = None,
        customer_id: str | None = None,
        declared_type: str | None = None,
    ) -> PublishedReference:
        """Announce a document already in an S3-compatible store; one over the size limit
        raises ``DocumentTooLarge`` and nothing is published."""
        if size_bytes > self.settings.max_document_bytes:
            raise DocumentTooLarge(
                f"{uri} is {size_bytes} bytes, over the {self.settings.max_document_bytes}-byte "
                "limit (COMPLIANCE_MAX_DOCUMENT_BYTES); not published"
            )
        record = arrival_for_reference(
            uri,
            size_bytes=size_bytes,
            sha256=sha256,
            source_system=source_system,
            media_type=media_type,
            customer_id=customer_id,
            declared_type=declared_type,
        )
        self.publish(record)
        return PublishedReference(record["document_id"], record["envelope"]["event_id"], uri)

    def prefetch_keys(self, payments: Iterable[Transaction]) -> None:
        """Read (or create) the keys of these payments' accounts in one query, before they
        are published one by one (else each new account costs a round trip)."""
        self.codec.prefetch_keys({tx.account_id for tx in payments})

    def publish_transaction(self, tx: Transaction, *, source_system: str = "api") -> str:
        """Publish one payment on ``transactions.submitted``, keyed by its account (so an
        account's payments stay in order), its personal fields sealed with the account's key;
        returns its event id. Its id depends on the
        source system and transaction id only: the same payment published twice is one.
        While the client's queue is full, waits for deliveries (up to 30 s)."""
        record = transaction_record(tx, source_system=source_system)
        value = self.codec.encode("TransactionSubmitted", record)
        topic = self.settings.topic(TRANSACTIONS_SUBMITTED)
        key = tx.account_id.encode("utf-8")
        deadline = time.monotonic() + 30.0
        while True:
            try:
                self.producer.produce(topic, key=key, value=value, on_delivery=self._delivered)
                break
            except BufferError:
                if time.monotonic() > deadline:
                    raise RetryableError("the producer queue stayed full for 30 s") from None
                self.producer.poll(0.05)
        self.producer.poll(0)
        event_id: str = record["envelope"]["event_id"]
        return event_id

    def close(self, timeout_s: float = 30.0) -> None:
        if self._engine is not None:
            self._engine.dispose()
        if self.producer.flush(timeout_s) > 0:
            raise RetryableError(f"arrival events not delivered within {timeout_s:g} s")
        if self._errors:
            raise RetryableError("delivery failed: " + "; ".join(self._errors[:3]))

    def __enter__(self) -> Publisher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _delivered(self, err: KafkaError | None, _msg: Message) -> None:
        if err is not None:
            self._errors.append(str(err))


def expand(paths: Iterable[Path]) -> list[Path]:
    """Files as given, folders as the files inside them (sorted, hidden files skipped)."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(
                p for p in sorted(path.rglob("*")) if p.is_file() and not p.name.startswith(".")
            )
        elif path.is_file():
            files.append(path)
        else:
            raise FileNotFoundError(f"no such file or folder: {path}")
    return files
