"""A confirmed case as a SAR filing.

The input is plain data (``CaseInput``, a JSON file for ``compliance report sar --input``):
the case, its exceptions with their explanations, the transactions behind them, the officers'
decisions and what the audit trail's classified documents say about the subject. Unknown
subject details stay unknown (the XML marks them so); nothing is invented.
"""

from __future__ import annotations

import math
import re
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import pycountry

from compliance.errors import ComplianceError
from compliance.reports.sar_codes import classifications
from compliance.reports.sar_input import CaseInput, SubjectDetails
from compliance.reports.sar_model import (
    Account,
    Address,
    Identification,
    SarFiling,
    SarParties,
    Subject,
    SuspiciousActivity,
)
from compliance.reports.sar_narrative import case_narrative
from compliance.screening.countries import country_code
from compliance.transactions.rates import RateTable

CONFIRMED = "closed_confirmed"
REFERENCE_CHARS = 25  # PartyIdentificationNumberText
STREET_CHARS = 100  # RawStreetAddress1Text
_ALPHANUMERIC = re.compile(r"[A-Za-z0-9]+")
_DIGITS36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
# Identity documents as FinCEN's identification types.
_DOCUMENT_TYPES = {
    "passport": ("6", None),
    "drivers_license": ("5", None),
    "driver_license": ("5", None),
    "national_id": ("999", "National identity card"),
    "residence_permit": ("999", "Residence permit"),
}


class CaseNotConfirmed(ComplianceError):
    def __init__(self, case_id: str, status: str) -> None:
        super().__init__(
            f"case {case_id} is {status}: only a closed_confirmed case is reported to FinCEN"
        )


def filing_from_case(
    case: CaseInput, parties: SarParties, rates: RateTable, *, filing_date: date
) -> SarFiling:
    """The SAR of a confirmed case; ``CaseNotConfirmed`` for any other."""
    if case.status != CONFIRMED:
        raise CaseNotConfirmed(case.case_id, case.status)
    if not case.exceptions:
        raise ComplianceError(f"case {case.case_id} has no exceptions to report")
    usd = [to_usd(tx.amount, tx.currency, rates) for tx in case.transactions]
    total = sum(usd, Decimal(0))
    activity = SuspiciousActivity(
        from_date=min(_activity_dates(case)),
        to_date=max(_activity_dates(case)),
        amount_usd=math.ceil(total) if usd else None,
        no_amount_involved=not usd,
        classifications=classifications((e.rule_id, case.category) for e in case.exceptions),
    )
    return SarFiling(
        internal_reference=case_reference(case.case_id),
        filing_date=filing_date,
        parties=parties,
        subjects=(subject_of(case),),
        activity=activity,
        narrative=case_narrative(case, total_usd=total),
    )


def to_usd(amount: Decimal, currency: str, rates: RateTable) -> Decimal:
    """``amount`` in US dollars through the rate table's reporting currency."""
    if currency == "USD":
        return amount
    in_reporting = rates.to_reporting(amount, currency)
    if in_reporting is None:
        raise ComplianceError(f"no exchange rate for {currency} in the rate table")
    if rates.reporting_currency == "USD":
        return in_reporting
    usd_rate = rates.rates.get("USD")
    if usd_rate is None:
        raise ComplianceError(
            f"no USD rate in the rate table (reporting in {rates.reporting_currency})"
        )
    return in_reporting / usd_rate


def case_reference(case_id: str) -> str:
    """The case id as FinCEN's internal control number (25 letters or digits): as it is when
    it fits, a UUID in base 36 (25 characters, reversible with ``case_id_of_reference``)."""
    if _ALPHANUMERIC.fullmatch(case_id) and len(case_id) <= REFERENCE_CHARS:
        return case_id
    try:
        number = uuid.UUID(case_id).int
    except ValueError:
        raise ComplianceError(
            f"case id {case_id!r} is neither a UUID nor {REFERENCE_CHARS} letters or digits: "
            "it cannot be the SAR's internal control number"
        ) from None
    digits = ""
    while number:
        number, digit = divmod(number, 36)
        digits = _DIGITS36[digit] + digits
    return digits.rjust(REFERENCE_CHARS, "0")


def case_id_of_reference(reference: str) -> str:
    """The case id behind an internal control number ``case_reference`` made."""
    if len(reference) == REFERENCE_CHARS and reference.isalnum():
        return str(uuid.UUID(int=int(reference, 36)))
    return reference


def _activity_dates(case: CaseInput) -> list[date]:
    moments = [tx.booked_at for tx in case.transactions] or [
        e.raised_at for e in case.exceptions if e.raised_at is not None
    ]
    if not moments and case.opened_at is not None:
        moments = [case.opened_at]
    if not moments:
        raise ComplianceError(
            f"case {case.case_id}: no transaction, exception time or opening time dates the "
            "activity"
        )
    return [_utc(m).date() for m in moments]


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def subject_of(case: CaseInput) -> Subject:
    details = case.subject or SubjectDetails()
    accounts = list(
        dict.fromkeys([*details.accounts, *(t.account for t in case.transactions if t.account)])
    )
    first, middle, last = _names(details)
    return Subject(
        entity=details.kind == "entity",
        last_name=last,
        first_name=first,
        middle_name=middle,
        birth_date=details.date_of_birth,
        sex=details.sex if details.sex in ("F", "M") else None,
        address=_address(details),
        tin=Identification(type_code=details.tin_type, number=details.tin)
        if details.tin and details.tin_type
        else None,
        identifications=_documents(details),
        occupation=details.occupation,
        accounts=tuple(Account(number=a) for a in accounts),
    )


def _names(d: SubjectDetails) -> tuple[str | None, str | None, str | None]:
    """(first, middle, last); an entity's legal name is its "last" name."""
    if d.kind == "entity":
        return None, None, _clean(d.full_name)
    last = _clean(d.surname)
    given = _clean(d.given_names)
    full = _clean(d.full_name)
    if last is None and full is not None:
        *given_parts, surname = full.split(" ")
        last, given = surname, " ".join(given_parts) or None
    if given is None:
        return None, None, last
    first, _, middle = given.partition(" ")
    return first, middle or None, last


def _clean(text: str | None) -> str | None:
    cleaned = " ".join((text or "").split())
    return cleaned or None


def _address(d: SubjectDetails) -> Address | None:
    street = _clean(d.address)
    country = country_alpha2(d.address_country) if d.address_country else None
    if street and country is None:
        country = country_alpha2(street.rsplit(",", 1)[-1])
    if street is None and country is None:
        return None
    if street and len(street) > STREET_CHARS:
        # The whole address is in the narrative; the street line keeps what fits.
        cut = street.rfind(",", 0, STREET_CHARS)
        street = street[: cut if cut > 0 else STREET_CHARS].strip()
    return Address(street=street, country=country)


def _documents(d: SubjectDetails) -> tuple[Identification, ...]:
    if not d.document_number:
        return ()
    code, other = _DOCUMENT_TYPES.get(d.document_type or "", ("999", None))
    if code == "999" and other is None:
        other = (d.document_type or "Identity document").replace("_", " ").capitalize()
    return (
        Identification(
            type_code=code,
            number=d.document_number,
            issuer_country=country_alpha2(d.issuing_state) if d.issuing_state else None,
            other_type_text=other,
        ),
    )


def country_alpha2(text: str) -> str | None:
    """ISO 3166-1 alpha-2 of a country given as alpha-2, ICAO/ISO alpha-3 or its name."""
    value = " ".join(text.split())
    if value.upper() == "D":  # Germany's ICAO code
        return "DE"
    if len(value) == 3 and value.isalpha():
        country = pycountry.countries.get(alpha_3=value.upper())
        if country is not None:
            return str(country.alpha_2)
    return country_code(value) if value else None
