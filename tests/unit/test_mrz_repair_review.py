"""A document number the MRZ parser repaired on the check digits alone is never passed on as
read: in TD1 and TD3 zones the composite digit repeats the number's own check (same weights),
so a misread that is no look-alike can be "repaired" into another number. The classifier reads
such a zone's fields below the review threshold, and the OCR path hands the classifier the
zone as read, so the repair is seen there too (specimen zone: ICAO 9303 part 4)."""

from __future__ import annotations

import string

import pytest

from compliance.classification.local import REPAIRED_BY_CHECK_DIGITS, classify
from compliance.config import Settings
from compliance.documents.image_text import as_read
from compliance.mrz import find_mrz

NUMBER = "L898902C3"
ZONE = (
    f"P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\n{NUMBER}6UTO7408122F1204159ZE184226B<<<<<10\n"
)
THRESHOLD = Settings().min_field_confidence


def _fields(text: str) -> dict[str, tuple[object, float]]:
    return {f.name: (f.value, f.confidence) for f in classify(text).fields}


def test_the_repair_threshold_is_below_the_review_threshold() -> None:
    assert REPAIRED_BY_CHECK_DIGITS < THRESHOLD


def test_an_o_read_for_0_in_the_number_is_repaired_and_sent_for_review() -> None:
    value, confidence = _fields("PASSPORT\n" + ZONE.replace("L898902C3", "L8989O2C3"))[
        "document_number"
    ]
    assert value == NUMBER
    assert confidence < THRESHOLD


@pytest.mark.parametrize("position", range(len(NUMBER)))
def test_no_single_misread_of_the_number_is_repaired_into_another_that_passes(
    position: int,
) -> None:
    repaired_wrong = 0
    for wrong in string.ascii_uppercase + string.digits:
        if wrong == NUMBER[position]:
            continue
        misread = NUMBER[:position] + wrong + NUMBER[position + 1 :]
        text = "PASSPORT\n" + ZONE.replace(NUMBER, misread, 1)
        value, confidence = _fields(text).get("document_number", (None, 0.0))
        zone = find_mrz(text)
        # A misread whose check digits hold by themselves is indistinguishable from a genuine
        # number to any reader (one in ten); an invalid zone fails the check-digit rule.
        if zone is not None and zone.valid and zone.repairs and value != NUMBER:
            repaired_wrong += 1
            assert confidence < THRESHOLD, (misread, value, confidence)
    assert repaired_wrong, "no misread at this position was repaired into another number"


def test_the_ocr_path_hands_over_the_zone_as_read_so_the_repair_is_seen_again() -> None:
    zone = find_mrz(ZONE.replace("L898902C3", "L8989O2C3"))
    assert zone is not None and zone.repairs
    lines = as_read(zone)
    assert lines[1].startswith("L8989O2C3")
    again = find_mrz("\n".join(lines))
    assert again is not None and again.repairs == zone.repairs
