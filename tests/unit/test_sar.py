"""The FinCEN SAR export: confirmed cases become batch XML that FinCEN's own schema (XSD 1.1,
read by xmlschema) accepts, and whatever the schema or FinCEN's counting rules refuse is
rejected with the element named.

The parties are the shipped example configuration (config/sar.yaml); the rates the bundled
table (EUR-based). The schema is parsed once for the module."""

from __future__ import annotations

import tomllib
import xml.etree.ElementTree as ET
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from compliance.errors import ComplianceError, ConfigurationError
from compliance.reports.sar_case import (
    CaseNotConfirmed,
    case_id_of_reference,
    case_reference,
    country_alpha2,
    filing_from_case,
    to_usd,
)
from compliance.reports.sar_config import load_sar_parties
from compliance.reports.sar_input import CaseInput
from compliance.reports.sar_model import Account, Identification, SarFiling, SarParties
from compliance.reports.sar_narrative import (
    BLOCK_CHARS,
    MAX_CHARS,
    NarrativeTooLong,
    split_narrative,
)
from compliance.reports.sar_schema import SarInvalid, sar_schema, validate_sar
from compliance.reports.sar_xml import NAMESPACE, sar_batch_xml, sar_xml
from compliance.transactions.rates import RateTable, load_rates

ROOT = Path(__file__).resolve().parents[2]
NS = {"f": NAMESPACE}
FILED = date(2026, 3, 20)
CASE_UUID = "6f1c2a4e-8a57-5b7e-9d3c-1f2e3d4c5b6a"


@pytest.fixture(scope="module", autouse=True)
def schema_loaded_once() -> None:
    sar_schema()  # parsing FinCEN's XSD takes a moment: once for the module


@pytest.fixture(scope="module")
def parties() -> SarParties:
    return load_sar_parties(ROOT / "config" / "sar.yaml")


@pytest.fixture(scope="module")
def rates() -> RateTable:
    return load_rates(ROOT / "rules" / "transactions" / "rates.yaml")


def structuring_case(**changes: Any) -> CaseInput:
    case: dict[str, Any] = {
        "case_id": CASE_UUID,
        "customer_id": "C-1001",
        "category": "transaction_monitoring",
        "status": "closed_confirmed",
        "closed_at": "2026-03-12T16:00:00Z",
        "exceptions": [
            {
                "rule_id": "tx.structuring",
                "kind": "transaction_alert",
                "severity": "high",
                "reason": "4 cash deposits between 9,000 and 9,999 USD within 7d, each under "
                "the 10,000 reporting threshold",
                "details": {"window": "7d", "count": "4"},
                "raised_at": "2026-03-05T09:00:00Z",
            }
        ],
        "transactions": [
            {
                "transaction_id": f"t{n}",
                "account": "US-CHK-0042-7",
                "booked_at": f"2026-03-0{n}T15:30:00Z",
                "amount": amount,
                "currency": "USD",
                "direction": "in",
                "counterparty_name": "Cash deposit, branch 12",
            }
            for n, amount in ((1, "9500.00"), (2, "9800.50"), (3, "9900.00"), (4, "9400.25"))
        ],
        "decisions": [
            {"actor": "analyst.kim", "action": "start_review", "at": "2026-03-06T08:00:00Z"},
            {
                "actor": "analyst.kim",
                "action": "resolve",
                "at": "2026-03-11T10:00:00Z",
                "comment": "Deposits split to stay under the CTR threshold; customer gave no "
                "reason.",
            },
            {"actor": "supervisor.ode", "action": "approve", "at": "2026-03-12T16:00:00Z"},
        ],
        "subject": {
            "full_name": "Jane Marie Roe",
            "surname": "Roe",
            "given_names": "Jane Marie",
            "date_of_birth": "1980-10-25",
            "sex": "F",
            "document_type": "passport",
            "document_number": "P1234567",
            "issuing_state": "USA",
            "nationality": "USA",
            "address": "12 Example Lane, Exampleville, VA 22000",
            "address_country": "US",
        },
    }
    case.update(changes)
    return CaseInput.model_validate(case)


def sanctions_case(**changes: Any) -> CaseInput:
    case: dict[str, Any] = {
        "case_id": "case0042",
        "customer_id": "B-77",
        "category": "sanctions",
        "status": "closed_confirmed",
        "exceptions": [
            {
                "rule_id": "tx.sanctioned-counterparty",
                "kind": "transaction_alert",
                "severity": "critical",
                "reason": "counterparty 'Korea Kwangson Banking Corp' matches the OFAC SDN "
                "entry KOREA KWANGSON BANKING CORP (score 100)",
                "details": {"list": "OFAC SDN", "program": "NPWMD"},
                "raised_at": "2026-02-27T12:00:00Z",
            }
        ],
        "transactions": [
            {
                "booked_at": "2026-02-27T11:58:00+01:00",
                "amount": "25000",
                "currency": "GBP",
                "direction": "out",
                "account": "GB29NWBK60161331926819",
                "counterparty_name": "Korea Kwangson Banking Corp",
                "counterparty_account": "KP00KKBC0001",
                "counterparty_country": "KP",
            }
        ],
        "decisions": [
            {"actor": "analyst.lee", "action": "escalate", "at": "2026-02-27T13:00:00Z"},
            {"actor": "supervisor.ode", "action": "approve", "at": "2026-02-28T09:00:00Z"},
        ],
        "subject": {
            "kind": "entity",
            "full_name": "Northwind Trading Example Ltd",
            "address": "1 Harbour Road, London, United Kingdom",
            "tin": "GB-123 456 789",
            "tin_type": "9",
        },
    }
    case.update(changes)
    return CaseInput.model_validate(case)


def parsed(xml: bytes) -> ET.Element:
    return ET.fromstring(xml)


def subject_party(root: ET.Element) -> ET.Element:
    parties = [
        p
        for p in root.iterfind("f:Activity/f:Party", NS)
        if p.findtext("f:ActivityPartyTypeCode", namespaces=NS) == "33"
    ]
    assert len(parties) == 1
    return parties[0]


def classification_codes(root: ET.Element) -> list[tuple[str, str, str | None]]:
    return [
        (
            c.findtext("f:SuspiciousActivityTypeID", namespaces=NS) or "",
            c.findtext("f:SuspiciousActivitySubtypeID", namespaces=NS) or "",
            c.findtext("f:OtherSuspiciousActivityTypeText", namespaces=NS),
        )
        for c in root.iterfind(".//f:SuspiciousActivityClassification", NS)
    ]


def filing(case: CaseInput, parties: SarParties, rates: RateTable) -> SarFiling:
    return filing_from_case(case, parties, rates, filing_date=FILED)


# ---- valid filings --------------------------------------------------------------------------


def test_an_individual_structuring_case_is_a_valid_sar_with_structuring_codes(
    parties: SarParties, rates: RateTable
) -> None:
    xml = sar_xml(filing(structuring_case(), parties, rates))
    validate_sar(xml)
    root = parsed(xml)
    assert classification_codes(root) == [("1", "114", None)]
    subject = subject_party(root)
    assert subject.findtext("f:IndividualBirthDateText", namespaces=NS) == "19801025"
    assert subject.findtext("f:FemaleGenderIndicator", namespaces=NS) == "Y"
    name = subject.find("f:PartyName", NS)
    assert name is not None
    assert name.findtext("f:RawEntityIndividualLastName", namespaces=NS) == "Roe"
    assert name.findtext("f:RawIndividualFirstName", namespaces=NS) == "Jane"
    assert name.findtext("f:RawIndividualMiddleName", namespaces=NS) == "Marie"
    passport = [
        i
        for i in subject.iterfind("f:PartyIdentification", NS)
        if i.findtext("f:PartyIdentificationTypeCode", namespaces=NS) == "6"
    ]
    assert [p.findtext("f:PartyIdentificationNumberText", namespaces=NS) for p in passport] == [
        "P1234567"
    ]
    assert passport[0].findtext("f:OtherIssuerCountryText", namespaces=NS) == "US"
    accounts = [a.text for a in subject.iterfind(".//f:Account/f:AccountNumberText", NS)]
    assert accounts == ["USCHK00427"]  # FinCEN takes account numbers unformatted


def test_an_entity_sanctions_case_is_a_valid_sar_marked_as_an_entity(
    parties: SarParties, rates: RateTable
) -> None:
    xml = sar_xml(filing(sanctions_case(), parties, rates))
    validate_sar(xml)
    root = parsed(xml)
    assert classification_codes(root) == [("9", "9999", "Sanctions list match")]
    subject = subject_party(root)
    assert subject.findtext("f:PartyAsEntityOrganizationIndicator", namespaces=NS) == "Y"
    # An entity has no birth date or gender to be unknown.
    for tag in ("BirthDateUnknownIndicator", "UnknownGenderIndicator", "IndividualBirthDateText"):
        assert subject.find(f"f:{tag}", NS) is None
    name = subject.find("f:PartyName", NS)
    assert name is not None
    assert name.findtext("f:RawEntityIndividualLastName", namespaces=NS) == (
        "Northwind Trading Example Ltd"
    )
    assert name.find("f:RawIndividualFirstName", NS) is None
    tins = [
        (
            i.findtext("f:PartyIdentificationTypeCode", namespaces=NS),
            i.findtext("f:PartyIdentificationNumberText", namespaces=NS),
        )
        for i in subject.iterfind("f:PartyIdentification", NS)
    ]
    assert tins == [("9", "GB123456789")]
    address = subject.find("f:Address", NS)
    assert address is not None
    assert address.findtext("f:RawCountryCodeText", namespaces=NS) == "GB"
    # Abroad, a state does not apply: it is not marked unknown either.
    assert address.find("f:StateCodeUnknownIndicator", NS) is None


def test_every_required_party_is_written_once_with_the_case_as_internal_reference(
    parties: SarParties, rates: RateTable
) -> None:
    root = parsed(sar_xml(filing(structuring_case(), parties, rates)))
    codes = [
        p.findtext("f:ActivityPartyTypeCode", namespaces=NS)
        for p in root.iterfind("f:Activity/f:Party", NS)
    ]
    assert codes == ["35", "37", "30", "8", "34", "33"]
    filer = root.find("f:Activity/f:Party[f:ActivityPartyTypeCode='30']", NS)
    assert filer is not None
    internal = [
        i.findtext("f:PartyIdentificationNumberText", namespaces=NS)
        for i in filer.iterfind("f:PartyIdentification", NS)
        if i.findtext("f:PartyIdentificationTypeCode", namespaces=NS) == "29"
    ]
    assert len(internal) == 1 and internal[0] is not None
    assert case_id_of_reference(internal[0]) == CASE_UUID


def test_unknown_subject_details_are_marked_unknown_not_invented(
    parties: SarParties, rates: RateTable
) -> None:
    case = structuring_case(subject={"full_name": "Sam Doe"})
    xml = sar_xml(filing(case, parties, rates))
    validate_sar(xml)
    subject = subject_party(parsed(xml))
    for tag in ("BirthDateUnknownIndicator", "UnknownGenderIndicator"):
        assert subject.findtext(f"f:{tag}", namespaces=NS) == "Y"
    assert subject.findtext(".//f:TINUnknownIndicator", namespaces=NS) == "Y"
    assert subject.findtext(".//f:IdentificationPresentUnknownIndicator", namespaces=NS) == "Y"
    address = subject.find("f:Address", NS)
    assert address is not None
    for tag in ("City", "CountryCode", "StateCode", "StreetAddress", "ZIPCode"):
        assert address.findtext(f"f:{tag}UnknownIndicator", namespaces=NS) == "Y"
    assert subject.find("f:IndividualBirthDateText", NS) is None


def test_a_subject_known_by_nothing_is_declared_all_critical_information_unavailable(
    parties: SarParties, rates: RateTable
) -> None:
    case = structuring_case(subject=None, transactions=[])
    xml = sar_xml(filing(case, parties, rates))
    validate_sar(xml)
    subject = subject_party(parsed(xml))
    assert (
        subject.findtext("f:AllCriticalSubjectInformationUnavailableIndicator", namespaces=NS)
        == "Y"
    )
    assert subject.find("f:PartyName", NS) is None
    assert subject.findtext("f:NoKnownAccountInvolvedIndicator", namespaces=NS) == "Y"


# ---- amounts, dates, counts, SeqNums --------------------------------------------------------


def test_the_total_is_the_sum_in_whole_dollars_rounded_up_and_dates_span_the_bookings(
    parties: SarParties, rates: RateTable
) -> None:
    root = parsed(sar_xml(filing(structuring_case(), parties, rates)))
    activity = root.find("f:Activity/f:SuspiciousActivity", NS)
    assert activity is not None
    # 9500.00 + 9800.50 + 9900.00 + 9400.25 = 38600.75 -> 38601
    assert activity.findtext("f:TotalSuspiciousAmountText", namespaces=NS) == "38601"
    assert activity.findtext("f:SuspiciousActivityFromDateText", namespaces=NS) == "20260301"
    assert activity.findtext("f:SuspiciousActivityToDateText", namespaces=NS) == "20260304"
    assert root.get("TotalAmount") == "38601"
    assert root.findtext("f:Activity/f:FilingDateText", namespaces=NS) == "20260320"


def test_foreign_currency_is_converted_to_dollars_through_the_rate_table(
    parties: SarParties, rates: RateTable
) -> None:
    # rates.yaml: 1 GBP = 1.1720 EUR, 1 USD = 0.8660 EUR
    expected = Decimal("25000") * Decimal("1.1720") / Decimal("0.8660")
    assert to_usd(Decimal("25000"), "GBP", rates) == expected
    root = parsed(sar_xml(filing(sanctions_case(), parties, rates)))
    total = root.findtext(".//f:TotalSuspiciousAmountText", namespaces=NS)
    assert total == "33834"  # 33833.72... rounded up
    # Booked 11:58 at +01:00: the 27th in UTC as well.
    assert root.findtext(".//f:SuspiciousActivityFromDateText", namespaces=NS) == "20260227"


def test_a_currency_without_a_rate_is_refused_rather_than_guessed(
    parties: SarParties, rates: RateTable
) -> None:
    case = sanctions_case()
    odd = case.transactions[0].model_copy(update={"currency": "XAU"})
    with pytest.raises(ComplianceError, match="no exchange rate for XAU"):
        filing(case.model_copy(update={"transactions": [odd]}), parties, rates)


def test_a_case_without_transactions_reports_no_amount_involved_dated_by_its_alerts(
    parties: SarParties, rates: RateTable
) -> None:
    case = structuring_case(
        category="kyc",
        transactions=[],
        exceptions=[
            {
                "rule_id": "identity.mrz-check-digits",
                "kind": "check_failed",
                "severity": "high",
                "reason": "the MRZ check digits do not match the printed document number",
                "raised_at": "2026-01-10T08:00:00Z",
            },
            {
                "rule_id": "address.consistent",
                "kind": "check_failed",
                "severity": "medium",
                "reason": "the address differs from the one on the proof of address",
                "raised_at": "2026-01-12T08:00:00Z",
            },
        ],
    )
    xml = sar_xml(filing(case, parties, rates))
    validate_sar(xml)
    root = parsed(xml)
    activity = root.find(".//f:SuspiciousActivity", NS)
    assert activity is not None
    assert activity.findtext("f:NoAmountInvolvedIndicator", namespaces=NS) == "Y"
    assert activity.find("f:TotalSuspiciousAmountText", NS) is None
    assert activity.findtext("f:SuspiciousActivityFromDateText", namespaces=NS) == "20260110"
    assert activity.findtext("f:SuspiciousActivityToDateText", namespaces=NS) == "20260112"
    assert classification_codes(root) == [("4", "409", None), ("4", "403", None)]
    assert root.get("TotalAmount") == "0"


def test_seqnums_are_unique_and_increase_in_document_order(
    parties: SarParties, rates: RateTable
) -> None:
    xml = sar_batch_xml(
        [filing(structuring_case(), parties, rates), filing(sanctions_case(), parties, rates)]
    )
    numbers = [int(e.get("SeqNum", "")) for e in parsed(xml).iter() if e.get("SeqNum")]
    assert numbers == list(range(1, len(numbers) + 1))


def test_a_batch_header_counts_activities_subjects_and_the_total_amount(
    parties: SarParties, rates: RateTable
) -> None:
    xml = sar_batch_xml(
        [filing(structuring_case(), parties, rates), filing(sanctions_case(), parties, rates)]
    )
    validate_sar(xml)
    root = parsed(xml)
    assert root.get("ActivityCount") == "2"
    assert root.get("PartyCount") == "2"  # one subject each
    assert root.get("TotalAmount") == str(38601 + 33834)
    assert root.get("ActivityAttachmentCount") == root.get("AttachmentCount") == "0"


# ---- activity codes -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule_id", "expected"),
    [
        ("tx.structuring", ("1", "114", None)),
        ("tx.fan-in", ("8", "824", None)),
        ("tx.fan-out", ("8", "807", None)),
        ("tx.rapid-movement", ("8", "8999", "Rapid movement of funds")),
        ("tx.velocity", ("8", "812", None)),
        ("tx.jurisdiction-call-for-action", ("9", "928", None)),
        ("aml.sanctions-name-screen", ("9", "9999", "Sanctions list match")),
        ("identity.not-expired", ("4", "409", None)),
        ("tx.some-future-rule", ("8", "8999", "Transaction monitoring alert")),
    ],
)
def test_rules_map_to_fincen_activity_codes_and_the_filing_is_valid(
    rule_id: str, expected: tuple[str, str, str | None], parties: SarParties, rates: RateTable
) -> None:
    exception = structuring_case().exceptions[0].model_copy(update={"rule_id": rule_id})
    xml = sar_xml(filing(structuring_case(exceptions=[exception.model_dump()]), parties, rates))
    validate_sar(xml)
    assert classification_codes(parsed(xml)) == [expected]


def test_a_subtype_is_written_once_however_many_alerts_share_it(
    parties: SarParties, rates: RateTable
) -> None:
    base = structuring_case().exceptions[0]
    exceptions = [
        base.model_copy(update={"rule_id": r}).model_dump()
        for r in ("tx.velocity", "tx.large-single-amount", "tx.structuring", "tx.velocity")
    ]
    xml = sar_xml(filing(structuring_case(exceptions=exceptions), parties, rates))
    validate_sar(xml)
    assert classification_codes(parsed(xml)) == [("8", "812", None), ("1", "114", None)]


# ---- the narrative --------------------------------------------------------------------------


def test_the_narrative_carries_the_rules_explanations_transactions_and_decisions(
    parties: SarParties, rates: RateTable
) -> None:
    text = filing(structuring_case(), parties, rates).narrative
    assert CASE_UUID in text
    assert "tx.structuring (high): 4 cash deposits between 9,000 and 9,999 USD" in text
    assert "count: 4; window: 7d" in text
    assert "2026-03-02 15:30 UTC credit of USD 9,800.50 on account US-CHK-0042-7" in text
    assert "USD 38,600.75 in total" in text
    assert "analyst.kim resolve: Deposits split to stay under the CTR threshold" in text
    assert "supervisor.ode approve" in text
    assert "confirmed as suspicious on 2026-03-12" in text


def test_a_narrative_is_split_into_blocks_at_line_ends_and_rejoins_exactly() -> None:
    lines = [f"line {n:04d} " + "x" * 90 for n in range(95)]  # 95 lines of 100 characters
    text = "\n".join(lines)
    blocks = split_narrative(text)
    assert len(blocks) == 3
    assert all(len(b) <= BLOCK_CHARS for b in blocks)
    assert "".join(blocks) == text
    assert all(b.endswith("\n") for b in blocks[:-1])


def test_the_fifth_block_ends_at_character_17000_and_longer_is_refused() -> None:
    text = "x" * MAX_CHARS  # no place to cut: blocks end at their limits
    blocks = split_narrative(text)
    assert [len(b) for b in blocks] == [4000, 4000, 4000, 4000, 1000]
    with pytest.raises(NarrativeTooLong, match="17001 characters"):
        split_narrative(text + "x")


def test_a_long_case_lists_what_fits_and_sums_up_the_rest_in_five_blocks(
    parties: SarParties, rates: RateTable
) -> None:
    many = [
        {
            "booked_at": f"2026-03-{1 + n // 100:02d}T{n % 24:02d}:00:00Z",
            "amount": "120.00",
            "currency": "USD",
            "direction": "out",
            "account": "US-CHK-0042-7",
            "counterparty_name": f"Recipient number {n}",
            "counterparty_account": f"ACCT{n:06d}",
        }
        for n in range(1500)
    ]
    f = filing(structuring_case(transactions=many), parties, rates)
    assert len(f.narrative) <= MAX_CHARS
    assert "further transaction(s)" in f.narrative
    assert "1500 between 2026-03-01 and 2026-03-15" in f.narrative
    xml = sar_xml(f)
    validate_sar(xml)
    numbers = [e.text for e in parsed(xml).iterfind(".//f:ActivityNarrativeSequenceNumber", NS)]
    assert numbers == ["1", "2", "3", "4", "5"]
    texts = [e.text or "" for e in parsed(xml).iterfind(".//f:ActivityNarrativeText", NS)]
    assert "".join(texts) == f.narrative
    assert parsed(xml).findtext(".//f:TotalSuspiciousAmountText", namespaces=NS) == "180000"


# ---- what is refused ------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["open", "in_review", "escalated", "closed_cleared"])
def test_a_case_that_is_not_closed_confirmed_is_refused(
    status: str, parties: SarParties, rates: RateTable
) -> None:
    with pytest.raises(CaseNotConfirmed, match=f"is {status}: only a closed_confirmed case"):
        filing(structuring_case(status=status), parties, rates)


def test_a_filing_without_the_subject_party_is_rejected_naming_the_activity(
    parties: SarParties, rates: RateTable
) -> None:
    good = filing(structuring_case(), parties, rates)
    with pytest.raises(SarInvalid) as caught:
        validate_sar(sar_xml(good.model_copy(update={"subjects": ()})))
    assert "/fc2:EFilingBatchXML/fc2:Activity" in str(caught.value)
    assert "fc2:Party" in str(caught.value) and "minimum is 6" in str(caught.value)


def test_six_parties_without_a_subject_are_rejected_by_fincens_party_rules(
    parties: SarParties, rates: RateTable
) -> None:
    xml = sar_xml(filing(structuring_case(), parties, rates))
    # Turn the subject into a second institution: the schema's counts still hold.
    xml = xml.replace(
        b"<fc2:ActivityPartyTypeCode>33</fc2:ActivityPartyTypeCode>",
        b"<fc2:ActivityPartyTypeCode>34</fc2:ActivityPartyTypeCode>",
    ).replace(b'PartyCount="1"', b'PartyCount="0"')
    with pytest.raises(SarInvalid) as caught:
        validate_sar(xml)
    assert caught.value.problems == [
        ("/fc2:EFilingBatchXML/fc2:Activity[1]", "needs a subject party (33), has none")
    ]


def test_an_over_long_name_is_rejected_naming_the_element(
    parties: SarParties, rates: RateTable
) -> None:
    good = filing(sanctions_case(), parties, rates)
    long_name = good.subjects[0].model_copy(update={"last_name": "N" * 151})
    with pytest.raises(SarInvalid) as caught:
        validate_sar(sar_xml(good.model_copy(update={"subjects": (long_name,)})))
    where, what = caught.value.problems[0]
    assert where.endswith("fc2:Party[6]/fc2:PartyName/fc2:RawEntityIndividualLastName")
    assert "length cannot be greater than 150" in what


def test_a_birth_date_before_1900_is_rejected_naming_the_element(
    parties: SarParties, rates: RateTable
) -> None:
    good = filing(structuring_case(), parties, rates)
    old = good.subjects[0].model_copy(update={"birth_date": date(1899, 12, 31)})
    with pytest.raises(SarInvalid) as caught:
        validate_sar(sar_xml(good.model_copy(update={"subjects": (old,)})))
    assert caught.value.problems[0][0].endswith("fc2:Party[6]/fc2:IndividualBirthDateText")


def test_a_header_that_miscounts_is_rejected_naming_the_attribute(
    parties: SarParties, rates: RateTable
) -> None:
    xml = sar_xml(filing(structuring_case(), parties, rates))
    with pytest.raises(SarInvalid, match=r"@TotalAmount: says '1', the batch holds 38601"):
        validate_sar(xml.replace(b'TotalAmount="38601"', b'TotalAmount="1"'))


def test_text_that_is_not_xml_is_rejected_clearly() -> None:
    with pytest.raises(SarInvalid, match="not well-formed XML"):
        validate_sar(b"<fc2:EFilingBatchXML")


def test_an_error_lists_the_first_problems_and_counts_the_rest(
    parties: SarParties, rates: RateTable
) -> None:
    good = filing(structuring_case(), parties, rates)
    bad_parties = good.parties.model_copy(
        update={
            "transmitter_contact": good.parties.transmitter_contact.model_copy(
                update={"name": "C" * 151}
            ),
            "contact_office": good.parties.contact_office.model_copy(update={"name": "O" * 151}),
        }
    )
    with pytest.raises(SarInvalid) as caught:
        validate_sar(sar_xml(good.model_copy(update={"parties": bad_parties})))
    message = str(caught.value)
    assert "fc2:Party[2]/fc2:PartyName/fc2:RawPartyFullName" in message
    assert "fc2:Party[4]/fc2:PartyName/fc2:RawPartyFullName" in message


# ---- configuration and references -----------------------------------------------------------


def test_the_shipped_configuration_is_fictitious_and_complete(parties: SarParties) -> None:
    assert "Example" in parties.filing_institution.legal_name
    assert "Example" in parties.transmitter.legal_name
    assert parties.contact_office.phone is not None
    assert parties.contact_office.phone.number.startswith("703555")


def test_a_configuration_with_a_misspelt_field_is_refused_naming_it(tmp_path: Path) -> None:
    text = (ROOT / "config" / "sar.yaml").read_text().replace("legal_name:", "legalname:", 1)
    path = tmp_path / "sar.yaml"
    path.write_text(text)
    with pytest.raises(ConfigurationError, match=r"transmitter\.legal_name: Field required"):
        load_sar_parties(path)


def test_a_uuid_case_id_becomes_a_25_character_reference_and_back() -> None:
    reference = case_reference(CASE_UUID)
    assert len(reference) == 25 and reference.isalnum()
    assert case_id_of_reference(reference) == CASE_UUID
    assert case_reference("case0042") == "case0042"
    with pytest.raises(ComplianceError, match="cannot be the SAR's internal control number"):
        case_reference("case/with/slashes-and-far-too-long-to-fit")


@pytest.mark.parametrize(
    ("given", "code"), [("D", "DE"), ("GBR", "GB"), ("UTO", None), ("France", "FR"), ("us", "US")]
)
def test_countries_are_written_as_iso_alpha_2(given: str, code: str | None) -> None:
    assert country_alpha2(given) == code


def test_fincens_schema_ships_with_the_package_and_its_source_is_noted() -> None:
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    patterns = setuptools["package-data"]["compliance.reports"]
    assert "schemas/*.xsd" in patterns
    folder = ROOT / "src" / "compliance" / "reports" / "schemas"
    assert (folder / "EFL_SARXBatchSchema.xsd").is_file()
    sources = (folder / "SOURCES.md").read_text()
    assert "version 1.2" in sources and "moov-io/fincen @ 1965b68" in sources


def test_an_error_names_the_element_but_never_repeats_its_value(
    parties: SarParties, rates: RateTable
) -> None:
    xml = sar_xml(filing(structuring_case(), parties, rates))
    with pytest.raises(SarInvalid) as caught:
        validate_sar(xml.replace(b'TotalAmount="38601"', b'TotalAmount="Jane Roe"'))
    assert str(caught.value) == (
        "the SAR XML is invalid: /fc2:EFilingBatchXML: attribute TotalAmount: invalid value "
        "for xs:decimal"
    )


def test_an_individual_known_by_a_full_name_only_is_split_given_names_then_surname(
    parties: SarParties, rates: RateTable
) -> None:
    case = structuring_case(subject={"full_name": "  Ana  Luisa Pereira "})
    subject = filing(case, parties, rates).subjects[0]
    assert (subject.first_name, subject.middle_name, subject.last_name) == (
        "Ana",
        "Luisa",
        "Pereira",
    )


def test_every_optional_part_of_the_parties_is_written_where_the_schema_wants_it(
    parties: SarParties, rates: RateTable
) -> None:
    branch_bank = parties.filing_institution.model_copy(
        update={
            "legal_name": "Example Savings Example Co",
            "dba_name": "Example Savings",
            "tin": Identification(type_code="2", number="00-0000003"),
            "other_ids": (Identification(type_code="14", number="0000004"),),
            "organization_type": "999",
            "organization_type_other": "Credit union service organisation",
        }
    )
    full = parties.model_copy(
        update={"activity_institution": branch_bank, "note_to_fincen": "Example advisory"}
    )
    good = filing(structuring_case(), full, rates)
    closed = good.subjects[0].model_copy(
        update={"accounts": (Account(number="1234-5678", closed=True),), "occupation": "Clerk"}
    )
    xml = sar_xml(good.model_copy(update={"subjects": (closed,)}))
    validate_sar(xml)
    root = parsed(xml)
    assert root.findtext(".//f:FilingInstitutionNotetoFinCEN", namespaces=NS) == (
        "Example advisory"
    )
    location = root.find("f:Activity/f:Party[f:ActivityPartyTypeCode='34']", NS)
    assert location is not None
    assert [n.findtext("f:PartyNameTypeCode", namespaces=NS) for n in location.iterfind(
        "f:PartyName", NS)] == ["L", "DBA"]  # fmt: skip
    assert location.findtext(".//f:OtherOrganizationTypeText", namespaces=NS) == (
        "Credit union service organisation"
    )
    subject = subject_party(root)
    assert subject.findtext(".//f:Account/f:AccountNumberText", namespaces=NS) == "12345678"
    assert subject.findtext(".//f:Account//f:AccountClosedIndicator", namespaces=NS) == "Y"
    # The account is held where the activity occurred; the subject's relationship is there too.
    held_at = subject.findtext(
        "f:PartyAccountAssociation/f:Party/f:PartyIdentification/f:PartyIdentificationNumberText",
        namespaces=NS,
    )
    assert held_at == "000000003"
    assert (
        subject.findtext(
            "f:PartyAssociation/f:SubjectRelationshipFinancialInstitutionTINText", namespaces=NS
        )
        == "000000003"
    )
