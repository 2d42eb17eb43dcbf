"""OCR benchmark: how often the machine-readable zone of a specimen document photo or scan is
found and read right, and how many images one process reads per second.

Run from the project root:  .venv/bin/python benchmarks/ocr_quality_bench.py
Updates benchmarks/results/documents_quality.json (its other figures are kept).

The images are the labelled specimens of tests/data/documents/photos/labels.json (their
sources in SOURCES.md there): each with its zone transcribed by eye and a part, ``tuning``
(looked at while the image preparation was chosen) or ``held_back`` (only measured here).
Each image goes through the product's own path, ``extract_text`` (the zone found, cut out and
read with the MRZ model, then the page with eng), and ``find_mrz`` on the text, as the
classifier does. On the held-back part:

- ``mrz: images found``: a zone was found;
- ``mrz: images valid``: the zone read gives the labelled document number, nationality and
  birth date, and its verdict (check digits hold or not) is the label's.

Speed: every labelled image read once untimed (the Tesseract models loaded, as in a running
classifier), then all of them ``ROUNDS`` times, in one process. ``ocr: images/s per process``
reads them as the local classifier's process does: one thread per core
(``processors/classifier.py`` keeps ``os.cpu_count()`` documents in flight; tesserocr and
OpenCV release the interpreter lock while they work, and each thread has its own Tesseract
API objects). Beside it, one thread alone, and the CPU seconds per image, which other work on
the machine does not inflate.

RapidOCR (ONNX Runtime, PP-OCRv4 models inside the ``rapidocr-onnxruntime`` wheel) is measured
on the same images side by side when it is installed (it is not a dependency of the project):
the whole image, and the zone bands our preparation cuts out, one ONNX thread.
"""

from __future__ import annotations

import json
import os
import resource
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from host import ROOT, brief_machine, use_checkout, write_results

RESULTS = ROOT / "benchmarks" / "results" / "documents_quality.json"
DOCUMENTS = ROOT / "tests" / "data" / "documents"
LABELS = DOCUMENTS / "photos" / "labels.json"
COMMAND = ".venv/bin/python benchmarks/ocr_quality_bench.py"
ROUNDS = 2
RAPIDOCR_SPEED_IMAGES = 4  # RapidOCR takes seconds an image: its speed on the first few
TARGET_FOUND = 0.85
TARGET_VALID = 0.75
TARGET_IMAGES_PER_S = 5.0

use_checkout()

from compliance.documents.reference import guess_media_type  # noqa: E402
from compliance.documents.text import extract_text  # noqa: E402
from compliance.errors import DocumentUnreadable  # noqa: E402
from compliance.mrz import MRZ, find_mrz  # noqa: E402

Reader = Callable[[bytes, str], str]


def labelled() -> list[dict[str, Any]]:
    images: list[dict[str, Any]] = json.loads(LABELS.read_text(encoding="utf-8"))["images"]
    return images


def product_text(data: bytes, media_type: str) -> str:
    try:
        text: str = extract_text(data, media_type).text
        return text
    except DocumentUnreadable:
        return ""


def right(mrz: MRZ | None, label: dict[str, Any]) -> bool:
    if mrz is None:
        return False
    fields = (mrz.document_number, mrz.nationality, mrz.birth_date)
    expected = (label["document_number"], label["nationality"], label["birth_date"])
    return fields == expected and mrz.valid == label["valid_as_printed"]


def quality(read: Reader, images: list[dict[str, Any]]) -> tuple[float, float, list[str]]:
    found = valid = 0
    misses = []
    for label in images:
        path = DOCUMENTS / label["image"]
        mrz = find_mrz(read(path.read_bytes(), guess_media_type(path.name)))
        found += mrz is not None
        if right(mrz, label):
            valid += 1
        else:
            misses.append(label["image"])
    return found / len(images), valid / len(images), misses


def speed(read: Reader, images: list[dict[str, Any]], threads: int = 1) -> tuple[float, float]:
    """(images/s by the wall clock, CPU seconds per image) over ROUNDS passes, after one, with
    ``threads`` images in flight at once."""
    blobs = [((DOCUMENTS / i["image"]).read_bytes(), guess_media_type(i["image"])) for i in images]
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda blob: read(*blob), blobs * threads))  # each thread's models loaded
        before, started = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        list(pool.map(lambda blob: read(*blob), blobs * ROUNDS))
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    count = ROUNDS * len(blobs)
    return count / wall, cpu / count


def rapidocr_readers() -> dict[str, Reader] | None:
    try:
        from rapidocr_onnxruntime import RapidOCR
    except ImportError:
        return None
    import cv2
    import numpy as np

    from compliance.documents import image_prep

    engine = RapidOCR(intra_op_num_threads=1, inter_op_num_threads=1)

    def lines(image: Any) -> str:
        result, _ = engine(image)
        boxes = sorted(result or [], key=lambda r: (r[0][0][1] + r[0][2][1]) / 2)
        return "\n".join(str(r[1]).replace(" ", "") for r in boxes)

    def whole(data: bytes, _media_type: str) -> str:
        return lines(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR))

    def bands(data: bytes, _media_type: str) -> str:
        gray = image_prep.decode(data)
        fallback = ""
        for band in image_prep.zone_bands(gray):
            for turns in (0, 2):
                text = lines(cv2.cvtColor(image_prep.turn(band.image, turns), cv2.COLOR_GRAY2BGR))
                mrz = find_mrz(text)
                if mrz is not None and mrz.valid:
                    return text
                fallback = fallback or (text if mrz is not None else "")
        return fallback

    return {"RapidOCR, whole image": whole, "RapidOCR, zone bands": bands}


def figure(value: float, unit: str, target: float | None) -> dict[str, Any]:
    return {"value": round(value, 3), "unit": unit, "target": target}


def main() -> None:
    images = labelled()
    held_back = [i for i in images if i["part"] == "held_back"]
    tuning = [i for i in images if i["part"] == "tuning"]
    figures: dict[str, dict[str, Any]] = {}

    found, valid, misses = quality(product_text, held_back)
    figures["mrz: images found"] = figure(found, "fraction of held-back images", TARGET_FOUND)
    figures["mrz: images valid"] = figure(valid, "fraction of held-back images", TARGET_VALID)
    print(f"held back ({len(held_back)}): found {found:.2f}, valid {valid:.2f}; missed {misses}")
    found_t, valid_t, misses_t = quality(product_text, tuning)
    figures["mrz: images found (tuning part)"] = figure(found_t, "fraction of tuning images", None)
    figures["mrz: images valid (tuning part)"] = figure(valid_t, "fraction of tuning images", None)
    print(f"tuning ({len(tuning)}): found {found_t:.2f}, valid {valid_t:.2f}; missed {misses_t}")

    threads = os.cpu_count() or 1
    per_s, cpu_n = speed(product_text, images, threads)
    figures["ocr: images/s per process"] = figure(per_s, "images/s", TARGET_IMAGES_PER_S)
    figures["ocr: threads in the process"] = figure(threads, "threads (one per core)", None)
    one_per_s, cpu = speed(product_text, images)
    figures["ocr: images/s, one thread"] = figure(one_per_s, "images/s", None)
    figures["ocr: CPU seconds per image"] = figure(cpu, "s", None)
    figures["ocr: images/s per process by CPU time"] = figure(1 / cpu, "images/s", None)
    print(
        f"speed: {per_s:.2f} images/s with {threads} threads ({cpu_n:.3f} CPU s/image), "
        f"{one_per_s:.2f} with one ({cpu:.3f} CPU s/image)"
    )

    rapid = rapidocr_readers()
    if rapid is None:
        print("RapidOCR is not installed: not measured")
    for name, read in (rapid or {}).items():
        found_r, valid_r, misses_r = quality(read, held_back)
        print(f"{name}: missed {misses_r}")
        _, cpu_r = speed(read, images[:RAPIDOCR_SPEED_IMAGES])
        figures[f"mrz: images found ({name})"] = figure(found_r, "fraction of held-back", None)
        figures[f"mrz: images valid ({name})"] = figure(valid_r, "fraction of held-back", None)
        figures[f"ocr: CPU seconds per image ({name})"] = figure(cpu_r, "s", None)
        print(f"{name}: found {found_r:.2f}, valid {valid_r:.2f}, {cpu_r:.3f} CPU s/image")
    write_results(RESULTS, COMMAND, brief_machine(), figures, keep_others=True)


if __name__ == "__main__":
    main()
