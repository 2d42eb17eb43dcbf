"""The rules of the new document types, on labelled documents read by the local classifier:
identity documents (expiry, age, holder, licence number), tax forms of several countries
(their identification numbers under their own schemes, the payer screened), proofs of address
(holder, address, recency), payslips, receipts, contracts and registration extracts (parties
screened, required fields, recency). Nothing passes for want of a rule or a field."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from compliance.classification.local import classify
from compliance.rules import Ruleset, evaluate
from tests.labelled_documents import LABELS

LABELLED = LABELS.parent
DECIDED_AT = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


def outcomes(ruleset: Ruleset, path: str) -> dict[str, str]:
    result = classify((LABELLED / path).read_text(encoding="utf-8"))
    fields = {f.name: f.value for f in result.fields}
    decided = evaluate(ruleset, result.document_type, fields, DECIDED_AT)
    return {r.rule.id: r.outcome for r in decided}


def not_passed(found: dict[str, str]) -> dict[str, str]:
    return {rule: outcome for rule, outcome in found.items() if outcome != "pass"}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("driving_licence/de_fuehrerschein.txt", {}),
        ("driving_licence/us_ca_driver_license.txt", {}),
        ("tax_form/w2_2023_scan_ocr.txt", {}),
        ("tax_form/f1099nec_2024_contractor.txt", {}),
        ("tax_form/lohnsteuerbescheinigung_2023_ocr.txt", {}),
        ("proof_of_address/council_tax_bill.txt", {"address.recent-document": "fail"}),
        ("proof_of_address/gas_bill_fr.txt", {}),
        ("payslip/fr_bulletin_de_paie.txt", {}),
        ("payslip/de_verdienstabrechnung.txt", {"income.recent-payslip": "review"}),
        ("receipt/restaurant_receipt_de.txt", {}),
        ("contract/employment_contract.txt", {}),
        ("company_registration/us_certificate_of_formation.txt",
         {"company.recent-extract": "review"}),
    ],
)  # fmt: skip
def test_a_document_of_a_new_type_is_decided_by_its_rules(
    ruleset: Ruleset, path: str, expected: dict[str, str]
) -> None:
    found = outcomes(ruleset, path)
    assert not_passed(found) == expected
    assert "classification.type-has-rules" in found


def test_an_expired_residence_permit_fails_the_expiry_rule(ruleset: Ruleset) -> None:
    found = outcomes(ruleset, "residence_permit/uk_brp.txt")  # valid until 31-12-2024
    assert found["identity.not-expired"] == "fail"
    assert found["identity.minimum-age"] == "pass"


def test_a_1098_whose_borrowers_tin_is_masked_goes_to_review(ruleset: Ruleset) -> None:
    found = outcomes(ruleset, "tax_form/f1098_2024_mortgage.txt")
    assert not_passed(found) == {"tax.taxpayer-id-present": "review"}
    assert found["aml.tax-form-payer-screen"] == "pass"  # the lender was screened


def test_a_blank_form_1040_goes_to_review_for_want_of_a_taxpayer(ruleset: Ruleset) -> None:
    found = outcomes(ruleset, "tax_form/irs_2022_f1040.txt")
    assert not_passed(found) == {
        "tax.taxpayer-id-present": "review",
        "aml.sanctions-name-screen": "review",  # nobody named to screen
    }


def test_a_driving_licence_read_without_name_or_number_goes_to_review(ruleset: Ruleset) -> None:
    results = evaluate(ruleset, "driving_licence", {"expiry_date": "2030-01-01"}, DECIDED_AT)
    found = {r.rule.id: r.outcome for r in results}
    assert found["identity.holder-named"] == "review"
    assert found["identity.licence-number-present"] == "review"
    assert found["identity.minimum-age"] == "fail"  # no date of birth: no age shown


@pytest.mark.parametrize(
    ("document_type", "fields", "rule"),
    [
        ("payslip", {"full_name": "Claire Pemberton", "issuer": "Banco Nacional de Cuba",
                     "document_date": "2026-10-28"}, "aml.employer-screen"),
        ("receipt", {"issuer": "Aerocaribbean Airlines", "total_amount": "412.00",
                     "document_date": "2026-10-01"}, "aml.receipt-issuer-screen"),
        ("contract", {"first_party": "Banco Nacional de Cuba", "second_party": "Daniel Ferreira",
                      "document_date": "2026-10-05"}, "aml.contract-parties-screen"),
        ("company_registration", {"company_name": "Banco Nacional de Cuba",
                                  "registration_number": "1", "document_date": "2026-10-30"},
         "aml.company-screen"),
        ("tax_form", {"form": "1099-INT", "payer_name": "Banco Nacional de Cuba",
                      "full_name": "Joanna Kwiatkowski", "taxpayer_id": "287-65-4311"},
         "aml.tax-form-payer-screen"),
    ],
)  # fmt: skip
def test_a_listed_party_on_a_new_type_goes_to_an_officer(
    ruleset: Ruleset, document_type: str, fields: dict[str, str], rule: str
) -> None:
    found = {r.rule.id: r.outcome for r in evaluate(ruleset, document_type, fields, DECIDED_AT)}
    assert not_passed(found) == {rule: "review"}
