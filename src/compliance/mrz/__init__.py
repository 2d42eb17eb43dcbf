"""ICAO Doc 9303 machine-readable zones (MRZ): parsing and check digits (``zone``), repairing
OCR readings (``ocr``) and finding a zone in a document's text (``find``)."""

from compliance.mrz.find import find_exact_mrz, find_mrz
from compliance.mrz.ocr import find_ocr_mrz
from compliance.mrz.zone import MRZ, check_digit, digit_ok, mrz_date, parse_lines

__all__ = [
    "MRZ",
    "check_digit",
    "digit_ok",
    "find_exact_mrz",
    "find_mrz",
    "find_ocr_mrz",
    "mrz_date",
    "parse_lines",
]
