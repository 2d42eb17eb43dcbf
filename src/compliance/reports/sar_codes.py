"""Our rules and categories as FinCEN's suspicious activity types and subtypes.

A rule id names the typology it found (``tx.structuring``, ``tx.fan-in``); a rule without an
entry here is classified by the longest matching id prefix, then by its exception's category.
An "Other" subtype (``x999``) carries a short text saying what the activity was, as FinCEN
requires. Codes from the schema's ``ValidateSuspiciousActivityTypeID`` and
``ValidateSuspiciousActivitySubtypeID`` lists.
"""

from __future__ import annotations

from collections.abc import Iterable

from compliance.reports.sar_model import ActivityClass

# Types
STRUCTURING = 1
IDENTIFICATION = 4
MONEY_LAUNDERING = 8
OTHER_ACTIVITY = 9

_SANCTIONS = ActivityClass(
    type_id=OTHER_ACTIVITY, subtype_id=9999, other_text="Sanctions list match"
)
_HIGH_RISK_JURISDICTION = ActivityClass(type_id=OTHER_ACTIVITY, subtype_id=928)
_OUT_OF_PATTERN = ActivityClass(type_id=MONEY_LAUNDERING, subtype_id=812)
_QUESTIONABLE_IDENTIFICATION = ActivityClass(type_id=IDENTIFICATION, subtype_id=409)
_QUESTIONABLE_DOCUMENTATION = ActivityClass(type_id=IDENTIFICATION, subtype_id=403)

BY_RULE: dict[str, ActivityClass] = {
    # Transactions just under the cash reporting threshold.
    "tx.structuring": ActivityClass(type_id=STRUCTURING, subtype_id=114),
    # Many payers into one account: a funnel account.
    "tx.fan-in": ActivityClass(type_id=MONEY_LAUNDERING, subtype_id=824),
    # One account paying out to many.
    "tx.fan-out": ActivityClass(type_id=MONEY_LAUNDERING, subtype_id=807),
    # Money in and out again within hours: FinCEN has no subtype of its own for it.
    "tx.rapid-movement": ActivityClass(
        type_id=MONEY_LAUNDERING, subtype_id=8999, other_text="Rapid movement of funds"
    ),
    "tx.velocity": _OUT_OF_PATTERN,
    "tx.large-single-amount": _OUT_OF_PATTERN,
    "tx.round-amounts": _OUT_OF_PATTERN,
    "tx.sanctioned-counterparty": _SANCTIONS,
    "tx.jurisdiction-": _HIGH_RISK_JURISDICTION,
    "aml.sanctions-name-screen": _SANCTIONS,
    "aml.invoice-parties-screen": _SANCTIONS,
    "aml.tax-form-business-screen": _SANCTIONS,
    "aml.high-risk-nationality": _HIGH_RISK_JURISDICTION,
    "identity.": _QUESTIONABLE_IDENTIFICATION,
    "classification.mrz-corroborated": _QUESTIONABLE_IDENTIFICATION,
    "address.": _QUESTIONABLE_DOCUMENTATION,
    "identifiers.": _QUESTIONABLE_DOCUMENTATION,
    "invoice.": _QUESTIONABLE_DOCUMENTATION,
    "tax.": _QUESTIONABLE_DOCUMENTATION,
    "classification.": _QUESTIONABLE_DOCUMENTATION,
}

BY_CATEGORY: dict[str, ActivityClass] = {
    "sanctions": _SANCTIONS,
    "transaction_monitoring": ActivityClass(
        type_id=MONEY_LAUNDERING, subtype_id=8999, other_text="Transaction monitoring alert"
    ),
    "kyc": _QUESTIONABLE_DOCUMENTATION,
    "document_quality": _QUESTIONABLE_DOCUMENTATION,
}

OTHER_TEXT_CHARS = 50  # OtherSuspiciousActivityTypeText
FALLBACK = ActivityClass(type_id=OTHER_ACTIVITY, subtype_id=9999, other_text="Other")


def classify(rule_id: str | None, category: str | None) -> ActivityClass:
    """The activity class of one exception: by its rule, else its category."""
    if rule_id:
        if rule_id in BY_RULE:
            return BY_RULE[rule_id]
        prefixes = [p for p in BY_RULE if p.endswith((".", "-")) and rule_id.startswith(p)]
        if prefixes:
            return BY_RULE[max(prefixes, key=len)]
    return BY_CATEGORY.get(category or "", FALLBACK)


def classifications(found: Iterable[tuple[str | None, str | None]]) -> tuple[ActivityClass, ...]:
    """The distinct activity classes of (rule id, category) pairs, first seen first; a subtype
    appears once (the schema requires it), an "Other" one naming every activity it stands for."""
    by_subtype: dict[int, ActivityClass] = {}
    for rule_id, category in found:
        c = classify(rule_id, category)
        seen = by_subtype.get(c.subtype_id)
        if seen is None:
            by_subtype[c.subtype_id] = c
        elif c.other_text and seen.other_text and c.other_text not in seen.other_text:
            text = f"{seen.other_text}; {c.other_text}"
            if len(text) <= OTHER_TEXT_CHARS:
                by_subtype[c.subtype_id] = seen.model_copy(update={"other_text": text})
    return tuple(by_subtype.values())
