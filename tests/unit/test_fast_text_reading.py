"""The shortcuts the local classifier's text path takes for speed read exactly what the full
computation reads: PDF text through PDFium's own calls equals the text through pypdfium2's
page objects, and a signal's shortcut (an alternative searched only in a text holding its
plain substring) finds exactly what its whole pattern finds."""

from __future__ import annotations

import ctypes
import re
from datetime import date, datetime
from pathlib import Path

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
import pytest

from compliance.classification import dates, evidence, local
from compliance.documents import pdf
from compliance.documents.pdf import _form_values, pdf_text
from compliance.errors import DocumentUnreadable
from compliance.mrz import find

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


def test_the_shortcuts_find_exactly_the_patterns_a_whole_search_finds() -> None:
    """An alternative is tried only where the text holds its plain substring (at the one
    place its match would start, when the substring stands at a fixed place in it): on every
    text the project carries, and on each alternative's own sample words, that finds exactly
    the patterns a search of each whole pattern finds."""
    texts = [evidence._where_types_show(text) for text in _texts()]
    assert len(texts) >= 100
    patterns = {s.pattern for signals in evidence.SIGNALS.values() for s in signals}
    samples = [_sample_words(part.pattern) for s in patterns for part in _parts(s)]
    matching_its_sample = sum(
        bool(part.search(_sample_words(part.pattern))) for s in patterns for part in _parts(s)
    )
    assert matching_its_sample > 0.9 * len(samples)
    texts += samples
    compared = 0
    for lowered in texts:
        expected = {p.pattern for p in patterns if p.search(lowered)}
        assert evidence.matched_patterns(lowered) == expected, lowered[:80]
        compared += len(patterns)
    assert compared > 10_000


def _parts(pattern: re.Pattern[str]) -> list[re.Pattern[str]]:
    return [
        part
        for signals in evidence.SIGNALS.values()
        for signal in signals
        if signal.pattern is pattern
        for _, part in signal.parts
    ]


def _sample_words(alternative: str) -> str:
    """A text an alternative's plain words appear in, with lines and a word before them."""
    words = re.sub(r"\\[bsdw]|[\\^$()?:*+]|\[(.)[^\]]*\]|\{[^}]*\}", r"\1", alternative)
    return f"x\n{words}\nsee {words} here\n"


def test_every_match_of_an_alternative_holds_its_substring_at_its_offset() -> None:
    """An alternative tried only where its match would start (its substring's occurrence less
    its offset) has no match elsewhere: each match holds the substring at that offset."""
    texts = [evidence._where_types_show(text) for text in _texts()]
    at_offset = 0
    for signals in evidence.SIGNALS.values():
        for signal in signals:
            for (needle, part), offset in zip(signal.parts, signal.offsets, strict=True):
                if not needle or offset is None:
                    continue
                at_offset += 1
                for lowered in texts:
                    for match in part.finditer(lowered):
                        assert lowered.startswith(needle, match.start() + offset), part.pattern
    assert at_offset > 500


@pytest.mark.parametrize(
    ("alternative", "needle", "offset"),
    [
        (r"\bdate of birth\b", "date of birth", 0),
        (r"^\s*4a\.", "4a.", None),
        (r"no\. du passeport", "no. du passeport", 0),
        (r"\bg[uü]ltig bis\b", "ltig bis", 2),
        (r"\bgiven names?\b", "given name", 0),
        (r"\bnet (?:pay|salary)\b", "net ", 0),
        (r"\bpr[eé]l[eè]vement\b", "vement", 5),
        (r"^\s*(?:\d{4}\s+)?form \d{3,5}", "form ", None),
        (r"\(\"the ", "the ", 2),
        (r"\b\d\d/[a-z]\bsummary", "summary", 4),
        (r"(a)\1 summary", " summary", None),
    ],
)
def test_an_alternatives_substring_and_its_offset_in_every_match(
    alternative: str, needle: str, offset: int | None
) -> None:
    found, begins = evidence._needle(alternative)
    assert found == needle
    assert evidence._offset(alternative, begins) == offset


def test_substrings_found_in_one_pass_are_where_a_scan_for_each_finds_them() -> None:
    texts = [evidence._where_types_show(text) for text in _texts()]
    texts.append("é€ date of birth 😀 dob, sexe: f — geburtsdatum datedate")  # wide characters
    for lowered in texts:
        expected = {
            needle: [i for i in range(len(lowered)) if lowered.startswith(needle, i)]
            for needle in evidence._NEEDLES
            if needle in lowered
        }
        assert evidence.occurrences(lowered) == expected


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


def _licence_line_as_written(text: str) -> bool:
    """The one-line licence zone as the MRZ search has always defined it: the whole text with
    its spaces and tabs taken out, searched line by line."""
    pattern = re.compile(r"^\s*D[0-9A-Z][A-Z<]{3}[A-Z0-9<]{25}\s*$", re.MULTILINE)
    return pattern.search(re.sub(r"[ \t]+", "", text.upper())) is not None


_ZONE = "D1NLD15094962111659VW87PN1346"  # 29 characters: one more makes the line a zone


@pytest.mark.parametrize(
    "text",
    [
        f"{_ZONE}5",
        f"Licence\n{_ZONE}5\nend",
        f"Licence\n  {_ZONE[:10]} \t{_ZONE[10:]}5  \n",
        f"Licence\r\n{_ZONE}5\r\n",
        f"x\n\x0b{_ZONE}5\x0c\n",
        f"x\n\u2028{_ZONE}5\u2029y",  # Unicode line separators are spaces, not line breaks
        f"x\n\u00a0{_ZONE}5\u3000\n",
        f"x{_ZONE}5\n",
        f"\n{_ZONE}5x\n",
        f"\n{_ZONE}55\n",
        f"\n{_ZONE.lower()}5\n",
        "\nd1nld15094962111659vw87pn134ß\n",  # ß is SS in capitals: a character longer
        f"\n{_ZONE}\n",
        f"\n\n\n   \n{_ZONE}5\n \n\n",
        "",
        "\n",
    ],
)
def test_a_licence_line_is_found_as_the_whole_text_search_finds_it(text: str) -> None:
    assert find._has_licence_line(text) == _licence_line_as_written(text)


def test_a_licence_line_is_found_as_the_whole_text_search_finds_it_in_every_text() -> None:
    for text in _texts():
        assert find._has_licence_line(text) == _licence_line_as_written(text)


def _date_as_every_format_reads_it(text: str) -> date | None:
    cleaned = re.sub(r"\s+", " ", text.strip().rstrip(".")).title()
    for fmt in dates._FORMATS:
        try:
            return datetime.strptime(cleaned, fmt).date()
        except ValueError:
            continue
    return None


def test_a_printed_date_is_read_as_trying_every_format_reads_it() -> None:
    """A format is tried only on a text holding its separators: on every line of every text
    the project carries, each line's tail after a colon, and printed dates of every form."""
    samples = ["2024-03-01", "1 Mar 2024", "01 March 2024", "01/03/2024", "1.3.2024",
               "01-03-2024", "March 1, 2024", "Mar 1, 2024", "2024/03/01", "1 Mar 24",
               " 1  mar   2024. ", "31.02.2024", "Mar 1 2024", "1,3,2024", "2024-3-1x"]  # fmt: skip
    for text in _texts():
        for line in text.splitlines():
            samples += [line, line.partition(":")[2]]
    read = 0
    for sample in samples:
        expected = _date_as_every_format_reads_it(sample)
        assert dates.parse_printed_date(sample) == expected, sample
        read += expected is not None
    assert read >= 20


@pytest.mark.parametrize("length", [0, 1, 1023, 1024, 1025, 5000])
def test_a_form_string_of_any_length_is_read_whole(length: int) -> None:
    """PDFium's string getters return the size in bytes (terminator included) and write only
    into a buffer that holds it all: a string longer than the shared buffer is read again."""
    value = ("Ä" + "b" * length)[:length]
    encoded = value.encode("utf-16-le") + b"\x00\x00"

    def getter(buffer: object, size: int) -> int:
        if buffer is not None and size >= len(encoded):
            ctypes.memmove(buffer, encoded, len(encoded))
        return len(encoded)

    assert pdf._wide(getter) == value


@pytest.mark.parametrize(
    "text",
    [
        "Form field f1_1: Jane Roe\nForm field f1_2: Roe LLC",
        "x\nForm field f1_1: A\r\nForm field c1_1: 6\n\nForm field f1_7:  \n",
        "xForm field f1_1: not at a line start\n Form field f1_2: indented",
        "Form field f1_1:\nForm field f1_2: B",
        "",
    ],
)
def test_form_field_lines_are_read_as_a_search_from_each_line_start_reads_them(text: str) -> None:
    as_written = re.findall(r"^Form field (\w+): (.+)$", text, re.MULTILINE)
    assert local._FORM_FIELD.findall(f"\n{text}") == as_written


def test_form_field_lines_are_read_as_before_in_every_text() -> None:
    filled = 0
    for text in _texts():
        expected = re.findall(r"^Form field (\w+): (.+)$", text, re.MULTILINE)
        assert local._FORM_FIELD.findall(f"\n{text}") == expected
        filled += bool(expected)
    assert filled >= 6  # the filled W-9 forms
