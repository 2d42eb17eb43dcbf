"""A case as plain data, the input of a SAR (``compliance report sar --input case.json``).

What case management shows of a confirmed case: the case, its exceptions with the rules'
explanations, the transactions behind them, the officers' decisions, and what the classified
documents of the audit trail say about the subject (every detail optional: unknown stays
unknown).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Plain(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CaseException(_Plain):
    rule_id: str | None = None
    kind: str
    severity: str
    reason: str = Field(description="The rule's explanation of why it failed.")
    details: dict[str, str | None] = Field(default_factory=dict)
    raised_at: datetime | None = None


class CaseTransaction(_Plain):
    transaction_id: str | None = None
    account: str | None = Field(None, description="The customer's account it was booked on.")
    booked_at: datetime
    amount: Decimal = Field(gt=0)
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    direction: Literal["in", "out"]
    counterparty_name: str | None = None
    counterparty_account: str | None = None
    counterparty_country: str | None = None


class CaseDecision(_Plain):
    actor: str
    action: str
    at: datetime
    comment: str | None = None


class SubjectDetails(_Plain):
    """What the classified documents of the audit trail say about the subject."""

    kind: Literal["individual", "entity"] = "individual"
    full_name: str | None = None
    surname: str | None = None
    given_names: str | None = None
    date_of_birth: date | None = None
    sex: str | None = None
    document_type: str | None = Field(None, description="passport, national_id, ...")
    document_number: str | None = None
    issuing_state: str | None = Field(None, description="ICAO code or country name.")
    nationality: str | None = None
    address: str | None = Field(None, description="One line, comma separated.")
    address_country: str | None = None
    tin: str | None = None
    tin_type: Literal["1", "2", "9"] | None = Field(
        None, description="1 SSN/ITIN, 2 EIN, 9 foreign."
    )
    occupation: str | None = None
    accounts: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _tin_has_a_type(self) -> SubjectDetails:
        if self.tin and self.tin_type is None:
            raise ValueError("tin_type (1 SSN/ITIN, 2 EIN, 9 foreign) must say what the tin is")
        return self


class CaseInput(_Plain):
    case_id: str
    customer_id: str
    category: str | None = None
    status: str = Field(
        "unknown",
        description="Set from the case tables by ``compliance report sar``; a status given "
        "in a file is replaced by the tables' (only a case confirmed there makes a filing).",
    )
    opened_at: datetime | None = None
    closed_at: datetime | None = None
    exceptions: list[CaseException] = Field(default_factory=list)
    transactions: list[CaseTransaction] = Field(default_factory=list)
    decisions: list[CaseDecision] = Field(default_factory=list)
    subject: SubjectDetails | None = None
