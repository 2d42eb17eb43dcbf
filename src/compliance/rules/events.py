"""The events the rules area defines: consent statements (published by upstream consent
management, or by tests) and ruleset changes (published by the checker, audited)."""

from __future__ import annotations

from datetime import datetime

from compliance.codec import Record
from compliance.events import envelope
from compliance.outgoing import Outgoing
from compliance.rules.ruleset import Ruleset
from compliance.topics import COMPLIANCE_RULESETS, CONSENTS_RECORDED


def consent_event(
    *,
    consent_id: str,
    customer_id: str,
    purpose: str,
    source_system: str,
    lawful_basis: str = "consent",
    given_at: datetime | None = None,
    expires_at: datetime | None = None,
    withdrawn_at: datetime | None = None,
    evidence_document_id: str | None = None,
    occurred_at: datetime | None = None,
) -> Outgoing:
    """A ConsentRecorded event; its id derives from the statement, so publishing the same
    statement twice is recorded once."""
    statement = "|".join(
        str(x) for x in (consent_id, purpose, lawful_basis, given_at, expires_at, withdrawn_at)
    )
    record: Record = {
        "envelope": envelope(
            event_type="ConsentRecorded",
            stage=f"consents:{source_system}",
            cause=statement,
            correlation_id=consent_id,
            subject_id=customer_id,
            causation_id=None,
            occurred_at=occurred_at,
        ),
        "consent_id": consent_id,
        "customer_id": customer_id,
        "purpose": purpose,
        "lawful_basis": lawful_basis,
        "given_at": given_at,
        "expires_at": expires_at,
        "withdrawn_at": withdrawn_at,
        "source_system": source_system,
        "evidence_document_id": evidence_document_id,
    }
    return Outgoing(CONSENTS_RECORDED.name, "ConsentRecorded", record)


def ruleset_changed(
    previous: Ruleset | None,
    current: Ruleset,
    *,
    reason: str,
    scope: str,
    instance_id: str,
    stage: str = "checker",
    error: str | None = None,
    rejected_version: str | None = None,
) -> Outgoing:
    """The audited record of a ruleset coming into force (or of a rejected reload). The id
    depends on the scope, the versions and the instance: each copy of the checker loading a
    change is an event of its own (the record names the copy; one id for all copies would
    be one id with different contents, a conflict in the audit trail); the same copy
    announcing the same change again (a restart) records it once."""
    before = {r.id: r.full_version for r in previous.rules} if previous else {}
    after = {r.id: r.full_version for r in current.rules}
    accepted = error is None
    previous_version = previous.version if previous else None
    cause = (
        f"{scope}ruleset:{instance_id}:{previous_version}->{rejected_version or current.version}"
    )
    record: Record = {
        "envelope": envelope(
            event_type="RulesetChanged",
            stage=stage,
            cause=cause,
            discriminator="" if accepted else "rejected",
            correlation_id=current.version,
            subject_id="ruleset",
            causation_id=None,
            ruleset_version=current.version,
        ),
        "previous_version": previous_version,
        "version": current.version,
        "accepted": accepted,
        "error": error,
        "reason": reason,
        "rules": after,
        "added": sorted(set(after) - set(before)) if previous else [],
        "removed": sorted(set(before) - set(after)),
        "changed": sorted(r for r in set(after) & set(before) if after[r] != before[r]),
        "instance_id": instance_id,
        # Spelled like ruleset versions: "sha256:" and 16 hex digits.
        "rules_version": f"sha256:{current.rules_version[:16]}" if current.rules_version else None,
        "lists_version": current.lists_version,
        "lists": current.lists,
    }
    return Outgoing(COMPLIANCE_RULESETS.name, "RulesetChanged", record)
