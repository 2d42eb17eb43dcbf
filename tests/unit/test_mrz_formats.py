"""Every MRZ format and country quirk on real public zones (tests/data/mrz/specimens.json, sources
in tests/data/mrz/SOURCES.md): the verdict and fields their sources state, visas without a
composite digit, long document numbers read whole, the French ID card and driving-licence
zones, zones whose lines hold no filler, and state codes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from compliance.mrz import MRZ, code_status, document_kind, find_mrz, parse_lines

DATA = Path(__file__).resolve().parents[1] / "data" / "mrz" / "specimens.json"
SPECIMENS: dict[str, dict[str, Any]] = {
    case["id"]: case for case in json.loads(DATA.read_text(encoding="utf-8"))
}
FIELDS = ("format", "document_number", "birth_date", "expiry_date", "nationality", "kind")


def zone(case_id: str) -> str:
    return "\n".join(SPECIMENS[case_id]["lines"])


def read(case_id: str) -> MRZ:
    mrz = find_mrz(zone(case_id))
    assert mrz is not None, case_id
    return mrz


@pytest.mark.parametrize("case_id", sorted(SPECIMENS))
def test_real_zone_gets_the_verdict_and_fields_its_source_states(case_id: str) -> None:
    expect = SPECIMENS[case_id]["expect"]
    mrz = find_mrz(zone(case_id))
    assert (mrz is not None and mrz.valid) == expect["valid"], mrz and mrz.failed_checks
    if expect["valid"]:
        assert mrz is not None
        got = {name: getattr(mrz, name) for name in FIELDS if name in expect}
        assert got == {name: expect[name] for name in FIELDS if name in expect}


# --- formats and document kinds --------------------------------------------------------------


def test_td3_passport_has_five_check_digits_and_is_a_passport() -> None:
    mrz = read("icao-td3-utopia")
    assert (mrz.format, mrz.kind) == ("TD3", "passport")
    assert set(mrz.checks) == {
        "document_number",
        "birth_date",
        "expiry_date",
        "optional_data",
        "composite",
    }


def test_us_mrv_a_visa_is_accepted_without_a_composite_check_digit() -> None:
    mrz = read("usa-mrva-visa")
    assert mrz.valid
    assert (mrz.format, mrz.kind, mrz.document_code, mrz.issuing_state) == (
        "MRVA",
        "visa",
        "VN",
        "USA",
    )
    assert set(mrz.checks) == {"document_number", "birth_date", "expiry_date"}
    assert (mrz.surname, mrz.given_names) == ("TRAVELER", "HAPPY")
    assert mrz.optional_data == "B3SE000IL4243934"


def test_finnish_mrv_b_visa_is_accepted_and_its_optional_data_runs_to_the_line_end() -> None:
    mrz = read("fin-mrvb-visa")
    assert mrz.valid
    assert (mrz.format, mrz.kind, mrz.issuing_state, mrz.nationality) == (
        "MRVB",
        "visa",
        "FIN",
        "RUS",
    )
    assert mrz.optional_data == "M901101"


def test_a_visa_with_a_wrong_document_number_digit_is_rejected() -> None:
    mrz = read("usa-mrva-bad-number-digit")
    assert mrz.failed_checks == ["document_number"]


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("P", "passport"),
        ("PO", "passport"),
        ("V", "visa"),
        ("VC", "visa"),
        ("I", "identity_card"),
        ("ID", "identity_card"),
        ("IR", "residence_permit"),
        ("AR", "residence_permit"),
        ("A", "travel_document"),
        ("C", "travel_document"),
        ("X", "unknown"),
    ],
)
def test_the_document_code_decides_the_kind_of_document(code: str, kind: str) -> None:
    assert document_kind(code) == kind


def test_a_utopia_residence_permit_is_not_called_an_identity_card() -> None:
    assert read("utopia-td2-residence").kind == "residence_permit"


# --- long document numbers -------------------------------------------------------------------


def test_portuguese_id_card_long_document_number_is_read_whole() -> None:
    mrz = read("prt-bo-04001-b")
    assert mrz.valid
    assert mrz.document_number == "007666667ZZ0"
    assert mrz.optional_data == ""


def test_portuguese_long_number_digit_over_the_printed_filler_holds_too() -> None:
    """Portugal computes the digit over ``000024759<ZZ7`` (filler included), not the number."""
    mrz = read("prt-td1-2")
    assert mrz.valid
    assert mrz.document_number == "000024759ZZ7"


def test_belgian_id_card_long_number_and_full_second_line() -> None:
    mrz = read("bel-bo-11005")
    assert mrz.valid
    assert mrz.document_number == "600001795015"
    assert mrz.optional_data_2 == "13010198739"
    assert "<" not in mrz.lines[1]


def test_icao_long_document_numbers_in_td1_and_td2() -> None:
    assert read("icao-td1-long-number").document_number == "D23145890734"
    td2 = read("icao-p11-td2-long-number")
    assert (td2.format, td2.valid, td2.document_number) == ("TD2", True, "D23145890734")


def test_a_wrong_digit_after_a_long_number_fails_the_document_number_check() -> None:
    mrz = read("bel-bo-03003-bad-number-digit")
    assert "document_number" in mrz.failed_checks
    assert mrz.document_number == "000590240601"


# --- the French national ID card and driving licences ----------------------------------------


def test_french_national_id_card_is_read_in_its_own_layout() -> None:
    mrz = read("fra-id-loiseau")
    assert mrz.valid
    assert (mrz.format, mrz.kind, mrz.issuing_state) == ("FRA_ID", "identity_card", "FRA")
    assert (mrz.surname, mrz.given_names) == ("LOISEAU", "HERVE DJAMEL")
    assert mrz.document_number == "970675K00277"
    assert (mrz.birth_date, mrz.sex, mrz.expiry_date) == ("730321", "M", "")
    assert mrz.issue_date == "9706"
    assert set(mrz.checks) == {"document_number", "birth_date", "composite"}


def test_french_id_card_administrative_code_is_optional_data() -> None:
    mrz = read("fra-id-berthier-office")
    assert mrz.valid
    assert mrz.optional_data == "923255"


def test_french_id_card_with_a_wrong_composite_is_rejected() -> None:
    assert read("fra-id-bad-composite").failed_checks == ["composite"]


def test_french_driving_licence_one_line_zone() -> None:
    mrz = read("fra-dl-martin")
    assert mrz.valid
    assert (mrz.format, mrz.kind, mrz.issuing_state) == ("DL", "driving_licence", "FRA")
    assert (mrz.document_number, mrz.expiry_date, mrz.surname) == ("13AA00002", "181231", "MARTIN")
    assert set(mrz.checks) == {"document_number", "composite"}


def test_dutch_driving_licence_is_found_in_text_without_any_filler() -> None:
    text = "RIJBEWIJS\nKONINKRIJK DER NEDERLANDEN\n" + zone("nld-dl") + "\n"
    mrz = find_mrz(text)
    assert mrz is not None and mrz.valid
    assert (mrz.issuing_state, mrz.document_number) == ("NLD", "5094962111")


def test_dutch_driving_licence_read_with_a_space_inside_its_line_is_found() -> None:
    line = SPECIMENS["nld-dl"]["lines"][0]
    mrz = find_mrz(f"RIJBEWIJS\n{line[:15]} {line[15:]}\n")
    assert mrz is not None and mrz.valid
    assert mrz.document_number == "5094962111"


def test_dutch_driving_licence_with_a_wrong_check_digit_is_rejected() -> None:
    mrz = find_mrz(zone("nld-dl-bad-digit"))
    assert mrz is None or not mrz.valid


def test_swiss_driving_licence_three_lines() -> None:
    mrz = read("che-dl-marchand")
    assert mrz.valid
    assert (mrz.format, mrz.kind, mrz.issuing_state, mrz.document_code) == (
        "CHE_DL",
        "driving_licence",
        "CHE",
        "FA",
    )
    assert (mrz.surname, mrz.given_names, mrz.birth_date) == ("MARCHAND", "FABIENNE", "800126")


def test_swiss_driving_licence_with_a_broken_layout_is_rejected() -> None:
    l1, l2, l3 = SPECIMENS["che-dl-marchand"]["lines"]
    broken = l2[:17] + "X<" + l2[19:]
    assert parse_lines([l1, broken, l3]).failed_checks == ["layout"]


# --- lines without filler ----------------------------------------------------------------------


def test_chinese_passport_data_line_without_filler_is_found_among_text() -> None:
    lines = SPECIMENS["chn-po-rfa"]["lines"]
    assert "<" not in lines[1]
    text = "PASSPORT\nPEOPLE'S REPUBLIC OF CHINA\n" + "\n".join(lines) + "\n"
    mrz = find_mrz(text)
    assert mrz is not None and mrz.valid
    assert (mrz.document_number, mrz.nationality, mrz.surname) == ("E59659321", "CHN", "ABULIKEMU")


def test_belgian_id_card_second_line_without_filler_is_found() -> None:
    mrz = find_mrz("BELGIE BELGIQUE\n" + zone("bel-specimen-3"))
    assert mrz is not None and mrz.valid
    assert mrz.document_number == "615057409939"


def test_uppercase_lines_of_zone_lengths_without_any_filler_are_not_a_zone() -> None:
    text = "\n".join(["A" * 44, "B1" * 22, "THIS IS NOT A ZONE"])
    assert find_mrz(text) is None


# --- state codes -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("FRA", "iso3166"),
        ("D", "icao"),
        ("GBD", "icao"),
        ("GBN", "icao"),
        ("UNO", "icao"),
        ("UNK", "icao"),
        ("XXA", "icao"),
        ("XXB", "icao"),
        ("XXX", "icao"),
        ("EUE", "icao"),
        ("XOM", "icao"),
        ("RKS", "icao"),
        ("YUG", "former"),
        ("UTO", "specimen"),
        ("ZZZ", "unknown"),
        ("FR", "unknown"),
    ],
)
def test_state_codes_are_iso_3166_icao_special_former_or_specimen(code: str, status: str) -> None:
    assert code_status(code) == status


def test_utopia_specimen_is_reported_as_a_specimen_not_passed_silently() -> None:
    mrz = read("icao-td3-utopia")
    assert mrz.valid  # its check digits hold
    assert mrz.specimen
    assert mrz.codes == {"issuing_state": "specimen", "nationality": "specimen"}


def test_a_real_state_document_is_not_a_specimen() -> None:
    mrz = read("chn-po-rfa")
    assert not mrz.specimen
    assert mrz.codes == {"issuing_state": "iso3166", "nationality": "iso3166"}


def test_a_holder_named_specimen_marks_a_specimen_document() -> None:
    assert read("hrv-td1-specimen").specimen


def test_a_state_code_that_names_no_state_makes_the_zone_invalid() -> None:
    line1, line2 = SPECIMENS["deu-passport-specimen"]["lines"]
    mrz = find_mrz(line1.replace("P<D<<", "P<QQQ", 1) + "\n" + line2)
    assert mrz is not None
    assert all(mrz.checks.values())  # no check digit covers the issuing state
    assert not mrz.valid
    assert mrz.failed_checks == ["issuing_state"]


def test_german_d_and_stateless_xxx_codes_are_valid() -> None:
    assert read("deu-td1-specimen").codes == {"issuing_state": "icao", "nationality": "icao"}
    visa = read("icao-mrva-utopia")
    assert visa.valid and visa.codes["nationality"] == "icao"  # XXX: unspecified nationality


def test_a_printed_number_above_an_invalid_td1_zone_does_not_make_a_swiss_licence() -> None:
    # A Belgian specimen zone with its document number's check digit broken, under the card's
    # number printed on a line of its own (nine characters, like a Swiss licence's first line).
    text = (
        "CARD No 000590240\n"
        "L01X00T47\n"
        "IDBEL000590240<6016<<<<<<<<<<<\n"
        "8512017F1311048BEL851201002007\n"
        "REINARTZ<<ULRIKE<KATIA<E<<<<<<\n"
    )
    mrz = find_mrz(text)
    assert mrz is not None
    assert (mrz.format, mrz.kind, mrz.valid) == ("TD1", "identity_card", False)
    assert "layout" not in mrz.failed_checks
