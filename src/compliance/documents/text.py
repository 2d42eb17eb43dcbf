"""Text extraction: plain text and statements as they are, PDFs from their text layer and
filled form fields (PDFium, see ``compliance.documents.pdf``), photos and scans through
Tesseract OCR in this process (``compliance.documents.image_text``: the machine-readable zone
found and read on its own, then the page). A file that yields no text is unreadable, with the
reason: an exception for a human, never dropped.

NUL characters are removed from the text: they carry nothing a reader could see, and
PostgreSQL (the LLM cache, the checker's state, the audit trail) cannot store them.

Images need Tesseract's ``eng`` model (Debian: tesseract-ocr-eng) and the ``tesserocr``
package: the classifier checks for them at start-up (``require_ocr``) and stops with one
sentence if one is missing, rather than turning every scan into an exception. Running out of
memory while reading an image is an outage (``RetryableError``): the document waits."""

from __future__ import annotations

from dataclasses import dataclass

from compliance.documents.image_text import read_image
from compliance.documents.ocr_engine import require_tesseract
from compliance.documents.pdf import pdf_text
from compliance.errors import DocumentUnreadable, RetryableError

TEXT_TYPES = {"text/plain", "application/x-swift-mt940", "application/json", "text/csv"}
IMAGE_TYPES = {"image/png", "image/jpeg", "image/tiff"}


@dataclass(frozen=True)
class ExtractedText:
    text: str
    method: str  # text, pdf-text, ocr


def extract_text(data: bytes, media_type: str) -> ExtractedText:
    if not data:
        raise DocumentUnreadable("document is empty", "empty")
    if media_type in TEXT_TYPES or media_type.startswith("text/"):
        result = ExtractedText(_decode(data), "text")
    elif media_type == "application/pdf":
        result = ExtractedText(pdf_text(data), "pdf-text")
    elif media_type in IMAGE_TYPES:
        result = ExtractedText(_ocr(data), "ocr")
    else:
        raise DocumentUnreadable(f"no text extractor for media type {media_type}", "unsupported")
    if "\x00" in result.text:
        result = ExtractedText(result.text.replace("\x00", ""), result.method)
    if not result.text.strip():
        raise DocumentUnreadable(f"no text found in the document ({result.method})", "no_text")
    return result


def require_ocr() -> str:
    """The folder of Tesseract's models, or ConfigurationError with one sentence."""
    return str(require_tesseract())


def _decode(data: bytes) -> str:
    if b"\x00" in data[:4096]:
        raise DocumentUnreadable("binary content announced as text", "not_text")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _ocr(data: bytes) -> str:
    require_ocr()
    try:
        return read_image(data)
    except MemoryError:
        raise RetryableError("out of memory reading an image (OCR)") from None
