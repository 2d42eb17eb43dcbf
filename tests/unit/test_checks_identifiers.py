"""Identifier check kinds with real identifiers: IBANs, BICs, LEIs and national personal
numbers, valid and with a broken check digit, validated by python-stdnum."""

from __future__ import annotations

from datetime import date

import pytest

from compliance.rules.checks import Context
from compliance.rules.kinds.identifiers import NATIONAL_IDS, IdentifierParams, identifier

CTX = Context(as_of=date(2026, 11, 2))


def check(scheme: str, value: str | None, **extra: str | None) -> tuple[bool, str]:
    params = IdentifierParams(field="value", scheme=scheme)  # type: ignore[arg-type]
    verdict = identifier(params, {"value": value, **extra}, None, CTX)
    return verdict.passed, verdict.explanation


@pytest.mark.parametrize(
    "iban",
    [
        "NL91 ABNA 0417 1643 00",  # the Dutch example IBAN
        "GB82 WEST 1234 5698 7654 32",  # the UK example in ISO 13616
        "DE89 3704 0044 0532 0130 00",
        "NO93 8601 1117 947",  # Norway, the shortest
    ],
)
def test_valid_ibans_pass(iban: str) -> None:
    ok, why = check("iban", iban)
    assert ok, why
    assert "valid IBAN" in why


@pytest.mark.parametrize(
    ("iban", "reason"),
    [
        ("NL91 ABNA 0417 1643 01", "checksum"),  # one digit changed
        ("GB82 WEST 1234 5698 7654 3", "not a valid IBAN"),  # a digit short
        ("XX82 WEST 1234 5698 7654 32", "not a valid IBAN"),  # no such country
        ("GB82 WEST 1234 5698 7654 32 1", "not a valid IBAN"),  # a digit too many
    ],
)
def test_invalid_ibans_fail_saying_why(iban: str, reason: str) -> None:
    ok, why = check("iban", iban)
    assert not ok
    assert reason in why


@pytest.mark.parametrize("bic", ["DEUTDEFF", "DEUTDEFF500", "ABNANL2A", "NWBKGB2L"])
def test_valid_bics_pass(bic: str) -> None:
    assert check("bic", bic)[0]


@pytest.mark.parametrize("bic", ["DEUT12FF", "ABNANL2", "DEUTDEFF5", "ABNA NL"])
def test_malformed_bics_fail(bic: str) -> None:
    assert not check("bic", bic)[0]


@pytest.mark.parametrize("lei", ["5493001KJTIIGC8Y1R12", "529900T8BM49AURSDO55"])
def test_valid_leis_pass(lei: str) -> None:
    assert check("lei", lei)[0]


@pytest.mark.parametrize("lei", ["5493001KJTIIGC8Y1R13", "529900T8BM49AURSDO5"])
def test_leis_with_a_bad_check_digit_or_length_fail(lei: str) -> None:
    assert not check("lei", lei)[0]


@pytest.mark.parametrize(
    ("country", "number", "ok"),
    [
        ("NLD", "111222333", True),  # BSN eleven-test
        ("NLD", "111222334", False),
        ("SWE", "880320-0016", True),  # personnummer, Luhn
        ("SWE", "880320-0017", False),
        ("ESP", "54362315K", True),  # DNI check letter
        ("ESP", "54362315Z", False),
        ("BEL", "85.07.30-033.28", True),  # national register number, mod 97
        ("BEL", "85.07.30-033.29", False),
    ],
)
def test_national_personal_numbers_use_their_countrys_scheme(
    country: str, number: str, ok: bool
) -> None:
    passed, why = check("national_id", number, nationality=country)
    assert passed is ok, why
    assert country in why


def test_a_national_id_of_an_unknown_scheme_fails_saying_so() -> None:
    ok, why = check("national_id", "12345", nationality="UTO")
    assert not ok and "no national identity number scheme is known for UTO" in why


def test_every_mapped_national_scheme_imports() -> None:
    from compliance.rules.kinds.identifiers import national_scheme

    for country in NATIONAL_IDS:
        assert national_scheme(country) is not None, country


def test_an_optional_identifier_that_is_absent_passes_and_a_required_one_fails() -> None:
    optional = IdentifierParams(field="bic", scheme="bic", optional=True)
    assert identifier(optional, {}, None, CTX).passed
    required = IdentifierParams(field="bic", scheme="bic")
    assert not identifier(required, {"bic": "  "}, None, CTX).passed
