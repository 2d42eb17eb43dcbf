"""Synthetic but realistic event traffic, for the audit benchmark and the fault tests (a test
double: kept out of the installed package).

One "document" makes six events across the four topics, shaped like the pipeline's own: an
arrival, a classification with extracted personal fields, three rule results and an
exception. Ids derive from ``source`` (give each run its own), keys are customer ids.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from confluent_kafka import Producer

from compliance.codec import Record, registry
from compliance.config import Settings
from compliance.events import caused_by, envelope, subject_key
from compliance.topics import (
    COMPLIANCE_CHECKS,
    COMPLIANCE_EXCEPTIONS,
    DOCUMENTS_ARRIVED,
    DOCUMENTS_CLASSIFIED,
)

EVENTS_PER_DOCUMENT = 6
RULESET = "sha256:synthetic0000000"
MODEL = "local-classifier/1"
RULES = ("identity.document-number-format", "identity.not-expired", "sanctions.name")


@dataclass(frozen=True)
class SyntheticEvent:
    topic: str  # unprefixed
    event_type: str
    record: Record


def customer_of(source: str, index: int, customers: int) -> str:
    return f"{source}C-{index % customers}"


def document_events(source: str, index: int, customers: int = 997) -> list[SyntheticEvent]:
    customer = customer_of(source, index, customers)
    document_id = f"{source}doc-{index}"
    arrived: Record = {
        "envelope": envelope(
            event_type="DocumentArrived",
            stage="publisher",
            cause=f"{source}/{document_id}",
            correlation_id=document_id,
            subject_id=customer,
            causation_id=None,
        ),
        "document_id": document_id,
        "customer_id": customer,
        "source_system": source,
        "uri": f"file:///srv/inbox/{customer}/passport-{index}.txt",
        "filename": f"passport-{index}.txt",
        "media_type": "text/plain",
        "size_bytes": 1800 + index % 500,
        "sha256": f"{index:064x}",
        "inline_content": None,
        "declared_type": "passport",
        "metadata": {"channel": "branch", "branch": f"B-{index % 40}"},
    }
    fields = [
        ("surname", f"HALVORSEN{index}"),
        ("given_names", "INGRID MARIE"),
        ("date_of_birth", "1984-03-12"),
        ("document_number", f"P{index:08d}"),
        ("nationality", "NOR"),
        ("expiry_date", "2031-05-30"),
    ]
    classified: Record = {
        "envelope": caused_by(
            arrived, event_type="DocumentClassified", stage="classifier", model=MODEL
        ),
        "document_id": document_id,
        "customer_id": customer,
        "document_type": "passport",
        "confidence": 0.97,
        "fields": [{"name": n, "value": v, "confidence": 0.95} for n, v in fields],
        "extraction_method": "mrz",
        "text_sha256": f"{index + 1:064x}",
        "document_sha256": f"{index:064x}",
    }
    events = [
        SyntheticEvent(DOCUMENTS_ARRIVED.name, "DocumentArrived", arrived),
        SyntheticEvent(DOCUMENTS_CLASSIFIED.name, "DocumentClassified", classified),
    ]
    for rule in RULES:
        failed = rule == "sanctions.name" and index % 10 == 0
        events.append(
            SyntheticEvent(
                COMPLIANCE_CHECKS.name,
                "CheckResult",
                {
                    "envelope": caused_by(
                        classified,
                        event_type="CheckResult",
                        stage="checker",
                        discriminator=rule,
                        ruleset_version=RULESET,
                    ),
                    "document_id": document_id,
                    "customer_id": customer,
                    "document_type": "passport",
                    "rule_id": rule,
                    "rule_version": "1#0000abcd",
                    "outcome": "review" if failed else "pass",
                    "severity": "high",
                    "inputs": {"surname": f"HALVORSEN{index}", "given_names": "INGRID MARIE"},
                    "explanation": f"Name HALVORSEN{index} checked against the watchlist.",
                },
            )
        )
    events.append(
        SyntheticEvent(
            COMPLIANCE_EXCEPTIONS.name,
            "ComplianceException",
            {
                "envelope": caused_by(
                    classified,
                    event_type="ComplianceException",
                    stage="checker",
                    discriminator="exception:sanctions.name",
                    ruleset_version=RULESET,
                ),
                "document_id": document_id,
                "customer_id": customer,
                "kind": "needs_review",
                "severity": "high",
                "rule_id": "sanctions.name",
                "rule_version": "1#0000abcd",
                "reason": f"Possible sanctions match: HALVORSEN{index}",
                "details": {"score": "0.91"},
            },
        )
    )
    return events


def events(source: str, documents: int, customers: int = 997) -> Iterator[SyntheticEvent]:
    for index in range(documents):
        yield from document_events(source, index, customers)


def produce(settings: Settings, source: str, documents: int) -> list[str]:
    """Produce the events of ``documents`` documents; return their event ids in order."""
    codec = registry()
    producer = Producer(
        {
            "bootstrap.servers": settings.kafka_bootstrap,
            "enable.idempotence": True,
            "linger.ms": 20,
            "batch.size": 1_000_000,
            "compression.type": "lz4",
            "queue.buffering.max.messages": 500_000,
        }
    )
    ids = []
    for event in events(source, documents):
        value = codec.encode(event.event_type, event.record)
        while True:
            try:
                producer.produce(
                    settings.topic(event.topic), key=subject_key(event.record), value=value
                )
                break
            except BufferError:
                producer.poll(0.1)
        ids.append(event.record["envelope"]["event_id"])
    if producer.flush(60) > 0:
        raise RuntimeError("synthetic events not delivered within 60 s")
    return ids
