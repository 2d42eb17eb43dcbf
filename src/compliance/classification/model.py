"""What a classifier returns, whichever classifier it is."""

from __future__ import annotations

from dataclasses import dataclass

# The classifier's vocabulary (both classifiers): identity documents, proofs of address
# (utility bills, a bank's letter confirming the address), financial documents, tax forms
# (any country's: the ``form`` field names which), and ``unknown`` when the evidence is thin.
DOCUMENT_TYPES = (
    "passport",
    "national_id",
    "driving_licence",
    "residence_permit",  # residence permits and visas
    "proof_of_address",
    "bank_statement",
    "payslip",
    "consent_form",
    "tax_form",
    "invoice",
    "receipt",
    "contract",
    "company_registration",
    "unknown",
)


@dataclass(frozen=True)
class ExtractedField:
    name: str
    value: str | None
    confidence: float


@dataclass(frozen=True)
class Usage:
    """What one LLM classification consumed: tokens read and written, and their price."""

    input_tokens: int
    output_tokens: int
    cost_usd: float
    from_cache: bool = False


@dataclass(frozen=True)
class Classification:
    document_type: str
    confidence: float
    fields: tuple[ExtractedField, ...]
    model: str
    prompt_version: str | None = None  # LLM classifiers only
    usage: Usage | None = None  # LLM classifiers only

    def value(self, name: str) -> str | None:
        for f in self.fields:
            if f.name == name:
                return f.value
        return None
