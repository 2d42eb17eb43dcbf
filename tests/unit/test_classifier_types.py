"""The local classifier on the labelled document set (tests/data/documents/labelled): every
type of the vocabulary named from real documents and specimens, confidence calibrated so one
incidental word never reaches the auto-accept range, tax forms named, and the fields of the
new types read. Only the tuning part of the set is used here; the held-back part is measured
by benchmarks/classifier_quality_bench.py alone."""

from __future__ import annotations

import pytest

from compliance.classification.evidence import TWO_SIGNALS_CAP
from compliance.classification.local import classify, type_from_mrz
from compliance.classification.model import DOCUMENT_TYPES
from compliance.config import Settings
from compliance.mrz.zone import MRZ
from tests.labelled_documents import LABELS, Labelled, labelled

TUNING = labelled("tuning")
LABELLED = LABELS.parent


def _id(document: Labelled) -> str:
    return document.path.rsplit("/", 1)[-1]


def _fields(path: str) -> dict[str, str | None]:
    result = classify((LABELLED / path).read_text(encoding="utf-8"))
    return {f.name: f.value for f in result.fields}


@pytest.fixture(scope="module")
def auto_accept() -> float:
    """The confidence from which a document type is taken without review."""
    return float(Settings().min_document_confidence)


# --- the vocabulary ---------------------------------------------------------------------------


def test_every_type_has_labelled_documents_to_tune_on_and_held_back() -> None:
    for part in ("tuning", "held_back"):
        assert {d.document_type for d in labelled(part)} == set(DOCUMENT_TYPES), part


def test_the_split_is_fixed_by_each_path_and_holds_back_about_a_third() -> None:
    everything = labelled()
    held = [d for d in everything if d.held_back]
    assert labelled("held_back") == held and len(TUNING) + len(held) == len(everything)
    assert 0.25 < len(held) / len(everything) < 0.42


@pytest.mark.parametrize("document", TUNING, ids=_id)
def test_a_labelled_document_is_classified_as_its_type(document: Labelled) -> None:
    result = classify(document.text())
    assert result.document_type == document.document_type


# --- calibration ------------------------------------------------------------------------------

LETTER = """Dear Ms Fischer,
Thank you for your letter of 3 October. We were pleased to hear that the garden party was a
success and that the weather held. {word} Please give our regards to your family.
Kind regards,
Tom
"""
INCIDENTAL = (
    "I found my passport in a drawer.",
    "The identity card photo was awful.",
    "My driving licence is in the car.",
    "Her residence permit came through.",
    "The electricity bill was high this month.",
    "I keep every bank statement in a folder.",
    "My payslip arrived late.",
    "The Form W-2 from my old job arrived.",
    "The Lohnsteuerbescheinigung came in the post.",
    "The invoice is paid.",
    "Keep the receipt.",
    "We signed the contract.",
    "Mum gave her consent.",
    "Companies House wrote to the club.",
)


@pytest.mark.parametrize("sentence", INCIDENTAL)
def test_one_incidental_keyword_stays_below_the_auto_accept_confidence(
    sentence: str, auto_accept: float
) -> None:
    result = classify(LETTER.format(word=sentence))
    assert result.confidence < auto_accept
    assert result.document_type == "unknown"


@pytest.mark.parametrize(
    "path",
    [
        "unknown/letter_mentions_passport.txt",
        "unknown/newsletter_mentions_bank_statement.txt",
        "unknown/email_about_invoice_question.txt",
    ],
)
def test_a_real_text_mentioning_a_type_once_is_unknown_below_auto_accept(
    path: str, auto_accept: float
) -> None:
    result = classify((LABELLED / path).read_text(encoding="utf-8"))
    assert (result.document_type, result.confidence < auto_accept) == ("unknown", True)


def test_a_hotel_receipt_mentioning_a_bank_statement_is_a_receipt() -> None:
    text = (LABELLED / "receipt/hotel_receipt.txt").read_text(encoding="utf-8")
    assert "bank statement" in text
    assert classify(text).document_type == "receipt"


@pytest.mark.parametrize(
    "text",
    [
        "PAYSLIP\nNet pay 2,100.00",
        "DRIVING LICENCE\n4a. 19.01.2019",
        "Form W-2 Wage and Tax Statement\nOMB No. 1545-0008",
        "INVOICE\nInvoice number 42",
    ],
)
def test_a_title_and_one_label_are_never_confident(text: str) -> None:
    result = classify(text)
    assert result.document_type != "unknown"
    assert result.confidence <= TWO_SIGNALS_CAP < 0.9


def test_labels_without_a_title_or_layout_name_no_type() -> None:
    text = "Surname: DOE\nGiven names: JANE\nDate of birth: 01 JAN 1990\nSex: F\nNationality: UTO"
    assert classify(text).document_type == "unknown"


# --- the zone's document code -----------------------------------------------------------------


def _zone(code: str, valid: bool = True) -> MRZ:
    return MRZ("TD1", code, "UTO", "DOE", "JANE", "X1", "UTO", "900101", "F", "300101", "",
               {"document_number": valid})  # fmt: skip


@pytest.mark.parametrize(
    ("code", "text_type", "expected"),
    [
        ("P", "passport", "passport"),
        ("V", "unknown", "residence_permit"),
        ("VC", "residence_permit", "residence_permit"),
        ("IR", "unknown", "residence_permit"),
        ("I", "residence_permit", "residence_permit"),
        ("I", "national_id", "national_id"),
        ("I", "unknown", "national_id"),
        ("D1", "driving_licence", "driving_licence"),
    ],
)
def test_the_zones_document_code_decides_the_identity_type(
    code: str, text_type: str, expected: str
) -> None:
    document_type, confidence = type_from_mrz(_zone(code), text_type, 0.5)
    assert document_type == expected
    assert confidence == (0.98 if text_type == expected else 0.95)


# --- tax forms --------------------------------------------------------------------------------


@pytest.mark.parametrize("document", [d for d in TUNING if d.document_type == "tax_form"], ids=_id)
def test_a_tax_form_is_named(document: Labelled) -> None:
    fields = {f.name: f.value for f in classify(document.text()).fields}
    assert fields["form"] == document.form


def test_a_w2_gives_the_employees_ssn_name_and_the_employers_ein() -> None:
    fields = _fields("tax_form/w2_2023_scan_ocr.txt")
    assert (fields["full_name"], fields["ssn"], fields["ein"], fields["payer_name"]) == (
        "DANA R OKONKWO",
        "523-81-4406",
        "91-1144442",
        "CASCADE VALLEY SCHOOL DISTRICT",
    )


def test_a_1099_gives_the_recipient_and_the_payer() -> None:
    fields = _fields("tax_form/f1099nec_2024_contractor.txt")
    assert fields["form"] == "1099-NEC"
    assert (fields["full_name"], fields["taxpayer_id"]) == ("Tomas Alvarado", "610-44-2935")
    assert (fields["payer_name"], fields["payer_tin"]) == (
        "Brightline Design Studio Inc.",
        "94-3321870",
    )


def test_a_lohnsteuerbescheinigung_gives_the_identifikationsnummer_of_germany() -> None:
    fields = _fields("tax_form/lohnsteuerbescheinigung_2023_ocr.txt")
    assert (fields["full_name"], fields["tax_id"], fields["tax_country"]) == (
        "Jonas Albrecht",
        "65 929 970 489",
        "DEU",
    )


def test_the_blank_irs_form_1040_is_a_tax_form_with_no_taxpayer() -> None:
    fields = _fields("tax_form/irs_2024_f1040.txt")
    assert fields["form"] == "1040"
    assert not {"full_name", "taxpayer_id", "ssn"} & fields.keys()


# --- fields of the other new types ------------------------------------------------------------


def test_an_eu_driving_licence_is_read_by_its_numbered_fields() -> None:
    fields = _fields("driving_licence/de_fuehrerschein.txt")
    assert fields == {
        "surname": "Mustermann",
        "given_names": "Erika",
        "full_name": "Erika Mustermann",
        "date_of_birth": "1964-08-12",
        "expiry_date": "2028-02-28",
        "document_number": "B072RRE2I55",
    }


def test_a_us_driver_license_reads_its_dates_month_first() -> None:
    fields = _fields("driving_licence/us_ca_driver_license.txt")
    assert (fields["full_name"], fields["document_number"]) == ("IMA CARDHOLDER", "I1234568")
    assert (fields["date_of_birth"], fields["expiry_date"]) == ("1977-08-31", "2029-08-31")


def test_a_bill_gives_its_addressee_address_and_date() -> None:
    fields = _fields("proof_of_address/council_tax_bill.txt")
    assert (fields["full_name"], fields["address"], fields["document_date"]) == (
        "Priya Shah",
        "27 Gloucester Road, Bristol BS7 8AE",
        "2026-03-12",
    )


def test_a_payslip_gives_the_employee_and_the_employer() -> None:
    fields = _fields("payslip/fr_bulletin_de_paie.txt")
    assert (fields["full_name"], fields["issuer"], fields["document_date"]) == (
        "Sophie Laurent",
        "Atelier Lumière SARL",
        "2026-09-30",
    )


def test_a_contract_gives_both_parties_and_the_date_it_was_made() -> None:
    fields = _fields("contract/mietvertrag.txt")
    assert (fields["first_party"], fields["second_party"], fields["document_date"]) == (
        "Peter Hoffmann",
        "Jonas Albrecht",
        "2026-10-10",
    )


def test_a_registration_extract_gives_the_company_and_its_number() -> None:
    fields = _fields("company_registration/uk_certificate_of_incorporation.txt")
    assert (fields["company_name"], fields["registration_number"]) == (
        "NORTHFIELD ENGINEERING LTD",
        "08812345",
    )


def test_a_residence_permit_without_a_zone_gives_the_fields_printed_beside_its_labels() -> None:
    fields = _fields("residence_permit/de_aufenthaltstitel.txt")
    assert (fields["full_name"], fields["expiry_date"], fields["document_number"]) == (
        "ANNA MUSTERFRAU",
        "2028-06-30",
        "Y00T4M2H8",
    )


def test_a_zones_fields_take_precedence_over_the_printed_ones() -> None:
    fields = _fields("national_id/utopia_td1_specimen.txt")  # prints "Document No. D23145890"
    assert (fields["document_number"], fields["date_of_birth"]) == ("D23145890", "1974-08-12")


# Forms that ask for a passport's details print the word and the identity labels an identity
# document prints, but no zone: they stay below 0.9 (and below auto-accept as any type but the
# one the identity rules then check and fail for its missing zone).
MENTIONS_WITH_IDENTITY_LABELS = {
    "itinerary": (
        "TRAVEL ITINERARY\nPassenger: John Smith\nPassport number: X1234567\n"
        "Nationality: British\nDate of birth: 01.02.1980\nFlight BA123 London - New York\n"
        "Please bring your passport to check-in."
    ),
    "hotel registration card": (
        "HOTEL REGISTRATION CARD\nGuest name: Anna Berg\nNationality: Swedish\n"
        "Date of birth: 1985-03-04\nPassport No: 12345678\nArrival: 2026-12-01"
    ),
    "blank visa application": (
        "APPLICATION FOR A SCHENGEN VISA\nSurname:\nFirst name:\nDate of birth:\n"
        "Nationality:\nPassport number:\nDate of issue:\nDate of expiry:"
    ),
}


@pytest.mark.parametrize("name", MENTIONS_WITH_IDENTITY_LABELS)
def test_a_form_asking_for_passport_details_is_never_a_confident_identity_document(
    name: str,
) -> None:
    result = classify(MENTIONS_WITH_IDENTITY_LABELS[name])
    assert result.confidence < 0.9, (result.document_type, result.confidence)
