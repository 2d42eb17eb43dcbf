"""Tesseract in this process (``tesserocr``): one API object per model and thread, loaded once
and reused for every page, instead of a ``tesseract`` process started per page.

Two models:

- ``eng`` (Debian's ``tesseract-ocr-eng``, found in the system's tessdata folder) reads a page's
  text for the classifier;
- ``mrz`` (shipped in ``compliance/documents/tessdata``: Doubango Telecom's ``tesseractMRZ``
  model trained on machine-readable zones, BSD-3-Clause, see ``LICENSE.mrz`` there) reads a
  zone band cut out of the image, limited to the zone's alphabet ``A-Z0-9<``.

A Tesseract API object is not safe to share between threads, so each thread has its own; they
live as long as the thread. Every recognition has a deadline (``OCR_TIMEOUT_S``): a page that
outlasts it is unreadable, never a stuck classifier.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from compliance.errors import ConfigurationError, DocumentUnreadable

OCR_TIMEOUT_S = 120
MRZ_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<"
MRZ_TESSDATA = Path(__file__).resolve().parent / "tessdata"
# Where Debian (5.x and 4.x packages), other distributions and a source build put the models.
_SYSTEM_TESSDATA = (
    "/usr/share/tesseract-ocr/5/tessdata",
    "/usr/share/tesseract-ocr/4.00/tessdata",
    "/usr/share/tessdata",
    "/usr/local/share/tessdata",
)

Gray = npt.NDArray[np.uint8]
# No dictionaries for a zone: its names and numbers are not words.
_NO_DICTIONARY = {"load_system_dawg": "F", "load_freq_dawg": "F"}


def system_tessdata() -> Path | None:
    """The folder holding ``eng.traineddata``: ``$TESSDATA_PREFIX`` first, then the usual
    places; None when there is none."""
    candidates = [os.environ.get("TESSDATA_PREFIX", ""), *_SYSTEM_TESSDATA]
    for folder in candidates:
        if folder and (Path(folder) / "eng.traineddata").is_file():
            return Path(folder)
    return None


def require_tesseract() -> Path:
    """The tessdata folder with the ``eng`` model, or ConfigurationError with one sentence."""
    try:
        import tesserocr  # noqa: F401  (a missing wheel is said here, at start-up)
    except ImportError:
        raise ConfigurationError(
            "the tesserocr package (Tesseract OCR in process) is not installed; reinstall the "
            "project so scanned documents can be read"
        ) from None
    folder = system_tessdata()
    if folder is None:
        raise ConfigurationError(
            "no tesseract OCR model eng.traineddata was found (set TESSDATA_PREFIX or install "
            "Debian's tesseract-ocr-eng) so scanned documents can be read"
        )
    return folder


@dataclass(frozen=True)
class Model:
    tessdata: Path
    lang: str
    psm: int  # page segmentation mode
    whitelist: str = ""


def page_model() -> Model:
    return Model(require_tesseract(), "eng", psm=3)


def mrz_model() -> Model:
    return Model(MRZ_TESSDATA, "mrz", psm=6, whitelist=MRZ_ALPHABET)


class _Apis(threading.local):
    def __init__(self) -> None:
        self.by_model: dict[Model, object] = {}


_apis = _Apis()
_created = 0  # API objects made in this process (so tests can see them reused)
_created_lock = threading.Lock()


def apis_created() -> int:
    return _created


def _api(model: Model) -> object:
    api = _apis.by_model.get(model)
    if api is None:
        import tesserocr

        try:
            api = tesserocr.PyTessBaseAPI(
                path=f"{model.tessdata}/",
                lang=model.lang,
                psm=model.psm,
                oem=tesserocr.OEM.LSTM_ONLY,
                variables=_NO_DICTIONARY if model.lang == "mrz" else {},
            )
        except RuntimeError as exc:
            raise ConfigurationError(
                f"tesseract OCR cannot load its {model.lang} model from {model.tessdata}: {exc}"
            ) from None
        if model.whitelist:
            api.SetVariable("tessedit_char_whitelist", model.whitelist)
        # Tesseract reads a line it is unsure of a second time inverted (light on dark): our
        # documents print dark on light, and that second reading doubles the time of a photo.
        api.SetVariable("tessedit_do_invert", "0")
        _apis.by_model[model] = api
        global _created
        with _created_lock:
            _created += 1
    return api


def recognise(image: Gray, model: Model) -> str:
    """The text Tesseract reads in the 8-bit grey ``image`` with ``model``."""
    api = _api(model)
    height, width = image.shape
    data = np.ascontiguousarray(image)
    api.SetImageBytes(data.tobytes(), width, height, 1, width)  # type: ignore[attr-defined]
    api.SetSourceResolution(300)  # type: ignore[attr-defined]
    if not api.Recognize(timeout=OCR_TIMEOUT_S * 1000):  # type: ignore[attr-defined]
        api.Clear()  # type: ignore[attr-defined]
        raise DocumentUnreadable(f"OCR took over {OCR_TIMEOUT_S} s", "ocr_timeout")
    text: str = api.GetUTF8Text()  # type: ignore[attr-defined]
    api.Clear()  # type: ignore[attr-defined]
    return text
