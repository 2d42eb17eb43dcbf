"""The events screening announces, as Avro records (no Kafka here; see ``sending``).

- ``SanctionsClearance`` on ``sanctions.clearances``: an officer cleared a customer against
  an entity, or revoked it; keyed by the customer.
- ``SanctionsListsLoaded`` on ``sanctions.lists``: a new list version is in force.
- ``ComplianceException`` (kind ``sanctions_rescreen_hit``) on ``compliance.exceptions``: a
  customer hits an entity after a list change. Its id derives from the list version, the
  customer and the entity, so re-running a re-screen yields the same events, recorded once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from compliance.codec import Record
from compliance.events import derive_event_id, envelope
from compliance.screening.hits import Hit

CLEARANCE_STAGE = "sanctions-clearance"
LISTS_STAGE = "sanctions-lists"
RESCREEN_STAGE = "sanctions-rescreen"
RESCREEN_KIND = "sanctions_rescreen_hit"
RESCREEN_RULE = "sanctions.rescreen-on-list-change"


@dataclass(frozen=True, slots=True)
class Clearance:
    """One row of the clearance history: a clearance given, or one revoked."""

    event_id: str
    action: str  # "clear" or "revoke"
    customer_id: str
    entity_id: str
    entity_version: str | None
    customer_version: str | None
    officer: str
    reason: str
    entity_name: str | None = None
    list_version: str | None = None
    recorded_at: datetime | None = None


def clearance_event(clearance: Clearance) -> Record:
    """The event of one clearance action; its id is the action's own (a human decision is an
    original event, not derived from another)."""
    return {
        "envelope": envelope(
            event_type="SanctionsClearance",
            stage=CLEARANCE_STAGE,
            cause=clearance.event_id,
            correlation_id=clearance.customer_id,
            subject_id=clearance.customer_id,
            causation_id=None,
        )
        | {"event_id": clearance.event_id},
        "action": clearance.action,
        "customer_id": clearance.customer_id,
        "entity_id": clearance.entity_id,
        "entity_version": clearance.entity_version,
        "customer_version": clearance.customer_version,
        "entity_name": clearance.entity_name,
        "list_version": clearance.list_version,
        "officer": clearance.officer,
        "reason": clearance.reason,
    }


@dataclass(frozen=True, slots=True)
class ListFile:
    name: str
    source: str
    sha256: str
    size_bytes: int


@dataclass(frozen=True, slots=True)
class ListSummary:
    source: str
    list_version: str
    entities: int


def lists_loaded_event_id(version: str) -> str:
    return derive_event_id(LISTS_STAGE, version)


def lists_loaded_event(
    version: str,
    previous_version: str | None,
    loaded_by: str,
    files: Sequence[ListFile],
    lists: Sequence[ListSummary],
) -> Record:
    return {
        "envelope": envelope(
            event_type="SanctionsListsLoaded",
            stage=LISTS_STAGE,
            cause=version,
            correlation_id=version,
            subject_id="sanctions-lists",
            causation_id=None,
            ruleset_version=version,
        ),
        "version": version,
        "previous_version": previous_version,
        "loaded_by": loaded_by,
        "files": [_as_dict(f) for f in files],
        "lists": [_as_dict(s) for s in lists],
    }


def _as_dict(item: ListFile | ListSummary) -> dict[str, object]:
    return {name: getattr(item, name) for name in item.__slots__}


def rescreen_event_id(list_version: str, customer_id: str, entity_id: str) -> str:
    return derive_event_id(RESCREEN_STAGE, list_version, f"{customer_id}\x1f{entity_id}")


def rescreen_exception(
    hit: Hit, customer_id: str, screened_name: str, list_version: str, cause_event_id: str
) -> Record:
    """The exception an officer reviews: a customer hits an entity after a list change."""
    event = envelope(
        event_type="ComplianceException",
        stage=RESCREEN_STAGE,
        cause=list_version,
        discriminator=f"{customer_id}\x1f{hit.entity_id}",
        correlation_id=customer_id,
        subject_id=customer_id,
        causation_id=cause_event_id,
        ruleset_version=list_version,
    )
    via = "" if hit.matched_name == hit.entity_name else f" (as '{hit.matched_name}')"
    return {
        "envelope": event,
        "document_id": None,
        "customer_id": customer_id,
        "kind": RESCREEN_KIND,
        "severity": "critical",
        "rule_id": RESCREEN_RULE,
        "rule_version": None,
        "reason": (
            f"Possible sanctions match after a list update: {hit.entity_name}{via}, "
            f"{hit.source}, score {hit.score:.1f}"
        ),
        "details": {
            "screened_name": screened_name,
            "entity_id": hit.entity_id,
            "entity_name": hit.entity_name,
            "entity_version": hit.entity_version,
            "matched_name": hit.matched_name,
            "alias_type": hit.alias_type.value,
            "score": f"{hit.score:.2f}",
            "name_score": f"{hit.breakdown.name_score:.2f}",
            "source": hit.source,
            "source_list_version": hit.list_version,
            "lists_version": list_version,
            "explanation": hit.explain(),
        },
    }
