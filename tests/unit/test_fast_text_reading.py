"""The shortcuts the local classifier's text path takes for speed read exactly what the full
computation reads: PDF text through PDFium's own calls equals the text through pypdfium2's
page objects, and a signal's shortcut (an alternative searched only in a text holding its
plain substring) finds exactly what its whole pattern finds."""

from __future__ import annotations

from pathlib import Path

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
import pytest

from compliance.classification import evidence, local
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


def _texts() -> list[str]:
    """Every text the project carries: the labelled documents, the samples, the PDFs' text."""
    folders = [PROJECT_ROOT / "tests" / "data" / "documents", PROJECT_ROOT / "samples"]
    texts = [
        path.read_text(encoding="utf-8", errors="replace")
        for folder in folders
        for path in sorted(folder.rglob("*.txt"))
    ]
    for path in PDFS:
        try:
            texts.append(pdf_text(path.read_bytes()))
        except DocumentUnreadable:
            continue
    return texts


def test_a_signals_shortcut_finds_exactly_what_its_whole_pattern_finds() -> None:
    """A signal searches an alternative only in a text holding that alternative's plain
    substring; on every text the project carries, and on each alternative's own sample
    words, that decides exactly as searching the whole pattern would."""
    texts = [evidence._where_types_show(text) for text in _texts()]
    assert len(texts) >= 100
    compared = 0
    for signals in evidence.SIGNALS.values():
        for signal in signals:
            for lowered in texts:
                assert signal.matches(lowered) == bool(signal.pattern.search(lowered)), (
                    signal.name,
                    signal.pattern.pattern,
                )
                compared += 1
            for needle, part in signal.parts:
                if needle:  # wherever the alternative matches, its needle is in the match
                    for lowered in texts:
                        for match in part.finditer(lowered):
                            assert needle in lowered[match.start() : match.end() + 1], (
                                signal.name,
                                part.pattern,
                            )
    assert compared > 10_000


def test_every_match_of_an_alternative_searched_from_its_substring_opens_with_it() -> None:
    """An alternative whose search starts at its substring's first occurrence (``leads``)
    can have no match starting earlier: each of its matches opens with the substring."""
    texts = [evidence._where_types_show(text) for text in _texts()]
    leading = 0
    for signals in evidence.SIGNALS.values():
        for signal in signals:
            for (needle, part), leads in zip(signal.parts, signal.leads, strict=True):
                if not leads:
                    continue
                leading += 1
                for lowered in texts:
                    for match in part.finditer(lowered):
                        assert lowered.startswith(needle, match.start()), (needle, part.pattern)
    assert leading > 500


@pytest.mark.parametrize(
    ("alternative", "run"),
    [
        (r"\bdate of birth\b", "date of birth"),
        (r"^\s*4a\.", ""),
        (r"no\. du passeport", "no. du passeport"),
        (r"\bg[uü]ltig bis\b", "g"),
        (r"\bgiven names?\b", "given name"),
        (r"\bdirectors?\b", "director"),
        (r"\bnet (?:pay|salary)\b", "net "),
        (r"^form w-9", "form w-9"),
    ],
)
def test_the_plain_opening_of_an_alternative_leaves_out_what_may_not_match(
    alternative: str, run: str
) -> None:
    assert evidence._leading_run(alternative) == run


def test_substrings_found_in_one_pass_are_where_a_scan_for_each_finds_them() -> None:
    texts = [evidence._where_types_show(text) for text in _texts()]
    texts.append("é€ date of birth 😀 dob, sexe: f — geburtsdatum")  # wide characters
    for lowered in texts:
        firsts = evidence.first_occurrences(lowered)
        expected = {n: lowered.find(n) for n in evidence._NEEDLES if n in lowered}
        assert firsts == expected


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
        (
            "National ID card of Utopia\nSurname: Okafor\nGiven names: Daniel\n"
            "Date of birth: 04.06.1991\nDate of expiry: 28.02.2031",
            "national_id",
        ),
        ("nothing of the kind", "unknown"),
    ],
)
def test_each_type_is_still_found_from_its_evidence(text: str, document_type: str) -> None:
    assert local.classify(text).document_type == document_type
