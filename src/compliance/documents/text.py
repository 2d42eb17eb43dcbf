"""Text extraction: plain text and statements as they are, PDFs from their text layer, images
through Tesseract OCR. A file that yields no text is unreadable, with the reason."""

from __future__ import annotations

import io
import shutil
import subprocess
import tempfile
from dataclasses import dataclass

from pypdf import PdfReader
from pypdf.errors import PdfReadError

from compliance.errors import DocumentUnreadable

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
        result = ExtractedText(_pdf_text(data), "pdf-text")
    elif media_type in IMAGE_TYPES:
        result = ExtractedText(_ocr(data), "ocr")
    else:
        raise DocumentUnreadable(f"no text extractor for media type {media_type}", "unsupported")
    if not result.text.strip():
        raise DocumentUnreadable(f"no text found in the document ({result.method})", "no_text")
    return result


def _decode(data: bytes) -> str:
    if b"\x00" in data[:4096]:
        raise DocumentUnreadable("binary content announced as text", "not_text")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _pdf_text(data: bytes) -> str:
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise DocumentUnreadable("PDF is encrypted", "encrypted")
        return "\n".join(page.extract_text() or "" for page in reader.pages)
    except (PdfReadError, ValueError, KeyError, TypeError) as exc:
        raise DocumentUnreadable(f"corrupt PDF: {exc}", "corrupt") from None


def _ocr(data: bytes) -> str:
    tesseract = shutil.which("tesseract")
    if tesseract is None:
        raise DocumentUnreadable("image needs OCR but tesseract is not installed", "no_ocr")
    with tempfile.NamedTemporaryFile(suffix=".img") as image:
        image.write(data)
        image.flush()
        done = subprocess.run(
            [tesseract, image.name, "stdout"], capture_output=True, timeout=120, check=False
        )
    if done.returncode != 0:
        reason = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["?"]
        raise DocumentUnreadable(f"OCR failed: {reason[0]}", "corrupt")
    return done.stdout.decode("utf-8", "replace")
