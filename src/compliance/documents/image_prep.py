"""Preparing a photo or scan for OCR (OpenCV): decode it to grey, bring its size into the range
Tesseract reads well, and find the bands of text that may be a machine-readable zone.

A zone is two or three lines of evenly spaced OCR-B characters across most of the document's
width, with strong vertical strokes: on the image's horizontal gradient, closed with a wide
kernel, it becomes one long flat blob. Each blob of a zone's proportions is cut out along its
own angle (which deskews it), with a margin, scaled to a width Tesseract reads well and given
back best first. A document photographed sideways has its zone standing upright: the search
runs on the image turned a quarter too. Upside down is for the reader to try (the blob looks
the same either way).
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image, UnidentifiedImageError

from compliance.documents.ocr_engine import Gray
from compliance.errors import DocumentUnreadable

_WORK_WIDTH = 900  # the search runs on a copy this wide
_PAGE_MAX = 2000  # the page is read at most this long on its longer side
_PAGE_MIN = 800  # ... and at least this long (small photos are enlarged)
_BAND_WIDTH = 800  # a band is read at this width
_MIN_BAND_SHARE = 0.35  # of the image's width
_MIN_ASPECT = 3.5  # width / height of a blob that may be a zone (TD1 ~5, TD3 ~10)
_MAX_BANDS = 3  # per orientation

# One thread per image: the classifier reads several documents at once already, and OpenCV's
# own threads would only compete with them.
cv2.setNumThreads(1)


@dataclass(frozen=True)
class Band:
    image: Gray  # the band, deskewed and scaled
    quarter_turns: int  # how far the page is turned (counter-clockwise) for the band to stand
    score: float
    outline: npt.NDArray[np.int32]  # its four corners on the page as given (x, y)


def blank(gray: Gray, band: Band) -> Gray:
    """``gray`` with ``band`` painted white (what is read in the band need not be read again)."""
    out = gray.copy()
    cv2.fillPoly(out, [band.outline], 255)
    return out


# A 600 dpi scan of an A4 page is about 35 million pixels; a few kilobytes of PNG can claim a
# billion (a decompression bomb), which would be read into memory before anything else.
MAX_PIXELS = 50_000_000
MIN_SIDE = 16  # pixels: anything smaller holds no readable text


def decode(data: bytes) -> Gray:
    """The image as 8-bit grey, or DocumentUnreadable when it is not an image we can decode
    (``corrupt``), claims more than ``MAX_PIXELS`` in its header (``too_large``, found before
    decoding) or is too small to hold text (``no_text``)."""
    width, height = _header_size(data)
    if width * height > MAX_PIXELS:
        raise DocumentUnreadable(
            f"the image is {width} x {height} pixels, over the {MAX_PIXELS:,} read", "too_large"
        )
    raw = np.frombuffer(data, dtype=np.uint8)
    try:
        image = cv2.imdecode(raw, cv2.IMREAD_GRAYSCALE)
    except cv2.error:  # a header OpenCV refuses
        image = None
    if image is None or image.size == 0:
        raise DocumentUnreadable("the image cannot be decoded (corrupt or not an image)", "corrupt")
    if min(image.shape[:2]) < MIN_SIDE:
        raise DocumentUnreadable(f"the image is under {MIN_SIDE} pixels on a side", "no_text")
    return np.asarray(image, dtype=np.uint8)


def _header_size(data: bytes) -> tuple[int, int]:
    """Width and height as the image's header gives them (Pillow reads the header only);
    (0, 0) when Pillow does not know the format (OpenCV then decides)."""
    try:
        with warnings.catch_warnings():  # a large size is ours to judge, not Pillow's to warn of
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
                return int(width), int(height)
    except Image.DecompressionBombError:
        return MAX_PIXELS, 2
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return 0, 0


def page(gray: Gray) -> Gray:
    """``gray`` scaled so that its longer side is within the range Tesseract reads well."""
    longer = max(gray.shape)
    if longer > _PAGE_MAX:
        return _scale(gray, _PAGE_MAX / longer)
    if longer < _PAGE_MIN:
        return _scale(gray, _PAGE_MIN / longer, cv2.INTER_CUBIC)
    return gray


def turn(gray: Gray, quarter_turns: int) -> Gray:
    if quarter_turns % 4 == 0:
        return gray
    codes = {1: cv2.ROTATE_90_COUNTERCLOCKWISE, 2: cv2.ROTATE_180, 3: cv2.ROTATE_90_CLOCKWISE}
    return np.asarray(cv2.rotate(gray, codes[quarter_turns % 4]), dtype=np.uint8)


def zone_bands(gray: Gray) -> Iterator[Band]:
    """Candidate zone bands of ``gray``, the likeliest first: those of the page as it is, then
    (searched only if asked for more) those of the page turned a quarter."""
    for quarter in (0, 1):
        yield from _bands(gray, quarter)


def binarised(band: Gray) -> Gray:
    """Black text on white (Otsu's threshold after a light blur)."""
    blurred = cv2.GaussianBlur(band, (3, 3), 0)
    _, out = cv2.threshold(blurred, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return np.asarray(out, dtype=np.uint8)


def _scale(gray: Gray, factor: float, interpolation: int = cv2.INTER_AREA) -> Gray:
    height, width = gray.shape
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    return np.asarray(cv2.resize(gray, size, interpolation=interpolation), dtype=np.uint8)


def _bands(page: Gray, quarter: int) -> list[Band]:
    gray = turn(page, quarter)
    factor = _WORK_WIDTH / gray.shape[1]
    small = _scale(gray, factor, cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR)
    height, width = small.shape
    unit = max(1, width // 100)  # kernels follow the image's size
    blackhat = cv2.morphologyEx(
        small, cv2.MORPH_BLACKHAT, cv2.getStructuringElement(cv2.MORPH_RECT, (3 * unit, unit))
    )
    gradient = np.absolute(cv2.Sobel(blackhat, cv2.CV_32F, 1, 0, ksize=-1))
    peak = float(gradient.max()) or 1.0
    strokes = (gradient * (255.0 / peak)).astype(np.uint8)
    lines = cv2.morphologyEx(
        strokes, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (4 * unit, unit))
    )
    _, mask = cv2.threshold(lines, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    # Join a zone's lines into one blob, then cut thin links to its neighbours.
    mask = cv2.morphologyEx(
        mask, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (3 * unit, 3 * unit))
    )
    mask = cv2.erode(mask, np.ones((3, 3), np.uint8), iterations=2)
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    bands: list[Band] = []
    for contour in contours:
        (cx, cy), (w, h), angle = cv2.minAreaRect(contour)
        if h > w:  # minAreaRect may name the long side height
            w, h, angle = h, w, angle - 90
        angle = (angle + 90) % 180 - 90  # the smaller turn that lays the band flat
        if w < _MIN_BAND_SHARE * width or h < 2 * unit or w / h < _MIN_ASPECT:
            continue
        fill = cv2.contourArea(contour) / (w * h)
        score = (w / width) * fill * (0.5 + cy / height)  # wide, solid, low on the page
        crop, corners = _cut(gray, (cx / factor, cy / factor), (w / factor, h / factor), angle)
        if quarter:  # back from the page turned a quarter counter-clockwise to the page
            corners = np.stack([page.shape[1] - 1 - corners[:, 1], corners[:, 0]], axis=1)
        # Both turns are counter-clockwise: the page's, then the band's own straightening.
        turns = round((90 * quarter + angle) / 90) % 4
        bands.append(Band(crop, turns, score, np.round(corners).astype(np.int32)))
    return sorted(bands, key=lambda b: -b.score)[:_MAX_BANDS]


def _cut(
    gray: Gray, centre: tuple[float, float], size: tuple[float, float], angle: float
) -> tuple[Gray, npt.NDArray[np.float64]]:
    """The rectangle at ``centre`` of ``size`` turned by ``angle``, straightened, with a
    margin, scaled to the band width; and its corners in ``gray``."""
    w, h = size
    w, h = w * 1.06 + 10, h * 1.6 + 10
    matrix = cv2.getRotationMatrix2D(centre, angle, 1.0)
    matrix[0, 2] += w / 2 - centre[0]
    matrix[1, 2] += h / 2 - centre[1]
    band = cv2.warpAffine(
        gray,
        matrix,
        (round(w), round(h)),
        flags=cv2.INTER_CUBIC,
        borderMode=cv2.BORDER_REPLICATE,
    )
    back = cv2.invertAffineTransform(matrix)
    box = np.array([[0, 0, 1], [w, 0, 1], [w, h, 1], [0, h, 1]], dtype=np.float64)
    corners = box @ back.T
    scaled = _scale(np.asarray(band, dtype=np.uint8), _BAND_WIDTH / band.shape[1], cv2.INTER_CUBIC)
    return scaled, corners
