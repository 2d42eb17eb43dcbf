"""What leaves the bank when PII redaction is on: machine-readable zones go whole, also the
lines that carry no ``<`` filler (zones: public specimens, tests/data/mrz/SOURCES.md)."""

from __future__ import annotations

from compliance.classification.redaction import redact

CHINESE_PASSPORT = (
    "PASSPORT / 护照\n"
    "PTCHNCESHI<<YANGBEN<<<<<<<<<<<<<<<<<<<<<<<<<\n"
    "G622925996CHN8310291F1904220LCOCMKNENBPJB984\n"
)
BELGIAN_CARD = (
    "IDENTITY CARD\n"
    "IDBEL000590240<6013<<<<<<<<<<<\n"
    "8512017F1311048BEL851201002007\n"
    "REINARTZ<<ULRIKE<KATIA<E<<<<<<\n"
)


def test_a_zone_line_without_filler_is_redacted_with_the_rest_of_its_zone() -> None:
    redaction = redact(CHINESE_PASSPORT)
    assert "G622925996" not in redaction.text
    assert "CESHI" not in redaction.text
    assert redaction.text.startswith("PASSPORT / 护照\n[MRZ_1]\n[MRZ_2]")
    assert redaction.restore("[MRZ_2]") == "G622925996CHN8310291F1904220LCOCMKNENBPJB984"


def test_every_line_of_a_three_line_card_zone_is_redacted() -> None:
    redaction = redact(BELGIAN_CARD)
    for secret in ("000590240", "8512017F1311048BEL851201002007", "REINARTZ"):
        assert secret not in redaction.text
    assert redaction.text.count("[MRZ_") == 3


def test_a_zone_printed_with_spaces_inside_is_redacted_too() -> None:
    spaced = CHINESE_PASSPORT.replace("G622925996CHN", "G622925996 CHN")
    redaction = redact(spaced)
    assert "G622925996" not in redaction.text


def test_a_long_line_of_capitals_and_digits_that_is_no_zone_stays() -> None:
    text = "REFERENCE\nABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789\n"
    assert redact(text).text == text


def test_a_zone_line_read_with_a_look_alike_and_a_space_is_redacted() -> None:
    # An O read for the 0 in the document number (repaired by the parser) and a space inside.
    text = (
        "PASSPORT\n"
        "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\n"
        "L8989O2C36UTO7408122F1 204159ZE184226B<<<<<10\n"
    )
    redaction = redact(text)
    assert "L8989O2C36" not in redaction.text
    assert "7408122" not in redaction.text
    assert redaction.text.count("[MRZ_") == 2
