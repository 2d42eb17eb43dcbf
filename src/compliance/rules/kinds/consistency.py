"""Cross-document consistency for one customer: the name, date of birth or address a document
shows must agree with what the customer's earlier documents showed.

The earlier documents come from the checker's per-customer state (``rules.store``), limited
to documents classified before this one, so a replay decides the same way. The customer's
first document (for an attribute) is the record later ones are held to.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import Field
from rapidfuzz import fuzz

from compliance.rules.checks import Context, Fields, Verdict, check, label, text
from compliance.rules.kinds.names import compare_names, name_tokens
from compliance.rules.kinds.params import Params
from compliance.rules.state import CustomerDocument

Attribute = Literal["full_name", "date_of_birth", "address"]


class ConsistencyParams(Params):
    attribute: Attribute
    field: str | None = None  # the document's field; defaults to the attribute's name
    threshold: float = Field(85.0, ge=0, le=100)  # names and addresses: least similarity


def _agree(attribute: Attribute, value: str, earlier: str, threshold: float) -> tuple[bool, str]:
    if attribute == "full_name":
        agreement = compare_names(value, earlier)
        ok = agreement.matches and agreement.score >= threshold
        return ok, agreement.describe()
    if attribute == "date_of_birth":
        try:
            ok = date.fromisoformat(value[:10]) == date.fromisoformat(earlier[:10])
        except ValueError:
            ok = value.strip() == earlier.strip()
        return ok, "same date" if ok else "different dates"
    score = fuzz.token_set_ratio(" ".join(name_tokens(value)), " ".join(name_tokens(earlier)))
    return score >= threshold, f"similarity {score:.0f}"


IDENTITY_TYPES = frozenset({"passport", "national_id"})


def customer_record(
    documents: tuple[CustomerDocument, ...], attribute: str
) -> CustomerDocument | None:
    """The document that set the customer's record for ``attribute``: their earliest identity
    document showing it, else their earliest document showing it."""
    showing = [d for d in documents if (d.value(attribute) or "").strip()]
    identity = [d for d in showing if d.document_type in IDENTITY_TYPES]
    candidates = identity or showing
    return min(candidates, key=lambda d: (d.occurred_at, d.event_id), default=None)


@check("customer_consistent", params=ConsistencyParams, needs=("documents",))
def customer_consistent(params: ConsistencyParams, fields: Fields, _: Any, ctx: Context) -> Verdict:
    name = params.field or params.attribute
    what = label(params.attribute)
    value = text(fields, name)
    inputs: dict[str, str | None] = {name: fields.get(name), "customer_id": ctx.customer_id}
    if not ctx.customer_id:
        return Verdict(True, f"the document names no customer to compare its {what} with", inputs)
    if not value:
        return Verdict(True, f"the document shows no {what} to compare", inputs)
    record = customer_record(ctx.customer.documents, params.attribute)
    if record is None:
        return Verdict(
            True, f"first document of customer {ctx.customer_id} showing a {what}", inputs
        )
    shown = record.value(params.attribute) or ""
    ok, how = _agree(params.attribute, value, shown, params.threshold)
    inputs.update(
        record_value=shown,
        record_document_id=record.document_id,
        record_document_type=record.document_type,
        comparison=how,
    )
    where = f"the customer's {label(record.document_type)} {record.document_id}"
    if not ok:
        return Verdict(
            False, f"{what} {value!r} does not match {shown!r} on {where} ({how})", inputs
        )
    return Verdict(True, f"{what} {value!r} matches {shown!r} on {where} ({how})", inputs)
