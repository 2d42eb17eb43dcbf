"""Repair of OCR look-alikes in a zone: by each field's character class where ICAO fixes it,
decided by the check digits in document numbers, and always visible in ``MRZ.repairs``."""

from __future__ import annotations

import json
from pathlib import Path

from compliance.mrz import Repair, find_mrz

DATA = Path(__file__).resolve().parents[1] / "data" / "mrz" / "specimens.json"
SPECIMENS = {case["id"]: case["lines"] for case in json.loads(DATA.read_text(encoding="utf-8"))}


def _with(line: str, position: int, char: str) -> str:
    return line[:position] + char + line[position + 1 :]


def test_letter_o_read_for_zero_in_a_passport_number_is_repaired_by_the_check_digits() -> None:
    line1, line2 = SPECIMENS["icao-td3-utopia"]  # L898902C3
    assert line2[5] == "0"
    mrz = find_mrz(f"{line1}\n{_with(line2, 5, 'O')}")  # read as L8989O2C3
    assert mrz is not None and mrz.valid
    assert mrz.document_number == "L898902C3"
    assert mrz.repairs == (Repair("document_number", 1, 5, "O", "0"),)
    assert str(mrz.repairs[0]) == "document_number: 'O' read as '0' (line 2, column 6)"


def test_zero_read_for_letter_o_is_not_repaired_when_the_check_digits_do_not_confirm_it() -> None:
    """``L898902C3`` read with a wrong digit that no single look-alike swap explains stays
    invalid, and nothing is changed."""
    line1, line2 = SPECIMENS["icao-td3-utopia"]
    mrz = find_mrz(f"{line1}\n{_with(line2, 3, '9')}")  # L899902C3: 8 -> 9 is no look-alike
    assert mrz is not None and not mrz.valid
    assert mrz.repairs == ()
    assert mrz.document_number == "L899902C3"


def test_letter_in_the_number_of_an_all_digit_russian_passport_is_repaired() -> None:
    line1, line2 = SPECIMENS["rus-td3-international"]  # 110400000
    mrz = find_mrz(f"{line1}\n{_with(line2, 7, 'O')}")
    assert mrz is not None and mrz.valid
    assert mrz.document_number == "110400000"
    assert [(r.field, r.read, r.corrected) for r in mrz.repairs] == [("document_number", "O", "0")]


def test_look_alike_in_a_long_portuguese_number_is_repaired_and_read_whole() -> None:
    line1, line2, line3 = SPECIMENS["prt-bo-04001-a"]  # 007777779ZZ9
    mrz = find_mrz(f"{_with(line1, 5, 'O')}\n{line2}\n{line3}")
    assert mrz is not None and mrz.valid
    assert mrz.document_number == "007777779ZZ9"
    assert mrz.repairs == (Repair("document_number", 0, 5, "O", "0"),)


def test_two_readings_the_check_digits_cannot_tell_apart_are_left_invalid() -> None:
    """``5S099993`` (Romanian ID ``SS099993``): swapping either the 5 or the S satisfies every
    check digit (neighbours weigh 7 and 3, which sum to 10), so nothing is guessed."""
    line1, line2 = SPECIMENS["rou-td2-specimen"]
    mrz = find_mrz(f"{line1}\n{_with(line2, 0, '5')}")
    assert mrz is not None and not mrz.valid
    assert mrz.repairs == ()


def test_letters_in_dates_and_check_digits_become_digits() -> None:
    line1, line2 = SPECIMENS["icao-td3-utopia"]
    noisy = line2.replace("7408122F1204159", "74O8IZ2F12O4I59")
    mrz = find_mrz(f"{line1}\n{noisy}")
    assert mrz is not None and mrz.valid
    assert (mrz.birth_date, mrz.expiry_date) == ("740812", "120415")
    assert {(r.field, r.read, r.corrected) for r in mrz.repairs} == {
        ("birth_date", "O", "0"),
        ("birth_date", "I", "1"),
        ("birth_date", "Z", "2"),
        ("expiry_date", "O", "0"),
        ("expiry_date", "I", "1"),
    }


def test_digits_in_state_codes_and_names_become_letters() -> None:
    line1, line2, line3 = SPECIMENS["bel-prado-ut0-nationality"]  # nationality printed UT0
    mrz = find_mrz(f"{line1}\n{line2}\n{line3.replace('SPECIMEN<<', '5PEC1MEN<<', 1)}")
    assert mrz is not None and mrz.valid
    assert mrz.nationality == "UTO"
    assert mrz.surname == "SPECIMEN"
    fields = sorted((r.field, r.read, r.corrected) for r in mrz.repairs)
    assert fields == [("names", "1", "I"), ("names", "5", "S"), ("nationality", "0", "O")]


def test_visa_number_look_alike_is_not_guessed_from_a_single_check_digit() -> None:
    """Visas have no composite digit: one check digit alone passes a wrong reading once in
    ten, so a look-alike in a visa number is left for a person to read."""
    line1, line2 = SPECIMENS["usa-mrva-visa"]  # 12345678
    mrz = find_mrz(f"{line1}\n{_with(line2, 0, 'I')}")
    assert mrz is not None and not mrz.valid
    assert mrz.failed_checks == ["document_number"]
    assert mrz.repairs == ()


def test_a_zone_printed_right_has_no_repairs() -> None:
    mrz = find_mrz("\n".join(SPECIMENS["chn-pt-specimen"]))
    assert mrz is not None and mrz.valid and mrz.repairs == ()


def test_digits_in_russian_internal_passport_names_are_kept() -> None:
    """The Russian internal passport spells some Cyrillic letters with digits (``ANATOL9EVI3``),
    so its names are not read as OCR noise."""
    line1, line2 = SPECIMENS["rus-td3-internal"]
    mrz = find_mrz(f"{line1.replace('ZDRIL7K', 'ZDRIL6K')}\n{line2}")
    assert mrz is not None and mrz.valid
    assert (mrz.surname, mrz.given_names) == ("ZDRIL6K", "SERGEQ ANATOL9EVI3")
    assert mrz.repairs == ()
