"""Classifier: documents.arrived -> documents.classified.

For each arrival event: fetch the document by its reference (checking size and hash), read its
text (text layer, or OCR for images), then classify it and extract its fields. A document that
cannot be fetched or read becomes an exception for a human, never a silent drop. Only the
classification is decided here: whether the document passes is the checker's job.
"""

from __future__ import annotations

import hashlib
import logging
import threading

from compliance import kafka_io
from compliance.classification import local
from compliance.classification.model import Classification
from compliance.codec import Record
from compliance.config import Settings
from compliance.documents.reference import fetch
from compliance.documents.text import ExtractedText, extract_text
from compliance.errors import DocumentUnreadable, PoisonMessage
from compliance.events import caused_by
from compliance.exceptions import exception_event
from compliance.runner import Outgoing, TransactionalRunner
from compliance.topics import DOCUMENTS_ARRIVED, DOCUMENTS_CLASSIFIED

log = logging.getLogger(__name__)
NAME = "classifier"


def classify_arrival(settings: Settings, event_type: str, arrival: Record) -> list[Outgoing]:
    if event_type != "DocumentArrived":
        raise PoisonMessage(f"{event_type} does not belong on {DOCUMENTS_ARRIVED.name}")
    try:
        data = fetch(arrival, settings.document_roots, settings.max_document_bytes)
        text = extract_text(data, arrival["media_type"])
    except DocumentUnreadable as exc:
        return [unreadable(arrival, exc)]
    return [classified(arrival, text, local.classify(text.text))]


def classified(arrival: Record, text: ExtractedText, result: Classification) -> Outgoing:
    record = {
        "envelope": caused_by(
            arrival, event_type="DocumentClassified", stage=NAME, model=result.model
        ),
        "document_id": arrival["document_id"],
        "customer_id": arrival["customer_id"],
        "document_type": result.document_type,
        "confidence": result.confidence,
        "fields": [
            {"name": f.name, "value": f.value, "confidence": f.confidence} for f in result.fields
        ],
        "extraction_method": text.method,
        "text_sha256": hashlib.sha256(text.text.encode("utf-8")).hexdigest(),
        "document_sha256": arrival["sha256"],
    }
    return Outgoing(DOCUMENTS_CLASSIFIED.name, "DocumentClassified", record)


def unreadable(arrival: Record, error: DocumentUnreadable) -> Outgoing:
    log.info("document %s unreadable: %s", arrival["document_id"], error.code)
    return exception_event(
        arrival,
        stage=NAME,
        kind="document_unreadable",
        severity="medium",
        reason=error.reason,
        details={"code": error.code, "uri": arrival["uri"], "filename": arrival["filename"]},
    )


def main(settings: Settings, stop: threading.Event) -> None:
    kafka_io.require_broker(settings)
    runner = TransactionalRunner(
        NAME,
        settings,
        [settings.topic(DOCUMENTS_ARRIVED)],
        lambda event_type, record: classify_arrival(settings, event_type, record),
    )
    runner.run(stop)
