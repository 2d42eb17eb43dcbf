"""GDPR consent: processing whose lawful basis is consent needs a valid consent for its
purpose at the moment of the decision.

Consent statements arrive as ``ConsentRecorded`` events (given, with an optional expiry, or
withdrawn) and are kept per data subject by the checker. A consent is valid at instant T for
purpose P when the latest grant for P given by T has not expired by T and no withdrawal for
P effective by T came after it. Only statements recorded by T count, so a withdrawal takes
effect for later events, and replaying an event decides as it did. A consent form may itself
be the evidence of a grant (``evidence_field``: the date consent was given on it).

A consent covers a document's purpose when every word of the consent's purpose appears in
it ("marketing" covers "marketing communications by e-mail").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from compliance.rules.checks import Context, Fields, Verdict, check, text
from compliance.rules.kinds.names import name_tokens
from compliance.rules.kinds.params import Params
from compliance.rules.state import ConsentStatement

# GDPR Art. 6(1) (a)-(f).
LAWFUL_BASES = (
    "consent",
    "contract",
    "legal_obligation",
    "vital_interests",
    "public_task",
    "legitimate_interests",
)


_ALIASES = {
    "legitimate_interest": "legitimate_interests",
    "vital_interest": "vital_interests",
    "public_interest": "public_task",
    "legal_obligations": "legal_obligation",
    "contractual_necessity": "contract",
}


def lawful_basis(raw: str) -> str:
    key = "_".join(name_tokens(raw))
    return _ALIASES.get(key, key)


class ConsentParams(Params):
    purpose_field: str = "purpose"
    purpose: str | None = None  # the purpose when the document does not state one
    lawful_basis_field: str = "lawful_basis"
    evidence_field: str | None = None  # a consent form's own "consent given" date


@dataclass(frozen=True)
class Grant:
    given_at: datetime
    expires_at: datetime | None
    source: str


def covers(consent_purpose: str, purpose: str) -> bool:
    wanted = set(name_tokens(consent_purpose))
    return bool(wanted) and wanted <= set(name_tokens(purpose))


def _day(raw: str) -> datetime | None:
    try:
        return datetime.combine(date.fromisoformat(raw[:10]), time.min, tzinfo=UTC)
    except ValueError:
        return None


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def consent_at(
    statements: tuple[ConsentStatement, ...], purpose: str, at: datetime, evidence: Grant | None
) -> tuple[Grant | None, datetime | None]:
    """The latest grant for ``purpose`` in force by ``at`` and the latest withdrawal."""
    relevant = [s for s in statements if s.recorded_at <= at and covers(s.purpose, purpose)]
    grants = [
        Grant(s.given_at, s.expires_at, f"consent {s.consent_id}")
        for s in relevant
        if s.given_at is not None and s.given_at <= at
    ]
    if evidence is not None and evidence.given_at <= at:
        grants.append(evidence)
    withdrawals = [s.withdrawn_at for s in relevant if s.withdrawn_at and s.withdrawn_at <= at]
    grant = max(grants, key=lambda g: g.given_at, default=None)
    return grant, max(withdrawals, default=None)


@check("consent", params=ConsentParams, needs=("consents",))
def consent(params: ConsentParams, fields: Fields, _: Any, ctx: Context) -> Verdict:
    purpose = text(fields, params.purpose_field) or (params.purpose or "")
    raw_basis = text(fields, params.lawful_basis_field)
    inputs: dict[str, str | None] = {
        "customer_id": ctx.customer_id,
        "purpose": purpose or None,
        "lawful_basis": raw_basis or None,
        "at": ctx.instant.isoformat(),
    }
    if not purpose:
        return Verdict(False, "the document states no purpose of processing", inputs)
    basis = lawful_basis(raw_basis) if raw_basis else "consent"
    if basis not in LAWFUL_BASES:
        return Verdict(False, f"{raw_basis!r} is not a lawful basis of GDPR Art. 6(1)", inputs)
    if basis != "consent":
        return Verdict(True, f"processing for {purpose!r} relies on {basis}, not consent", inputs)
    evidence = None
    if params.evidence_field and (day := _day(text(fields, params.evidence_field))):
        evidence = Grant(day, None, "this document")
        inputs[params.evidence_field] = fields.get(params.evidence_field)
    grant, withdrawn = consent_at(ctx.customer.consents, purpose, ctx.instant, evidence)
    if grant is None:
        return Verdict(False, f"no consent on record for {purpose!r}", inputs)
    inputs["consent"] = grant.source
    inputs["given_at"] = grant.given_at.isoformat()
    if withdrawn is not None and withdrawn >= grant.given_at:
        inputs["withdrawn_at"] = withdrawn.isoformat()
        return Verdict(
            False, f"consent for {purpose!r} was withdrawn on {_stamp(withdrawn)}", inputs
        )
    if grant.expires_at is not None and grant.expires_at <= ctx.instant:
        inputs["expires_at"] = grant.expires_at.isoformat()
        return Verdict(
            False, f"consent for {purpose!r} expired on {_stamp(grant.expires_at)}", inputs
        )
    return Verdict(
        True,
        f"{grant.source} gave consent for {purpose!r} on {_stamp(grant.given_at)}, not withdrawn",
        inputs,
    )
