"""ICAO Doc 9303 machine-readable zones: parsing, check digits, century of two-digit years."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from compliance.mrz import check_digit, digit_ok, find_mrz, mrz_date

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "documents"

# The specimen passport of ICAO Doc 9303 Part 4 (Utopia, Anna Maria Eriksson).
TD3_LINE1 = "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<"
TD3_LINE2 = "L898902C36UTO7408122F1204159ZE184226B<<<<<10"
# The TD2 specimen of ICAO Doc 9303 Part 6.
TD2_LINE1 = "I<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<"
TD2_LINE2 = "D231458907UTO7408122F1204159<<<<<<<6"

# Position of each check digit in TD3 line 2, and the check it guards.
TD3_CHECK_DIGITS = {
    "document_number": 9,
    "birth_date": 19,
    "expiry_date": 27,
    "optional_data": 42,
    "composite": 43,
}


def _replace(line: str, position: int, char: str) -> str:
    return line[:position] + char + line[position + 1 :]


def _other_digit(digit: str) -> str:
    return str((int(digit) + 3) % 10)


@pytest.mark.parametrize(
    ("data", "digit"),
    [("L898902C3", 6), ("740812", 2), ("120415", 9), ("ZE184226B<<<<<", 1), ("<<<<", 0)],
)
def test_check_digit_uses_weights_7_3_1_with_letters_10_to_35(data: str, digit: int) -> None:
    assert check_digit(data) == digit


def test_check_digit_rejects_characters_outside_the_mrz_alphabet() -> None:
    with pytest.raises(ValueError, match="not allowed"):
        check_digit("ab1")


def test_digit_ok_is_false_for_a_filler_or_letter_in_place_of_a_digit() -> None:
    assert digit_ok("740812", "2")
    assert not digit_ok("740812", "<")
    assert not digit_ok("740812", "Z")


def test_icao_specimen_td3_parses_with_every_check_digit_valid() -> None:
    mrz = find_mrz(f"{TD3_LINE1}\n{TD3_LINE2}\n")
    assert mrz is not None
    assert mrz.format == "TD3"
    assert mrz.checks == dict.fromkeys(TD3_CHECK_DIGITS, True)
    assert mrz.valid and mrz.failed_checks == []
    assert (mrz.document_code, mrz.issuing_state, mrz.nationality) == ("P", "UTO", "UTO")
    assert (mrz.surname, mrz.given_names) == ("ERIKSSON", "ANNA MARIA")
    assert mrz.document_number == "L898902C3"
    assert (mrz.birth_date, mrz.sex, mrz.expiry_date) == ("740812", "F", "120415")
    assert mrz.optional_data == "ZE184226B"
    assert mrz.lines == (TD3_LINE1, TD3_LINE2)


@pytest.mark.parametrize("check", sorted(TD3_CHECK_DIGITS))
def test_changing_one_td3_check_digit_fails_that_check_and_the_composite_only(check: str) -> None:
    """The composite digit covers the other check digits (ICAO 9303 Part 4, 4.2.2.2), so a
    wrong document-number, birth, expiry or optional-data digit also fails the composite;
    every other check still passes."""
    position = TD3_CHECK_DIGITS[check]
    line2 = _replace(TD3_LINE2, position, _other_digit(TD3_LINE2[position]))
    mrz = find_mrz(f"{TD3_LINE1}\n{line2}")
    assert mrz is not None
    assert set(mrz.failed_checks) == {check, "composite"}
    assert not mrz.valid


@pytest.mark.parametrize("check", sorted(set(TD3_CHECK_DIGITS) - {"composite"}))
def test_changing_one_td3_check_digit_with_a_recomputed_composite_fails_exactly_that_check(
    check: str,
) -> None:
    position = TD3_CHECK_DIGITS[check]
    line2 = _replace(TD3_LINE2, position, _other_digit(TD3_LINE2[position]))
    composite = check_digit(line2[0:10] + line2[13:20] + line2[21:43])
    line2 = _replace(line2, 43, str(composite))
    mrz = find_mrz(f"{TD3_LINE1}\n{line2}")
    assert mrz is not None
    assert mrz.failed_checks == [check]


def test_a_changed_data_character_fails_its_check_digit() -> None:
    mrz = find_mrz(f"{TD3_LINE1}\n{_replace(TD3_LINE2, 3, '9')}")  # L899902C3
    assert mrz is not None
    assert set(mrz.failed_checks) == {"document_number", "composite"}


def test_icao_specimen_td2_parses_with_every_check_digit_valid() -> None:
    mrz = find_mrz(f"{TD2_LINE1}\n{TD2_LINE2}")
    assert mrz is not None
    assert mrz.format == "TD2"
    assert mrz.valid, mrz.failed_checks
    assert (mrz.document_code, mrz.document_number) == ("I", "D23145890")
    assert (mrz.surname, mrz.given_names) == ("ERIKSSON", "ANNA MARIA")
    assert (mrz.birth_date, mrz.expiry_date, mrz.sex) == ("740812", "120415", "F")


def test_mrz_is_found_among_other_text_with_ocr_spaces_and_lower_case() -> None:
    noisy = TD3_LINE2[:20] + " " + TD3_LINE2[20:]
    text = f"UTOPIA PASSPORT\nSurname: ERIKSSON\n\n{TD3_LINE1.lower()}\n{noisy}\nSignature"
    mrz = find_mrz(text)
    assert mrz is not None
    assert mrz.valid
    assert mrz.document_number == "L898902C3"


def test_text_without_an_mrz_gives_none() -> None:
    assert find_mrz("Customer name: Ingrid Marie Halvorsen\nAmount due: NOK 842.50") is None
    assert find_mrz(TD3_LINE1) is None  # one line of two


def test_td1_sample_id_card_has_a_wrong_document_number_check_digit() -> None:
    text = (SAMPLES / "id_card_okafor_bad_check_digit.txt").read_text(encoding="utf-8")
    mrz = find_mrz(text)
    assert mrz is not None
    assert mrz.format == "TD1"
    assert mrz.document_number == "D84R17265"
    assert (mrz.surname, mrz.given_names) == ("OKAFOR", "DANIEL CHUKWUEMEKA")
    assert (mrz.birth_date, mrz.sex, mrz.expiry_date) == ("910604", "M", "310228")
    assert (mrz.document_code, mrz.issuing_state, mrz.nationality) == ("I", "UTO", "UTO")
    # The document-number digit is the one wrong character; the composite, which covers it
    # (ICAO 9303 Part 5), fails with it. Birth and expiry digits are right.
    assert mrz.checks == {
        "document_number": False,
        "birth_date": True,
        "expiry_date": True,
        "composite": False,
    }


def test_td1_sample_passes_every_check_once_its_document_number_digit_is_corrected() -> None:
    text = (SAMPLES / "id_card_okafor_bad_check_digit.txt").read_text(encoding="utf-8")
    wrong = "I<UTOD84R172651<<<<<<<<<<<<<<<"
    assert wrong in text
    corrected = _replace(wrong, 14, str(check_digit("D84R17265")))
    mrz = find_mrz(text.replace(wrong, corrected))
    assert mrz is not None
    assert mrz.valid, mrz.failed_checks


# --- two-digit years ---------------------------------------------------------------------------

TODAY = date(2026, 6, 15)


@pytest.mark.parametrize(
    ("yymmdd", "expected"),
    [
        ("740812", date(1974, 8, 12)),
        ("000101", date(2000, 1, 1)),
        ("260615", date(2026, 6, 15)),  # born today
        ("260101", date(2026, 1, 1)),
        ("270101", date(1927, 1, 1)),  # next year would be the future
        ("261231", date(1926, 12, 31)),  # later this year would be the future too
        ("260616", date(1926, 6, 16)),  # tomorrow
        ("991231", date(1999, 12, 31)),
    ],
)
def test_mrz_birth_date_is_never_in_the_future(yymmdd: str, expected: date) -> None:
    result = mrz_date(yymmdd, future=False, today=TODAY)
    assert result == expected
    assert result is not None and result <= TODAY


@pytest.mark.parametrize(
    ("yymmdd", "expected"),
    [
        ("120415", date(2012, 4, 15)),  # expired, read in this century
        ("340921", date(2034, 9, 21)),
        ("760615", date(2076, 6, 15)),  # 50 years ahead: the far edge
        ("770101", date(1977, 1, 1)),  # more than 50 years ahead: read as the past
        ("991231", date(1999, 12, 31)),
    ],
)
def test_mrz_expiry_date_is_read_within_50_years_ahead(yymmdd: str, expected: date) -> None:
    assert mrz_date(yymmdd, future=True, today=TODAY) == expected


@pytest.mark.parametrize(
    "today", [date(2026, 6, 15), date(2049, 12, 31), date(2060, 1, 1)], ids=str
)
@pytest.mark.parametrize("yy", range(0, 100, 7))
def test_mrz_expiry_date_lies_within_a_100_year_window_ending_50_years_ahead(
    today: date, yy: int
) -> None:
    """Whatever the year the check runs in, a two-digit expiry year is read as at most 50
    years ahead and less than 50 years back (e.g. in 2060, '05' is 2105, not 2005)."""
    result = mrz_date(f"{yy:02d}0101", future=True, today=today)
    assert result is not None
    assert today.year - 50 < result.year <= today.year + 50


@pytest.mark.parametrize("bad", ["", "7408", "74081A", "741312", "740230", "7408121"])
def test_mrz_date_is_none_for_text_that_is_not_a_date(bad: str) -> None:
    assert mrz_date(bad, future=False, today=TODAY) is None
    assert mrz_date(bad, future=True, today=TODAY) is None
