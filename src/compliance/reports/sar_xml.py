"""The FinCEN SAR batch XML of one or more filings (``EFilingBatchXML``, form SARX).

Elements are written in the order FinCEN's schema sequences them; every element that carries
a ``SeqNum`` gets the next number in document order, so the numbers are unique and increasing
across the batch. The batch header counts what the batch holds, as FinCEN's SAR XML user
guide defines them: ``ActivityCount`` the activities, ``PartyCount`` the subject parties (33),
``TotalAmount`` the sum of the activities' total suspicious amounts, and no attachments.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence

from compliance.reports.sar_model import (
    Address,
    Contact,
    Identification,
    Institution,
    Phone,
    SarFiling,
    Subject,
    SuspiciousActivity,
    Transmitter,
)
from compliance.reports.sar_narrative import split_narrative

NAMESPACE = "www.fincen.gov/base"
PREFIX = "fc2"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
SCHEMA_LOCATION = f"{NAMESPACE} https://www.fincen.gov/base/EFL_SARXBatchSchema.xsd"
FORM_TYPE = "SARX"
YES = "Y"

# ActivityPartyTypeCode
TRANSMITTER = "35"
TRANSMITTER_CONTACT = "37"
FILING_INSTITUTION = "30"
CONTACT_OFFICE = "8"
ACTIVITY_INSTITUTION = "34"
SUBJECT = "33"
ACCOUNT_INSTITUTION = "41"
# PartyIdentificationTypeCode
TIN = "4"
TRANSMITTER_CONTROL_CODE = "28"
INTERNAL_CONTROL_NUMBER = "29"
# PartyAccountAssociationTypeCode
ACTIVITY_AFFECTED_ACCOUNT = "7"
ACCOUNT_HELD_AT = "5"
# Countries whose addresses have a state code.
STATE_COUNTRIES = frozenset({"US", "CA", "MX"})

# The leading elements of a Party (PartyType), in the schema's order.
PARTY_HEAD = (
    "ActivityPartyTypeCode",
    "AdmissionConfessionNoIndicator",
    "AdmissionConfessionYesIndicator",
    "AllCriticalSubjectInformationUnavailableIndicator",
    "BirthDateUnknownIndicator",
    "BothPurchaserSenderPayeeReceiveIndicator",
    "ContactDateText",
    "FemaleGenderIndicator",
    "IndividualBirthDateText",
    "LossToFinancialAmountText",
    "MaleGenderIndicator",
    "NoBranchActivityInvolvedIndicator",
    "NoKnownAccountInvolvedIndicator",
    "NonUSFinancialInstitutionIndicator",
    "PartyAsEntityOrganizationIndicator",
    "PayeeReceiverIndicator",
    "PayLocationIndicator",
    "PrimaryRegulatorTypeCode",
    "PurchaserSenderIndicator",
    "SellingLocationIndicator",
    "SellingPayingLocationIndicator",
    "UnknownGenderIndicator",
)
_UNFORMATTED = re.compile(r"[\s\-./]")


def unformatted(number: str) -> str:
    """Identification, account and phone numbers go without spaces, hyphens, dots or slashes."""
    return _UNFORMATTED.sub("", number)


class _Writer:
    """Makes elements in document order, numbering those that carry a SeqNum."""

    def __init__(self) -> None:
        self._seq = 0

    def node(self, parent: ET.Element, tag: str) -> ET.Element:
        self._seq += 1
        return ET.SubElement(parent, _q(tag), SeqNum=str(self._seq))

    def root(self, tag: str) -> ET.Element:
        return ET.Element(_q(tag))


def _q(tag: str) -> str:
    return f"{{{NAMESPACE}}}{tag}"


def _text(parent: ET.Element, tag: str, value: str | None) -> None:
    if value is not None:
        ET.SubElement(parent, _q(tag)).text = value


def _flag(parent: ET.Element, tag: str, on: bool) -> None:
    if on:
        _text(parent, tag, YES)


def sar_xml(filing: SarFiling) -> bytes:
    """The batch XML of one filing."""
    return sar_batch_xml([filing])


def sar_batch_xml(filings: Sequence[SarFiling]) -> bytes:
    """The batch XML of the filings, one ``Activity`` each, UTF-8 with its declaration."""
    if not filings:
        raise ValueError("a SAR batch holds at least one filing")
    w = _Writer()
    root = w.root("EFilingBatchXML")
    root.set(f"{{{XSI}}}schemaLocation", SCHEMA_LOCATION)
    root.set("ActivityCount", str(len(filings)))
    root.set("TotalAmount", str(sum(f.activity.amount_usd or 0 for f in filings)))
    root.set("PartyCount", str(sum(len(f.subjects) for f in filings)))
    root.set("ActivityAttachmentCount", "0")
    root.set("AttachmentCount", "0")
    _text(root, "FormTypeCode", FORM_TYPE)
    for filing in filings:
        _activity(w, root, filing)
    ET.register_namespace(PREFIX, NAMESPACE)
    ET.register_namespace("xsi", XSI)
    ET.indent(root)  # between elements only: no value gains a space
    body: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return body


def _activity(w: _Writer, root: ET.Element, filing: SarFiling) -> None:
    parties = filing.parties
    activity = w.node(root, "Activity")
    _text(activity, "FilingDateText", filing.filing_date.strftime("%Y%m%d"))
    _text(activity, "FilingInstitutionNotetoFinCEN", parties.note_to_fincen)
    association = w.node(activity, "ActivityAssociation")
    _text(association, "InitialReportIndicator", YES)
    _transmitter(w, activity, parties.transmitter)
    _contact(w, activity, TRANSMITTER_CONTACT, parties.transmitter_contact)
    _institution(
        w,
        activity,
        FILING_INSTITUTION,
        parties.filing_institution,
        internal_reference=filing.internal_reference,
    )
    _contact(w, activity, CONTACT_OFFICE, parties.contact_office)
    _institution(w, activity, ACTIVITY_INSTITUTION, filing.activity_institution)
    for subject in filing.subjects:
        _subject(w, activity, subject, filing)
    _suspicious_activity(w, activity, filing.activity)
    for number, block in enumerate(split_narrative(filing.narrative), start=1):
        narrative = w.node(activity, "ActivityNarrativeInformation")
        _text(narrative, "ActivityNarrativeSequenceNumber", str(number))
        _text(narrative, "ActivityNarrativeText", block)


def _party(w: _Writer, parent: ET.Element, head: Mapping[str, str | None]) -> ET.Element:
    unknown = set(head) - set(PARTY_HEAD)
    if unknown:
        raise ValueError(f"not a Party element: {sorted(unknown)}")
    party = w.node(parent, "Party")
    for tag in PARTY_HEAD:
        _text(party, tag, head.get(tag))
    return party


def _name(w: _Writer, party: ET.Element, full_name: str, code: str = "L") -> None:
    name = w.node(party, "PartyName")
    _text(name, "PartyNameTypeCode", code)
    _text(name, "RawPartyFullName", full_name)


def _address(w: _Writer, party: ET.Element, address: Address | None) -> None:
    a = address or Address()
    element = w.node(party, "Address")
    state_applies = a.country is None or a.country in STATE_COUNTRIES
    _flag(element, "CityUnknownIndicator", a.city is None)
    _flag(element, "CountryCodeUnknownIndicator", a.country is None)
    _text(element, "RawCityText", a.city)
    _text(element, "RawCountryCodeText", a.country)
    _text(element, "RawStateCodeText", a.state)
    _text(element, "RawStreetAddress1Text", a.street)
    _text(element, "RawZIPCode", a.zip_code and unformatted(a.zip_code))
    _flag(element, "StateCodeUnknownIndicator", a.state is None and state_applies)
    _flag(element, "StreetAddressUnknownIndicator", a.street is None)
    _flag(element, "ZIPCodeUnknownIndicator", a.zip_code is None)


def _phone(w: _Writer, party: ET.Element, phone: Phone) -> None:
    element = w.node(party, "PhoneNumber")
    _text(element, "PhoneNumberExtensionText", phone.extension)
    _text(element, "PhoneNumberText", unformatted(phone.number))


def _identification(w: _Writer, party: ET.Element, ident: Identification) -> None:
    element = w.node(party, "PartyIdentification")
    _text(element, "OtherIssuerCountryText", ident.issuer_country)
    _text(element, "OtherIssuerStateText", ident.issuer_state)
    _text(element, "OtherPartyIdentificationTypeText", ident.other_type_text)
    _text(element, "PartyIdentificationNumberText", unformatted(ident.number))
    _text(element, "PartyIdentificationTypeCode", ident.type_code)


def _transmitter(w: _Writer, activity: ET.Element, t: Transmitter) -> None:
    party = _party(w, activity, {"ActivityPartyTypeCode": TRANSMITTER})
    _name(w, party, t.legal_name)
    _address(w, party, t.address)
    _phone(w, party, t.phone)
    _identification(w, party, Identification(type_code=TIN, number=t.tin))
    _identification(
        w, party, Identification(type_code=TRANSMITTER_CONTROL_CODE, number=t.control_code)
    )


def _contact(w: _Writer, activity: ET.Element, code: str, contact: Contact) -> None:
    party = _party(w, activity, {"ActivityPartyTypeCode": code})
    _name(w, party, contact.name)
    if contact.phone is not None:
        _phone(w, party, contact.phone)


def _institution(
    w: _Writer,
    activity: ET.Element,
    code: str,
    institution: Institution,
    *,
    internal_reference: str | None = None,
) -> None:
    head = {
        "ActivityPartyTypeCode": code,
        "PrimaryRegulatorTypeCode": institution.primary_regulator,
    }
    if code == ACTIVITY_INSTITUTION:
        head["NoBranchActivityInvolvedIndicator"] = YES
    party = _party(w, activity, head)
    _name(w, party, institution.legal_name)
    if institution.dba_name:
        _name(w, party, institution.dba_name, "DBA")
    _address(w, party, institution.address)
    _identification(w, party, institution.tin)
    for ident in institution.other_ids:
        _identification(w, party, ident)
    if internal_reference is not None:
        _identification(
            w, party, Identification(type_code=INTERNAL_CONTROL_NUMBER, number=internal_reference)
        )
    classification = w.node(party, "OrganizationClassificationTypeSubtype")
    _text(classification, "OrganizationTypeID", institution.organization_type)
    _text(classification, "OtherOrganizationTypeText", institution.organization_type_other)


def _critical_information_unavailable(s: Subject) -> bool:
    return (
        s.last_name is None
        and s.first_name is None
        and s.birth_date is None
        and s.address is None
        and s.tin is None
        and not s.identifications
    )


def _subject(w: _Writer, activity: ET.Element, s: Subject, filing: SarFiling) -> None:
    unavailable = _critical_information_unavailable(s)
    individual = not s.entity
    head: dict[str, str | None] = {"ActivityPartyTypeCode": SUBJECT}
    if unavailable:
        head["AllCriticalSubjectInformationUnavailableIndicator"] = YES
    if individual and not unavailable:
        if s.birth_date is None:
            head["BirthDateUnknownIndicator"] = YES
        else:
            head["IndividualBirthDateText"] = s.birth_date.strftime("%Y%m%d")
    if individual:
        gender = {"F": "FemaleGenderIndicator", "M": "MaleGenderIndicator"}
        head[gender.get(s.sex or "", "UnknownGenderIndicator")] = YES
    if not s.accounts:
        head["NoKnownAccountInvolvedIndicator"] = YES
    if s.entity:
        head["PartyAsEntityOrganizationIndicator"] = YES
    party = _party(w, activity, head)
    if not unavailable:
        _subject_name(w, party, s)
        _address(w, party, s.address)
        _subject_identifications(w, party, s)
    if s.occupation:
        occupation = w.node(party, "PartyOccupationBusiness")
        _text(occupation, "OccupationBusinessText", s.occupation)
    relation = w.node(party, "PartyAssociation")
    if s.customer:
        _text(relation, "CustomerIndicator", YES)
    else:
        _text(relation, "NoRelationshipToInstitutionIndicator", YES)
    _text(
        relation,
        "SubjectRelationshipFinancialInstitutionTINText",
        unformatted(filing.activity_institution.tin.number),
    )
    if s.accounts:
        _accounts(w, party, s, filing.activity_institution)


def _subject_name(w: _Writer, party: ET.Element, s: Subject) -> None:
    name = w.node(party, "PartyName")
    _flag(name, "EntityLastNameUnknownIndicator", s.last_name is None)
    _flag(name, "FirstNameUnknownIndicator", not s.entity and s.first_name is None)
    _text(name, "PartyNameTypeCode", "L")
    _text(name, "RawEntityIndividualLastName", s.last_name)
    if not s.entity:
        _text(name, "RawIndividualFirstName", s.first_name)
        _text(name, "RawIndividualMiddleName", s.middle_name)


def _subject_identifications(w: _Writer, party: ET.Element, s: Subject) -> None:
    if s.tin is None:
        unknown = w.node(party, "PartyIdentification")
        _text(unknown, "TINUnknownIndicator", YES)
    else:
        _identification(w, party, s.tin)
    for ident in s.identifications:
        _identification(w, party, ident)
    if not s.identifications and not s.entity:
        unknown = w.node(party, "PartyIdentification")
        _text(unknown, "IdentificationPresentUnknownIndicator", YES)


def _accounts(w: _Writer, party: ET.Element, s: Subject, held_at: Institution) -> None:
    association = w.node(party, "PartyAccountAssociation")
    _text(association, "PartyAccountAssociationTypeCode", ACTIVITY_AFFECTED_ACCOUNT)
    institution = w.node(association, "Party")
    _text(institution, "ActivityPartyTypeCode", ACCOUNT_INSTITUTION)
    _identification(w, institution, held_at.tin)
    for account in s.accounts:
        element = w.node(institution, "Account")
        _text(element, "AccountNumberText", unformatted(account.number))
        held = w.node(element, "PartyAccountAssociation")
        _flag(held, "AccountClosedIndicator", account.closed)
        _text(held, "PartyAccountAssociationTypeCode", ACCOUNT_HELD_AT)


def _suspicious_activity(w: _Writer, activity: ET.Element, a: SuspiciousActivity) -> None:
    element = w.node(activity, "SuspiciousActivity")
    _flag(element, "AmountUnknownIndicator", a.amount_usd is None and not a.no_amount_involved)
    _flag(element, "NoAmountInvolvedIndicator", a.no_amount_involved)
    _text(element, "SuspiciousActivityFromDateText", a.from_date.strftime("%Y%m%d"))
    _text(element, "SuspiciousActivityToDateText", a.to_date.strftime("%Y%m%d"))
    if a.amount_usd is not None:
        _text(element, "TotalSuspiciousAmountText", str(a.amount_usd))
    for c in a.classifications:
        classification = w.node(element, "SuspiciousActivityClassification")
        _text(classification, "OtherSuspiciousActivityTypeText", c.other_text)
        _text(classification, "SuspiciousActivitySubtypeID", str(c.subtype_id))
        _text(classification, "SuspiciousActivityTypeID", str(c.type_id))
