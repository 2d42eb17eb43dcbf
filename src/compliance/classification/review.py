"""Doubt goes to a human: a document type or a field read with less confidence than its
threshold (``COMPLIANCE_MIN_DOCUMENT_CONFIDENCE``, ``COMPLIANCE_MIN_FIELD_CONFIDENCE``, and
per field ``COMPLIANCE_FIELD_CONFIDENCE_THRESHOLDS``) is listed for review, never passed on
silently."""

from __future__ import annotations

from dataclasses import dataclass

from compliance.classification.model import Classification
from compliance.config import Settings


@dataclass(frozen=True)
class Doubt:
    what: str  # "document_type" or a field name
    confidence: float
    threshold: float

    def __str__(self) -> str:
        return f"{self.what} {self.confidence:.2f} < {self.threshold:.2f}"


def doubts(result: Classification, settings: Settings) -> list[Doubt]:
    found = []
    if result.confidence < settings.min_document_confidence:
        found.append(Doubt("document_type", result.confidence, settings.min_document_confidence))
    for field in result.fields:
        threshold = settings.field_confidence_thresholds.get(
            field.name, settings.min_field_confidence
        )
        if field.value is not None and field.confidence < threshold:
            found.append(Doubt(field.name, field.confidence, threshold))
    return found
