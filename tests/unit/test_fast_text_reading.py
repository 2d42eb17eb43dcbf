"""The shortcuts the local classifier's text path takes for speed read exactly what the full
computation reads: PDF text through PDFium's own calls equals the text through pypdfium2's
page objects, and the words that spare a text the search for an evidence pattern are in
every text the pattern matches."""

from __future__ import annotations

import re
from pathlib import Path

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
import pytest

from compliance.classification import local
from compliance.documents.pdf import _form_values, pdf_text
from compliance.errors import DocumentUnreadable

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PDFS = sorted(
    path for folder in ("tests/data", "samples") for path in (PROJECT_ROOT / folder).rglob("*.pdf")
)


def _through_page_objects(data: bytes) -> str:
    """The text as pypdfium2's PdfPage and PdfTextPage objects give it (how it was read)."""
    document = pdfium.PdfDocument(data)
    try:
        has_forms = pdfium_c.FPDF_GetFormType(document.raw) != pdfium_c.FORMTYPE_NONE
        if has_forms:
            document.init_forms()
        texts: list[str] = []
        form_lines: dict[str, str] = {}
        for index in range(len(document)):
            page = document[index]
            textpage = page.get_textpage()
            texts.append(textpage.get_text_bounded().replace("\r\n", "\n"))
            textpage.close()
            if has_forms and document.formenv is not None:
                form_lines.update(_form_values(document.formenv.raw, page.raw))
            page.close()
        text = "\n".join(texts)
        return text + "\n" + "\n".join(form_lines.values()) if form_lines else text
    finally:
        document.close()


def test_the_project_carries_text_pdfs_with_and_without_filled_forms() -> None:
    assert len(PDFS) >= 15
    assert any("w9" in path.name for path in PDFS)


@pytest.mark.parametrize("path", PDFS, ids=lambda p: p.name)
def test_pdf_text_read_through_pdfium_calls_equals_the_text_through_page_objects(
    path: Path,
) -> None:
    data = path.read_bytes()
    try:
        expected = _through_page_objects(data)
    except pdfium.PdfiumError:  # a corrupt PDF (a truncated scan): refused as such
        with pytest.raises(DocumentUnreadable, match="corrupt"):
            pdf_text(data)
        return
    assert pdf_text(data) == expected


def _alternatives(pattern: str) -> list[str]:
    """Every literal text an evidence pattern's alternatives match (word boundaries and
    line starts dropped, optional letters and letter classes expanded)."""
    texts = []
    for alternative in pattern.split("|"):
        variants = [alternative.replace(r"\b", "").lstrip("^")]
        expanded = True
        while expanded:
            expanded = False
            for i, text in enumerate(variants):
                if m := re.search(r"\((\w)\)\?", text):
                    head, tail = text[: m.start()], text[m.end() :]
                    variants[i : i + 1] = [head + tail, head + m.group(1) + tail]
                    expanded = True
                    break
                if m := re.search(r"\[(\w+)\]", text):
                    head, tail = text[: m.start()], text[m.end() :]
                    variants[i : i + 1] = [head + c + tail for c in m.group(1)]
                    expanded = True
                    break
        assert all(re.fullmatch(r"[\w :-]+", v) for v in variants), variants
        texts += variants
    return texts


def test_every_text_an_evidence_pattern_matches_holds_one_of_its_words() -> None:
    checked = 0
    for doc_type, evidence in local._EVIDENCE.items():
        for pattern, _, words in evidence:
            for literal in _alternatives(pattern):
                sample = f"first line\n{literal} and more\n"
                assert re.search(pattern, sample, re.MULTILINE), (doc_type, literal)
                assert any(word in sample for word in words), (doc_type, pattern, literal)
                checked += 1
            for word in words:  # and no word is one the pattern could never match
                assert re.search(pattern, f"x\n{word}\n", re.MULTILINE), (doc_type, word)
    assert checked >= 30


@pytest.mark.parametrize(
    ("text", "document_type"),
    [
        ("PASSEPORT\nNationality: UTO", "passport"),
        ("Rechnungsnummer 42\nMwSt 19 %", "invoice"),
        (
            "Account statement\n:20:REF\n:25:NL91ABNA0417164300\n:62M:C261102EUR1,00",
            "bank_statement",
        ),
        ("Consent to processing\nLawful basis: consent\nGDPR", "consent_form"),
        ("Water bill\nService address: Storgata 12", "proof_of_address"),
        ("Form W-9\nTaxpayer Identification Number", "tax_form"),
        ("National ID card of Utopia", "national_id"),
        ("nothing of the kind", "unknown"),
    ],
)
def test_each_type_is_still_found_from_its_evidence(text: str, document_type: str) -> None:
    assert local.classify(text).document_type == document_type
