"""Photos and scans of specimen documents read through the product's own image path
(``extract_text``: the zone found with OpenCV, read by Tesseract in process with the MRZ model,
then the page): the fields of their machine-readable zone, a page turned or skewed, an image
with no text, and the Tesseract API objects reused from page to page.

The specimens and their labels (transcribed by eye) are tests/data/documents/photos/ (see its
SOURCES.md) and the ICAO specimens of tests/data/documents/id_specimens/."""

from __future__ import annotations

import io
import json
import threading
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from PIL import Image

from compliance.config import Settings
from compliance.documents import image_prep, ocr_engine
from compliance.documents.reference import guess_media_type
from compliance.documents.text import extract_text
from compliance.errors import DocumentUnreadable
from compliance.mrz import MRZ, find_mrz
from compliance.processors.classifier import classify_arrival
from compliance.publisher import arrival_event
from tests.data_files import DOCUMENTS, data_file

PHOTOS = DOCUMENTS / "photos"
TD3 = DOCUMENTS / "id_specimens" / "passport-td3.png"  # ICAO's specimen: L898902C3, UTO


def labels() -> dict[str, dict[str, Any]]:
    entries = json.loads(data_file(PHOTOS / "labels.json").read_text(encoding="utf-8"))
    return {Path(e["image"]).name: e for e in entries["images"]}


def zone_of(path: Path) -> MRZ | None:
    text = extract_text(data_file(path).read_bytes(), guess_media_type(path.name)).text
    return find_mrz(text)


def td3_page() -> np.ndarray[Any, Any]:
    page = cv2.imread(str(data_file(TD3)), cv2.IMREAD_GRAYSCALE)
    assert page is not None
    return page


def encoded(image: np.ndarray[Any, Any]) -> bytes:
    ok, png = cv2.imencode(".png", image)
    assert ok
    return png.tobytes()


# --- specimen photos and scans: the zone's fields ---------------------------------------------

SPECIMENS = [
    "100_pass-bdr.jpg",  # German passport, nationality "D", issued by "BDR" (no such state code)
    "100_pass-fin.jpg",
    "100_pass-lux.jpg",  # a photo of the open booklet, the page tilted
    "62_pass-pol.jpg",
    "79_pass-can.jpg",
    "100_id-che.jpg",  # TD1 identity card
    "53_id-d.jpg",  # TD1, German identity card
    "100_visa-polx.jpg",  # a Schengen visa
]


@pytest.mark.parametrize("image", SPECIMENS)
def test_a_specimen_photo_gives_the_labelled_number_nationality_and_birth_date(
    image: str,
) -> None:
    label = labels()[image]
    mrz = zone_of(PHOTOS / image)
    assert mrz is not None, f"no zone found in {image}"
    # Every check digit holds; a zone naming a state no code list knows is read as printed and
    # reported invalid for that alone.
    expected_failures = ["issuing_state"] if mrz.issuing_state == "BDR" else []
    assert list(mrz.failed_checks) == expected_failures
    assert (mrz.document_number, mrz.nationality, mrz.birth_date) == (
        label["document_number"],
        label["nationality"],
        label["birth_date"],
    )
    assert list(mrz.lines) == label["mrz"]  # every character of the zone, as printed


def test_a_zone_is_given_to_the_classifier_once_as_the_zone_model_read_it() -> None:
    text = extract_text(data_file(TD3).read_bytes(), "image/png").text
    zone_lines = [line for line in text.splitlines() if "<" in line]
    assert zone_lines == [
        "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
        "L898902C36UTO7408122F1204159ZE184226B<<<<<10",
    ]
    assert "ERIKSSON" in text.replace(zone_lines[0], "")  # the visual zone is read too


# --- pages turned and skewed ------------------------------------------------------------------


@pytest.mark.parametrize(
    "turn",
    [cv2.ROTATE_90_CLOCKWISE, cv2.ROTATE_180, cv2.ROTATE_90_COUNTERCLOCKWISE],
    ids=["quarter clockwise", "upside down", "quarter counter-clockwise"],
)
def test_a_page_photographed_turned_is_still_read(turn: int) -> None:
    page = td3_page()
    mrz = find_mrz(extract_text(encoded(cv2.rotate(page, turn)), "image/png").text)
    assert mrz is not None and mrz.valid
    assert (mrz.document_number, mrz.nationality, mrz.birth_date) == (
        "L898902C3",
        "UTO",
        "740812",
    )


@pytest.mark.parametrize("degrees", [-8.0, 6.0])
def test_a_skewed_scan_is_straightened_and_read(degrees: float) -> None:
    page = td3_page()
    height, width = page.shape
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), degrees, 1.0)
    skewed = cv2.warpAffine(page, matrix, (width, height), borderValue=255)
    mrz = find_mrz(extract_text(encoded(skewed), "image/png").text)
    assert mrz is not None and mrz.valid
    assert mrz.document_number == "L898902C3"


# --- no text: an exception for a human, never dropped -----------------------------------------


def blank_page() -> bytes:
    rng = np.random.default_rng(15)
    print("noise seed 15")
    paper = np.full((900, 1300), 235, np.uint8) + rng.integers(0, 12, (900, 1300), np.uint8)
    return encoded(cv2.GaussianBlur(paper, (5, 5), 0))


def test_an_image_without_text_is_unreadable_with_the_reason() -> None:
    with pytest.raises(DocumentUnreadable) as info:
        extract_text(blank_page(), "image/png")
    assert info.value.code == "no_text"


def test_an_image_without_text_becomes_an_exception_for_a_human(
    settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "blank.png"
    path.write_bytes(blank_page())
    arrival = arrival_event(path, source_system="t", customer_id="C", inline_max_bytes=1 << 24)
    [out] = classify_arrival(settings, "DocumentArrived", arrival)
    assert out.event_type == "ComplianceException"
    assert out.record["kind"] == "document_unreadable"
    assert out.record["details"]["code"] == "no_text"


def test_bytes_that_are_not_an_image_are_unreadable_as_corrupt() -> None:
    with pytest.raises(DocumentUnreadable) as info:
        extract_text(b"\x89PNG\r\n\x1a\n but nothing after", "image/png")
    assert info.value.code == "corrupt"


def test_an_image_claiming_too_many_pixels_is_refused_before_it_is_decoded() -> None:
    # 10,000 x 10,000 one-bit pixels: a few kilobytes of PNG, 100 million pixels once decoded.
    bomb = io.BytesIO()
    Image.new("1", (10_000, 10_000)).save(bomb, format="PNG")
    assert len(bomb.getvalue()) < 100_000
    with pytest.raises(DocumentUnreadable) as info:
        extract_text(bomb.getvalue(), "image/png")
    assert info.value.code == "too_large"


def test_an_image_too_small_to_hold_text_is_unreadable_without_text() -> None:
    ok, png = cv2.imencode(".png", np.full((8, 8), 255, dtype=np.uint8))
    assert ok
    with pytest.raises(DocumentUnreadable) as info:
        extract_text(png.tobytes(), "image/png")
    assert info.value.code == "no_text"


def test_a_fault_in_our_image_preparation_is_not_reported_as_a_corrupt_document(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(gray: object) -> object:
        raise cv2.error("a bug in our own preparation")

    monkeypatch.setattr(image_prep, "zone_bands", broken)
    with pytest.raises(cv2.error):
        extract_text(data_file(TD3).read_bytes(), "image/png")


# --- one Tesseract API per model and thread, reused -------------------------------------------


def test_the_tesseract_apis_are_made_once_and_reused_for_every_page() -> None:
    pages = [data_file(PHOTOS / name).read_bytes() for name in SPECIMENS[:3]]
    extract_text(pages[0], "image/jpeg")  # this thread's APIs exist from here on
    made = ocr_engine.apis_created()
    for page in pages:
        extract_text(page, "image/jpeg")
    assert ocr_engine.apis_created() == made


def test_each_thread_has_its_own_tesseract_apis() -> None:
    page = data_file(TD3).read_bytes()
    extract_text(page, "image/png")
    made = ocr_engine.apis_created()
    worker = threading.Thread(target=extract_text, args=(page, "image/png"))
    worker.start()
    worker.join(timeout=60)
    assert not worker.is_alive()
    assert ocr_engine.apis_created() == made + 2  # its own eng and mrz APIs
