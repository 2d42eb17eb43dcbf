"""ICAO Doc 9303 machine-readable zones (MRZ) and the driving-licence zones in use: layouts of
every format (``formats``), the parsed zone and its check digits (``zone``), state codes
(``countries``), repair of OCR confusions decided by check digits (``repair``), reading raw OCR
output (``ocr``) and finding a zone in a document's text (``find``)."""

from compliance.mrz.countries import code_status
from compliance.mrz.find import find_exact_mrz, find_mrz
from compliance.mrz.ocr import find_ocr_mrz
from compliance.mrz.repair import read_zone
from compliance.mrz.zone import (
    MRZ,
    Repair,
    check_digit,
    digit_ok,
    document_kind,
    mrz_date,
    parse_lines,
)

__all__ = [
    "MRZ",
    "Repair",
    "check_digit",
    "code_status",
    "digit_ok",
    "document_kind",
    "find_exact_mrz",
    "find_mrz",
    "find_ocr_mrz",
    "mrz_date",
    "parse_lines",
    "read_zone",
]
