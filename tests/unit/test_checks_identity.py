"""Identity-document check kinds with real MRZ lines and document numbers: ICAO 9303 check
digits (valid and altered), number formats per type and issuing state, expiry and age."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from compliance.rules.checks import Context, Verdict
from compliance.rules.kinds.dates import (
    AgeParams,
    ExpiryParams,
    RecencyParams,
    date_within,
    minimum_age,
    not_expired,
)
from compliance.rules.kinds.identity import (
    DocumentNumberParams,
    _load_formats,
    document_number,
    mrz_check_digits,
)
from compliance.rules.kinds.params import FieldParams

RULES = Path(__file__).resolve().parents[2] / "rules"
ON = date(2026, 11, 2)
# ICAO Doc 9303 specimens (Utopia): TD3 passport, and the bundled samples' TD1 card and TD3.
TD3_SPECIMEN = (
    "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\nL898902C36UTO7408122F1204159ZE184226B<<<<<10"
)
TD3_HALVORSEN = (
    "P<UTOHALVORSEN<<INGRID<MARIE<<<<<<<<<<<<<<<<\nX71K42Q906UTO8803171F3409213<<<<<<<<<<<<<<<2"
)
TD1_OKAFOR_BAD = (
    "I<UTOD84R172651<<<<<<<<<<<<<<<\n9106042M3102282UTO<<<<<<<<<<<2\nOKAFOR<<DANIEL<CHUKWUEMEKA<<<<"
)
TD2_SPECIMEN = "I<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<\nD231458907UTO7408122F1204159<<<<<<<6"


def ctx(document_type: str = "passport", on: date = ON) -> Context:
    return Context(as_of=on, document_type=document_type)


def mrz(lines: str | None) -> Verdict:
    return mrz_check_digits(FieldParams(field="mrz_lines"), {"mrz_lines": lines}, None, ctx())


@pytest.mark.parametrize("lines", [TD3_SPECIMEN, TD3_HALVORSEN, TD2_SPECIMEN])
def test_mrz_with_valid_check_digits_passes(lines: str) -> None:
    verdict = mrz(lines)
    assert verdict.passed, verdict.explanation
    assert "check digits match" in verdict.explanation


@pytest.mark.parametrize(
    ("lines", "failed"),
    [
        (TD3_SPECIMEN.replace("L898902C36", "L898902C37"), "document_number"),
        (TD3_SPECIMEN.replace("7408122F", "7408123F"), "birth_date"),
        (TD3_SPECIMEN.replace("1204159ZE", "1204158ZE"), "expiry_date"),
        (TD3_SPECIMEN[:-1] + "9", "composite"),
        (TD1_OKAFOR_BAD, "document_number"),
        (TD2_SPECIMEN.replace("D231458907", "D231458906"), "document_number"),
    ],
)
def test_mrz_with_a_wrong_check_digit_fails_naming_it(lines: str, failed: str) -> None:
    verdict = mrz(lines)
    assert not verdict.passed
    assert failed in verdict.explanation


def test_a_zone_naming_no_state_fails_saying_so_not_blaming_its_check_digits() -> None:
    # The issuing state is outside the check digits of a passport zone: they all still hold.
    verdict = mrz(TD3_SPECIMEN.replace("P<UTO", "P<QQQ", 1))
    assert not verdict.passed
    assert "issuing state 'QQQ' names no state" in verdict.explanation
    assert "check digits do not match" not in verdict.explanation


def test_a_specimen_zone_says_it_is_a_specimen() -> None:
    verdict = mrz(TD3_SPECIMEN)
    assert verdict.passed
    assert "(a specimen document)" in verdict.explanation


@pytest.mark.parametrize("lines", [None, "", "no zone here", "P<UTO\nshort"])
def test_a_document_without_an_mrz_fails(lines: str | None) -> None:
    verdict = mrz(lines)
    assert not verdict.passed and "no machine-readable zone" in verdict.explanation


@pytest.fixture(scope="module")
def formats() -> dict:  # type: ignore[type-arg]
    import hashlib

    params = DocumentNumberParams(formats="formats/document_numbers.yaml")
    return _load_formats(params, RULES, hashlib.sha256())


@pytest.mark.parametrize(
    ("doc_type", "state", "number", "ok"),
    [
        ("passport", "GBR", "123456789", True),
        ("passport", "GBR", "12345678A", False),
        ("passport", "USA", "A12345678", True),
        ("passport", "USA", "AB1234567", False),
        ("passport", "DEU", "C01X00T47", True),
        ("passport", "DEU", "A01X00T47", False),  # A is not in the German alphabet
        ("passport", "NLD", "XR1234567", True),
        ("passport", "NLD", "XO1234567", False),  # the Dutch never use O
        ("national_id", "ITA", "CA00000AA", True),
        ("national_id", "ITA", "CA0000AAA", False),
        ("passport", "ZZZ", "AB123456", True),  # unlisted state: ICAO general format
        ("passport", "ZZZ", "AB-12", False),
    ],
)
def test_document_number_format_per_type_and_issuing_state(
    formats: dict,
    doc_type: str,
    state: str,
    number: str,
    ok: bool,  # type: ignore[type-arg]
) -> None:
    params = DocumentNumberParams(formats="formats/document_numbers.yaml")
    fields = {"document_number": number, "issuing_state": state}
    verdict = document_number(params, fields, formats, ctx(doc_type))
    assert verdict.passed is ok, verdict.explanation
    assert verdict.inputs["issuing_state"] == state


def test_document_number_must_agree_with_the_mrz(formats: dict) -> None:  # type: ignore[type-arg]
    params = DocumentNumberParams(formats="formats/document_numbers.yaml", mrz_field="mrz_lines")
    fields = {"document_number": "L898902C3", "issuing_state": "UTO", "mrz_lines": TD3_SPECIMEN}
    assert document_number(params, fields, formats, ctx()).passed
    fields["document_number"] = "L898902C4"
    verdict = document_number(params, fields, formats, ctx())
    assert not verdict.passed
    assert verdict.inputs["mrz_document_number"] == "L898902C3"


@pytest.mark.parametrize(
    ("expiry", "ok"), [("2026-11-02", True), ("2026-11-01", False), ("31/12/2030", False)]
)
def test_not_expired_on_the_decision_date(expiry: str, ok: bool) -> None:
    verdict = not_expired(ExpiryParams(), {"expiry_date": expiry}, None, ctx())
    assert verdict.passed is ok
    assert verdict.inputs["as_of"] == "2026-11-02"


@pytest.mark.parametrize(
    ("born", "years", "ok", "age"),
    [
        ("2008-11-02", 18, True, "18"),
        ("2008-11-03", 18, False, "17"),
        ("2008-02-29", 18, True, "18"),
        ("1960-01-01", 65, True, "66"),
        ("2027-01-01", 0, False, None),
    ],
)
def test_minimum_age_is_configurable(born: str, years: int, ok: bool, age: str | None) -> None:
    verdict = minimum_age(AgeParams(years=years), {"date_of_birth": born}, None, ctx())
    assert verdict.passed is ok, verdict.explanation
    assert verdict.inputs.get("age") == age


@pytest.mark.parametrize(
    ("dated", "ok"),
    [("2026-08-04", True), ("2026-08-03", False), ("2026-11-03", False), (None, False)],
)
def test_proof_of_address_recency(dated: str | None, ok: bool) -> None:
    params = RecencyParams(field="document_date", max_age_days=90)
    verdict = date_within(params, {"document_date": dated}, None, ctx("proof_of_address"))
    assert verdict.passed is ok, verdict.explanation
