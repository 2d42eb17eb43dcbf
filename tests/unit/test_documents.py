"""Documents: resolving references safely (fetch) and reading their text (extract_text)."""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfWriter

from compliance.documents import ocr_engine
from compliance.documents import text as text_module
from compliance.documents.reference import INLINE_URI, describe, fetch, guess_media_type
from compliance.documents.text import extract_text
from compliance.errors import ConfigurationError, DocumentUnreadable, RetryableError
from compliance.publisher import arrival_event
from tests.data_files import DOCUMENTS, data_file

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SAMPLES = PROJECT_ROOT / "samples" / "documents"
INVOICES = DOCUMENTS / "invoices"
ID_SPECIMENS = DOCUMENTS / "id_specimens"
MAX = 1024 * 1024
CONTENT = b"UTOPIA - PASSPORT\nSurname: HALVORSEN\n"


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    root = tmp_path / "docs"
    root.mkdir()
    (root / "passport.txt").write_bytes(CONTENT)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(b"not for the classifier\n")
    return root


def _arrival(path: Path, **overrides: Any) -> dict[str, Any]:
    record = arrival_event(path, source_system="test", customer_id="C-1")
    record.update(overrides)
    return record


def _unreadable(arrival: dict[str, Any], roots: list[Path], max_bytes: int = MAX) -> str:
    with pytest.raises(DocumentUnreadable) as info:
        fetch(arrival, roots, max_bytes)
    assert info.value.reason == str(info.value) and info.value.reason
    return info.value.code


# --- fetch -------------------------------------------------------------------------------------


def test_fetch_reads_a_file_inside_a_document_root_and_checks_its_hash(docs: Path) -> None:
    arrival = _arrival(docs / "passport.txt")
    assert arrival["uri"].startswith("file://")
    assert fetch(arrival, [docs], MAX) == CONTENT


def test_fetch_returns_inline_content_without_reading_any_file(docs: Path) -> None:
    arrival = arrival_event(docs / "passport.txt", source_system="test", inline_max_bytes=1024)
    assert arrival["uri"] == INLINE_URI
    (docs / "passport.txt").unlink()  # the inline event does not need the file any more
    assert fetch(arrival, [], MAX) == CONTENT


def test_fetch_refuses_inline_content_that_does_not_match_its_hash(docs: Path) -> None:
    arrival = arrival_event(docs / "passport.txt", source_system="test", inline_max_bytes=1024)
    arrival["inline_content"] = CONTENT.replace(b"HALVORSEN", b"MALLORY")
    assert _unreadable(arrival, [docs]) == "hash_mismatch"


def test_fetch_refuses_a_file_outside_the_document_roots(docs: Path) -> None:
    arrival = _arrival(docs.parent / "outside" / "secret.txt")
    assert _unreadable(arrival, [docs]) == "forbidden"


@pytest.mark.parametrize(
    "relative",
    [
        "/../outside/secret.txt",
        "/%2e%2e/outside/secret.txt",
        "/sub/../../outside/secret.txt",
        "/../docs-evil/secret.txt",  # a sibling whose name starts like the root's
    ],
)
def test_fetch_refuses_path_traversal_out_of_a_root(docs: Path, relative: str) -> None:
    evil = docs.parent / "docs-evil"
    evil.mkdir()
    (evil / "secret.txt").write_bytes(b"not for the classifier\n")
    secret = b"not for the classifier\n"
    arrival = _arrival(
        docs / "passport.txt",
        uri=docs.as_uri() + relative,
        size_bytes=len(secret),
        sha256=hashlib.sha256(secret).hexdigest(),
    )
    assert _unreadable(arrival, [docs]) == "forbidden"


def test_fetch_refuses_a_symlink_inside_a_root_that_points_outside(docs: Path) -> None:
    link = docs / "innocent.txt"
    os.symlink(docs.parent / "outside" / "secret.txt", link)
    assert _unreadable(_arrival(link), [docs]) == "forbidden"


def test_fetch_refuses_a_file_whose_content_changed_since_it_was_announced(docs: Path) -> None:
    arrival = _arrival(docs / "passport.txt")
    (docs / "passport.txt").write_bytes(CONTENT.replace(b"HALVORSEN", b"MALLORY"))
    assert _unreadable(arrival, [docs]) == "hash_mismatch"


def test_fetch_refuses_a_document_announced_as_too_large(docs: Path) -> None:
    arrival = _arrival(docs / "passport.txt")
    assert _unreadable(arrival, [docs], max_bytes=len(CONTENT) - 1) == "too_large"


def test_fetch_refuses_a_file_larger_than_announced_and_allowed(docs: Path) -> None:
    arrival = _arrival(docs / "passport.txt")  # announced at its current size
    (docs / "passport.txt").write_bytes(CONTENT * 100)
    assert _unreadable(arrival, [docs], max_bytes=len(CONTENT) * 10) == "too_large"


def test_fetch_refuses_a_missing_file(docs: Path) -> None:
    arrival = _arrival(docs / "passport.txt", uri=(docs / "gone.txt").as_uri())
    assert _unreadable(arrival, [docs]) == "missing"


def test_fetch_refuses_a_folder_as_a_document(docs: Path) -> None:
    (docs / "folder").mkdir()
    arrival = _arrival(docs / "passport.txt", uri=(docs / "folder").as_uri())
    assert _unreadable(arrival, [docs]) == "io_error"


@pytest.mark.parametrize(
    "uri", ["https://example.com/passport.txt", "ftp://h/p", "data:,x", "S3:/bucket/passport.txt"]
)
def test_fetch_refuses_an_unsupported_reference_scheme(docs: Path, uri: str) -> None:
    arrival = _arrival(docs / "passport.txt", uri=uri)
    with pytest.raises(DocumentUnreadable, match="unsupported document reference scheme") as info:
        fetch(arrival, [docs], MAX)
    assert info.value.code == "bad_uri"


def test_describe_reports_type_size_and_hash_of_a_sample() -> None:
    path = SAMPLES / "statement_abnamro.sta"
    described = describe(path)
    data = path.read_bytes()
    assert described.media_type == "application/x-swift-mt940"
    assert (described.size_bytes, described.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    assert described.uri == path.resolve().as_uri() and described.inline_content is None
    assert guess_media_type("scan.pdf") == "application/pdf"
    assert guess_media_type("no-extension") == "application/octet-stream"


# --- extract_text ------------------------------------------------------------------------------

INVOICE_PDFS = sorted(p.stem for p in INVOICES.glob("*.json") if p.with_suffix(".pdf").is_file())


def _squash(text: str) -> str:
    return "".join(text.split()).lower()


@pytest.mark.parametrize("stem", INVOICE_PDFS or ["<no invoices found>"])
def test_extract_text_reads_the_text_layer_of_a_real_invoice_pdf(stem: str) -> None:
    pdf = data_file(INVOICES / f"{stem}.pdf")
    expected = json.loads(pdf.with_suffix(".json").read_text(encoding="utf-8"))[0]
    extracted = extract_text(pdf.read_bytes(), "application/pdf")
    assert extracted.method == "pdf-text"
    assert _squash(str(expected["invoice_number"])) in _squash(extracted.text)


def test_extract_text_turns_the_truncated_scan_into_document_unreadable() -> None:
    data = (SAMPLES / "scan_truncated.pdf").read_bytes()
    with pytest.raises(DocumentUnreadable, match="corrupt PDF") as info:
        extract_text(data, "application/pdf")
    assert info.value.code == "corrupt"


@pytest.mark.parametrize("media_type", ["text/plain", "application/pdf", "image/png"])
def test_extract_text_turns_empty_bytes_into_document_unreadable(media_type: str) -> None:
    with pytest.raises(DocumentUnreadable) as info:
        extract_text(b"", media_type)
    assert info.value.code == "empty"


@pytest.mark.parametrize("image", ["100_pass-uto.jpg", "passport-td3.png"])
def test_extract_text_refuses_binary_content_announced_as_text(image: str) -> None:
    with pytest.raises(DocumentUnreadable, match="binary content") as info:
        extract_text(data_file(ID_SPECIMENS / image).read_bytes(), "text/plain")
    assert info.value.code == "not_text"


def test_extract_text_refuses_a_pdf_without_a_text_layer() -> None:
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    buffer = io.BytesIO()
    writer.write(buffer)
    with pytest.raises(DocumentUnreadable) as info:
        extract_text(buffer.getvalue(), "application/pdf")
    assert info.value.code == "no_text"


def test_extract_text_refuses_an_encrypted_pdf() -> None:
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    writer.encrypt(user_password="secret", algorithm="RC4-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    with pytest.raises(DocumentUnreadable) as info:
        extract_text(buffer.getvalue(), "application/pdf")
    assert info.value.code == "encrypted"


@pytest.mark.parametrize("data", [b"   \n\t \n", b"\n"])
def test_extract_text_refuses_text_that_is_only_whitespace(data: bytes) -> None:
    with pytest.raises(DocumentUnreadable) as info:
        extract_text(data, "text/plain")
    assert info.value.code == "no_text"


def test_extract_text_refuses_an_unsupported_media_type() -> None:
    with pytest.raises(DocumentUnreadable) as info:
        extract_text(b"PK\x03\x04zip", "application/zip")
    assert info.value.code == "unsupported"


def test_extract_text_reads_utf8_and_falls_back_to_latin1() -> None:
    assert extract_text("Straße 1, Tromsø".encode(), "text/plain").text == "Straße 1, Tromsø"
    assert extract_text("Tromsø".encode("latin-1"), "text/plain").text == "Tromsø"
    statement = extract_text(
        (SAMPLES / "statement_abnamro.sta").read_bytes(), "application/x-swift-mt940"
    )
    assert statement.method == "text"
    assert ":25:517852257" in statement.text


def test_extract_text_of_an_image_without_tesseract_stops_the_process_not_the_document(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ocr_engine, "system_tessdata", lambda: None)
    with pytest.raises(ConfigurationError, match="tesseract"):
        extract_text(data_file(ID_SPECIMENS / "passport-td3.png").read_bytes(), "image/png")


def test_the_classifier_refuses_to_start_without_tesseract_in_one_sentence(
    monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    from compliance.processors import classifier

    monkeypatch.setattr(classifier.kafka_io, "require_broker", lambda _settings: None)
    monkeypatch.setattr(ocr_engine, "system_tessdata", lambda: None)
    with pytest.raises(ConfigurationError) as info:
        classifier.main(settings, threading.Event())
    assert "tesseract" in str(info.value) and str(info.value).count(". ") == 0


# --- storage that fails under a read: the document waits -------------------------------------

TRANSIENT = [errno.EIO, errno.ESTALE, errno.ENOSPC, errno.EAGAIN, errno.ETIMEDOUT, errno.ENOTCONN]


def _failing_open(code: int) -> Any:
    def open_(*_args: Any, **_kwargs: Any) -> Any:
        raise OSError(code, os.strerror(code))

    return open_


@pytest.mark.parametrize("code", TRANSIENT, ids=[errno.errorcode[c] for c in TRANSIENT])
def test_a_storage_failure_reading_a_document_is_retried_not_an_exception(
    docs: Path, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    arrival = _arrival(docs / "passport.txt")
    monkeypatch.setattr(Path, "open", _failing_open(code))
    with pytest.raises(RetryableError, match=errno.errorcode[code]):
        fetch(arrival, [docs], MAX)


@pytest.mark.parametrize("code", [errno.EACCES, errno.EISDIR, errno.ELOOP])
def test_a_file_that_cannot_be_read_for_its_own_sake_stays_an_exception(
    docs: Path, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    arrival = _arrival(docs / "passport.txt")
    monkeypatch.setattr(Path, "open", _failing_open(code))
    assert _unreadable(arrival, [docs]) == "io_error"


def test_ocr_running_out_of_memory_is_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_memory(_data: bytes) -> str:
        raise MemoryError

    monkeypatch.setattr(text_module, "read_image", no_memory)
    with pytest.raises(RetryableError, match="OCR"):
        extract_text(data_file(ID_SPECIMENS / "passport-td3.png").read_bytes(), "image/png")


def test_nul_characters_past_the_binary_sniff_are_removed_from_the_text() -> None:
    data = b"Utility bill\n" + b" " * 5000 + b"Address: Storgata\x00 12\n"
    extracted = extract_text(data, "text/plain")
    assert "\x00" not in extracted.text and "Storgata 12" in extracted.text


def test_extract_text_refuses_a_pdf_encrypted_with_an_owner_password_only() -> None:
    # Opens without a password (only copying and printing are restricted), yet encrypted.
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    writer.encrypt(user_password="", owner_password="owner", algorithm="AES-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    with pytest.raises(DocumentUnreadable, match="PDF is encrypted") as info:
        extract_text(buffer.getvalue(), "application/pdf")
    assert info.value.code == "encrypted"


def test_extract_text_reads_filled_form_fields_after_the_text_layer() -> None:
    pdf = data_file(DOCUMENTS / "tax_forms_w9" / "fw9_1.pdf")
    extracted = extract_text(pdf.read_bytes(), "application/pdf")
    lines = extracted.text.splitlines()
    assert "Form field f1_1: John Doe" in lines  # a text field, by its own name
    assert "Form field c1_1: 6" in lines  # the ticked box, by its export value
    assert not any(line.startswith("Form field c1_1: Off") for line in lines)
    form = [i for i, line in enumerate(lines) if line.startswith("Form field ")]
    assert form == list(range(form[0], len(lines)))  # after the whole text layer


def test_pdfs_read_from_many_threads_at_once_give_each_its_own_text() -> None:
    # The classifier reads a batch's documents on a thread pool; PDFium itself is not
    # thread-safe, so this must neither crash nor mix documents up.
    pdfs = [data_file(INVOICES / f"{stem}.pdf").read_bytes() for stem in INVOICE_PDFS]
    alone = [extract_text(data, "application/pdf").text for data in pdfs]
    with ThreadPoolExecutor(8) as pool:
        together = list(pool.map(lambda d: extract_text(d, "application/pdf").text, pdfs * 4))
    assert together == alone * 4
