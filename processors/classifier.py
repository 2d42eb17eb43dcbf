"""Classifier: documents.arrived -> documents.classified (and compliance.exceptions).

For each arrival event: fetch the document by its reference (checking size and hash), read its
text (text layer, form fields, or OCR for scans), then classify it and extract its fields, with
Claude when an API key is configured, else with the local classifier. A document that cannot be
fetched, read or classified becomes an exception for a human, never a silent drop; so does a
classification whose type or fields are less certain than the configured thresholds. Only the
classification is decided here: whether the document passes is the checker's job.

Claude calls wait on the network, so the runner keeps up to ``COMPLIANCE_LLM_CONCURRENCY``
documents of a batch in this stage at once; when the API is down the batch waits, uncommitted.
Because documents finish out of order, the runner dates each decision (``occurred_at``) when the
batch is dispatched, in input order, strictly increasing within a partition: two documents of
one customer are dated in the order they arrived, which the checker's "as of" reads rely on.
With Claude a batch holds at most ``COMPLIANCE_LLM_BATCH_MULTIPLE`` x the concurrency records
(``Settings.llm_batch_size``), so a batch of slow calls ends within max.poll.interval.ms;
without it at most ``COMPLIANCE_LOCAL_BATCH_SIZE`` records, so a batch of scans to OCR does too.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading

from compliance import health, kafka_io
from compliance.audit.store import connect, require_database
from compliance.classification.choose import Classifier, LocalClassifier, classifier_for
from compliance.classification.model import Classification
from compliance.classification.review import Doubt, doubts
from compliance.codec import Record, SchemaRegistry
from compliance.config import Settings
from compliance.documents.reference import fetch
from compliance.documents.s3 import s3_access
from compliance.documents.text import ExtractedText, extract_text, require_ocr
from compliance.erased_subjects import refusing_erased_subjects
from compliance.errors import DocumentUnreadable, PoisonMessage
from compliance.events import caused_by
from compliance.exceptions import exception_event
from compliance.outgoing import Outgoing
from compliance.runner import Stage, TransactionalRunner
from compliance.subject_keyring import sealing_codec
from compliance.topics import DOCUMENTS_ARRIVED, DOCUMENTS_CLASSIFIED
from compliance.transactions.statements import statement_transactions

log = logging.getLogger(__name__)
NAME = "classifier"
_LOCAL = LocalClassifier()


def classify_arrival(
    settings: Settings, event_type: str, arrival: Record, classifier: Classifier = _LOCAL
) -> list[Outgoing]:
    if event_type != "DocumentArrived":
        raise PoisonMessage(f"{event_type} does not belong on {DOCUMENTS_ARRIVED.name}")
    try:
        data = fetch(
            arrival, settings.document_roots, settings.max_document_bytes, s3_access(settings)
        )
        text = extract_text(data, arrival["media_type"])
        result = classifier.classify(text.text, arrival["sha256"])
    except DocumentUnreadable as exc:
        return [unreadable(arrival, exc)]
    outputs = [classified(arrival, text, result)]
    if result.document_type == "bank_statement":  # an MT940 statement's lines are payments
        outputs += statement_transactions(arrival, text.text)
    review = doubts(result, settings)
    if review:
        outputs.append(low_confidence(arrival, result, review))
    return outputs


def classified(arrival: Record, text: ExtractedText, result: Classification) -> Outgoing:
    usage = result.usage
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
        "prompt_version": result.prompt_version,
        "input_tokens": usage.input_tokens if usage else None,
        "output_tokens": usage.output_tokens if usage else None,
        "cost_usd": usage.cost_usd if usage else None,
        "from_cache": usage.from_cache if usage else None,
        "declared_type": arrival.get("declared_type"),  # for the checker to compare
    }
    return Outgoing(DOCUMENTS_CLASSIFIED.name, "DocumentClassified", record)


def low_confidence(arrival: Record, result: Classification, review: list[Doubt]) -> Outgoing:
    return exception_event(
        arrival,
        stage=NAME,
        kind="low_confidence",
        severity="medium",
        reason=f"{result.document_type} read with low confidence: "
        + ", ".join(str(d) for d in review),
        discriminator="low_confidence",
        model=result.model,
        details={d.what: f"{d.confidence:.3f}" for d in review}
        | {"document_type": result.document_type, "filename": arrival["filename"]},
    )


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


def batch_size(settings: Settings) -> int:
    """Records per classifier batch: with Claude a few rounds of calls, else a few dozen
    documents for the local classifier, whose OCR takes about a second a scan per core
    (a plain batch of 500 scans would outlast max.poll.interval.ms)."""
    if settings.anthropic_api_key is not None:
        return settings.llm_batch_size
    return min(settings.batch_size, settings.local_batch_size)


def runner_for(
    settings: Settings, classifier: Classifier, codec: SchemaRegistry | None = None
) -> TransactionalRunner:
    """The classifier's runner: documents in flight at once, decisions dated in input order,
    and a batch that ends within max.poll.interval.ms (``batch_size``). With a sealing
    ``codec``, personal fields are sealed with their subject's key and an erased subject's
    documents are refused (``compliance.erased_subjects``)."""
    with_llm = settings.anthropic_api_key is not None
    # Claude calls wait on the network; local OCR runs in threads, one per core (tesserocr and
    # OpenCV release the interpreter lock; each thread has its own Tesseract API objects).
    in_flight = settings.llm_concurrency if with_llm else os.cpu_count() or 1
    stage: Stage = lambda event_type, record: classify_arrival(  # noqa: E731
        settings, event_type, record, classifier
    )
    if codec is not None and codec.keyring is not None:
        stage = refusing_erased_subjects(stage, codec.keyring, NAME)
    return TransactionalRunner(
        NAME,
        settings,
        [settings.topic(DOCUMENTS_ARRIVED)],
        stage,
        concurrency=in_flight,
        batch_size=batch_size(settings),
        stamp_in_input_order=True,
        codec=codec,
    )


def main(settings: Settings, stop: threading.Event) -> None:
    require_ocr()  # what this machine lacks is said before any service is asked
    engine = connect(settings.database_dsn)  # the subjects' keys
    require_database(engine)
    health.state.add_check("database", health.database_check(engine))
    kafka_io.require_broker(settings)
    runner_for(settings, classifier_for(settings), sealing_codec(engine)).run(stop)
