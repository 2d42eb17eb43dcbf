"""Text extraction: plain text and statements as they are, PDFs from their text layer and
filled form fields (PDFium, see ``compliance.documents.pdf``), images through Tesseract OCR.
A file that yields no text is unreadable, with the reason.

NUL characters are removed from the text: they carry nothing a reader could see, and
PostgreSQL (the LLM cache, the checker's state, the audit trail) cannot store them.

Images need the ``tesseract`` binary: the classifier checks for it at start-up
(``require_ocr``) and stops with one sentence if it is missing, rather than turning every
scan into an exception. A temporary file or subprocess that fails for lack of disk, memory or
processes is an outage (``RetryableError``): the document waits."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass

from compliance.documents.io_errors import is_transient, outage
from compliance.documents.pdf import pdf_text
from compliance.errors import ConfigurationError, DocumentUnreadable

TEXT_TYPES = {"text/plain", "application/x-swift-mt940", "application/json", "text/csv"}
IMAGE_TYPES = {"image/png", "image/jpeg", "image/tiff"}
OCR_TIMEOUT_S = 120


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
    """The path of the ``tesseract`` binary, or ConfigurationError with one sentence."""
    tesseract = shutil.which("tesseract")
    if tesseract is None:
        raise ConfigurationError(
            "the tesseract OCR binary is not on PATH; install it (Debian: apt-get install "
            "tesseract-ocr) so scanned documents can be read"
        )
    return tesseract


def _decode(data: bytes) -> str:
    if b"\x00" in data[:4096]:
        raise DocumentUnreadable("binary content announced as text", "not_text")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _ocr(data: bytes) -> str:
    tesseract = require_ocr()
    try:
        done = _run_tesseract(tesseract, data)
    except subprocess.TimeoutExpired:
        raise DocumentUnreadable(f"OCR took over {OCR_TIMEOUT_S} s", "ocr_timeout") from None
    except (FileNotFoundError, PermissionError):  # removed or broken since start-up
        raise ConfigurationError(f"the tesseract OCR binary {tesseract} cannot be run") from None
    except OSError as exc:
        if is_transient(exc):
            raise outage(exc, "running OCR") from exc
        raise
    if done.returncode != 0:
        reason = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["?"]
        raise DocumentUnreadable(f"OCR failed: {reason[0]}", "corrupt")
    return done.stdout.decode("utf-8", "replace")


def _run_tesseract(tesseract: str, data: bytes) -> subprocess.CompletedProcess[bytes]:
    with tempfile.NamedTemporaryFile(suffix=".img") as image:
        image.write(data)
        image.flush()
        return subprocess.run(
            [tesseract, image.name, "stdout"],
            capture_output=True,
            timeout=OCR_TIMEOUT_S,
            check=False,
            # One thread per OCR: the classifier runs several documents at once already.
            env={**os.environ, "OMP_THREAD_LIMIT": "1"},
        )
