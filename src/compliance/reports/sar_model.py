"""A FinCEN SAR filing as typed data: who files, who transmits, whom to call, whom the report is
about, what happened and the narrative.

The model holds values as they will be written; it does not repeat the schema's limits (name
lengths, code lists): FinCEN's schema is the one judge of those, and ``validate_sar`` names
the element that breaks one. What is not known is ``None`` and is written with the schema's
"unknown" indicators, never invented.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Address(_Frozen):
    street: str | None = Field(None, description="Street address, one line.")
    city: str | None = None
    state: str | None = Field(None, description="US state or territory code; abroad: none.")
    zip_code: str | None = Field(None, description="ZIP or foreign postal code, no spaces.")
    country: str | None = Field(None, description="ISO 3166-1 alpha-2 code.")


class Phone(_Frozen):
    number: str = Field(description="Digits only, area code first.")
    extension: str | None = None


class Identification(_Frozen):
    """An identifying number: a TIN, a passport, a regulator's number, an internal one."""

    type_code: str = Field(
        description="FinCEN's identification type: 1 SSN/ITIN, 2 EIN, 4 TIN, 5 driver's "
        "licence/state ID, 6 passport, 7 alien registration, 9 foreign, 14 RSSD, 28 "
        "transmitter control code, 29 internal control number, 999 other."
    )
    number: str
    issuer_country: str | None = Field(None, description="ISO alpha-2 of the issuer.")
    issuer_state: str | None = None
    other_type_text: str | None = Field(None, description="What the ID is, for type 999.")


class Institution(_Frozen):
    """A financial institution: the filer (party 30) or where the activity occurred (34)."""

    legal_name: str
    dba_name: str | None = Field(None, description="Name it does business as, if another.")
    tin: Identification = Field(description="Its TIN: type 2 (EIN), 1 (SSN/ITIN) or 9.")
    other_ids: tuple[Identification, ...] = Field(
        (), description="Further identification, e.g. RSSD (14), CRD (10), NMLS (33)."
    )
    primary_regulator: str = Field(
        description="Primary federal regulator: 1 Federal Reserve, 2 FDIC, 3 NCUA, 4 OCC, "
        "6 SEC, 7 IRS, 9 CFTC, 13 FHFA, 99 not applicable."
    )
    organization_type: str = Field(
        description="Institution type: 1 casino/card club, 2 depository institution, 3 "
        "insurance, 4 MSB, 5 securities/futures, 11 loan or finance company, 12 housing GSE, "
        "999 other."
    )
    organization_type_other: str | None = Field(None, description="What it is, for type 999.")
    address: Address


class Transmitter(_Frozen):
    """Who sends the batch to BSA E-Filing (party 35): often the filer itself."""

    legal_name: str
    tin: str = Field(description="The transmitter's TIN (digits only).")
    control_code: str = Field(description="The Transmitter Control Code FinCEN assigned.")
    address: Address
    phone: Phone


class Contact(_Frozen):
    """A named contact: the transmitter's contact person (37), the contact office (8)."""

    name: str
    phone: Phone | None = None


class Account(_Frozen):
    number: str
    closed: bool = False


class Subject(_Frozen):
    """A person or entity the report is about (party 33)."""

    entity: bool = Field(False, description="An organisation rather than an individual.")
    last_name: str | None = Field(
        None, description="Entity's legal name, or the individual's surname; None: unknown."
    )
    first_name: str | None = None
    middle_name: str | None = None
    birth_date: date | None = None
    sex: Literal["F", "M"] | None = None
    address: Address | None = None
    tin: Identification | None = Field(None, description="SSN/ITIN (1), EIN (2) or foreign (9).")
    identifications: tuple[Identification, ...] = Field(
        (), description="Identity documents: passport (6), driver's licence (5), other (999)."
    )
    occupation: str | None = None
    accounts: tuple[Account, ...] = Field((), description="Accounts the activity touched.")
    customer: bool = Field(True, description="The subject is a customer of the filer.")


class ActivityClass(_Frozen):
    """One suspicious activity category: FinCEN's type and subtype codes."""

    type_id: int
    subtype_id: int
    other_text: str | None = Field(None, description="What it was, for an 'Other' subtype.")


class SuspiciousActivity(_Frozen):
    from_date: date
    to_date: date
    amount_usd: int | None = Field(
        None, description="Total suspicious amount in whole US dollars, rounded up."
    )
    no_amount_involved: bool = Field(
        False, description="No money was involved (e.g. false documents only)."
    )
    classifications: tuple[ActivityClass, ...]


class SarParties(_Frozen):
    """The parties that are the same on every filing (config/sar.yaml)."""

    transmitter: Transmitter
    transmitter_contact: Contact
    filing_institution: Institution
    contact_office: Contact
    activity_institution: Institution | None = Field(
        None,
        description="The institution where the activity occurred; unset: the filing institution.",
    )
    note_to_fincen: str | None = Field(
        None, description="A short note, e.g. the advisory or GTO a filing responds to."
    )


class SarFiling(_Frozen):
    """One SAR: the ``Activity`` of a batch."""

    internal_reference: str = Field(description="The filer's internal control number.")
    filing_date: date
    parties: SarParties
    subjects: tuple[Subject, ...]
    activity: SuspiciousActivity
    narrative: str

    @property
    def activity_institution(self) -> Institution:
        return self.parties.activity_institution or self.parties.filing_institution
