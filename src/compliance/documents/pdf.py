"""A PDF's text layer and filled form values, read with PDFium (pypdfium2, whose wheel carries
the PDFium binary): about ten times faster than a pure-Python reader on the same text.

Filled form fields (a W-9 typed into its fields) are not part of the text layer: their values
come as ``Form field <name>: <value>`` lines after the text (ticked boxes by their export
value), so the classifiers read them like printed labels. ``<name>`` is the field's own
(partial) name without its index: ``topmostSubform[0].Page1[0].f1_1[0]`` gives ``f1_1``.

An encrypted PDF (a user password, or an owner password alone) is refused as ``encrypted``,
a file PDFium cannot open or read a page of as ``corrupt``, with PDFium's reason.

PDFium is not thread-safe: one lock serialises every call into it in this process.
"""

from __future__ import annotations

import codecs
import ctypes
import logging
import threading
from collections.abc import Callable, Iterator

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from compliance.errors import DocumentUnreadable

_PDFIUM = threading.Lock()
# pypdfium2 warns at WARNING that this PDFium build has no XFA support, on every XFA form (the
# W-9 among them): their AcroForm fields, read here, carry the same values.
logging.getLogger("pypdfium2").setLevel(logging.ERROR)
_CHECKABLE = {pdfium_c.FPDF_FORMFIELD_CHECKBOX, pdfium_c.FPDF_FORMFIELD_RADIOBUTTON}


def pdf_text(data: bytes) -> str:
    """The text layer of every page, then the filled form values."""
    with _PDFIUM:
        try:
            document = pdfium.PdfDocument(data)
        except pdfium.PdfiumError as exc:
            if exc.err_code == pdfium_c.FPDF_ERR_PASSWORD:
                raise DocumentUnreadable("PDF is encrypted", "encrypted") from None
            raise DocumentUnreadable(f"corrupt PDF: {exc}", "corrupt") from None
        try:
            return _read(document)
        except pdfium.PdfiumError as exc:
            raise DocumentUnreadable(f"corrupt PDF: {exc}", "corrupt") from None
        finally:
            document.close()


def _read(document: pdfium.PdfDocument) -> str:
    if pdfium_c.FPDF_GetSecurityHandlerRevision(document.raw) != -1:
        raise DocumentUnreadable("PDF is encrypted", "encrypted")
    has_forms = pdfium_c.FPDF_GetFormType(document.raw) != pdfium_c.FORMTYPE_NONE
    if has_forms:
        document.init_forms()  # before any page is loaded
    form = document.formenv.raw if has_forms and document.formenv is not None else None
    texts: list[str] = []
    form_lines: dict[str, str] = {}
    for index in range(len(document)):
        # PDFium's own calls, as pypdfium2's page and text page objects make them, without
        # those objects (their finalizers and bookkeeping cost a tenth of the reading)
        page = pdfium_c.FPDF_LoadPage(document.raw, index)
        if not page:
            raise pdfium.PdfiumError("Failed to load page.")
        try:
            if form is not None:
                pdfium_c.FORM_OnAfterLoadPage(page, form)
            # PDFium ends lines with CR LF; the classifiers read lines ending in LF.
            texts.append(_page_text(page).replace("\r\n", "\n"))
            if form is not None:
                form_lines.update(_form_values(form, page))
        finally:
            if form is not None:
                pdfium_c.FORM_OnBeforeClosePage(page, form)
            pdfium_c.FPDF_ClosePage(page)
    text = "\n".join(texts)
    return text + "\n" + "\n".join(form_lines.values()) if form_lines else text


def _page_text(page: pdfium_c.FPDF_PAGE) -> str:
    """The text inside the page's bounding box (its media box within its crop box)."""
    textpage = pdfium_c.FPDFText_LoadPage(page)
    if not textpage:
        raise pdfium.PdfiumError("Failed to load text page.")
    try:
        box = pdfium_c.FS_RECTF()
        if not pdfium_c.FPDF_GetPageBoundingBox(page, box):
            raise pdfium.PdfiumError("Failed to get page bounding box.")
        # One call, not two (asked for its size, then read: the size is PDFium's whole
        # reading of the page's text again). The text holds at most a line break and a
        # surrogate pair per character; PDFium writes its terminator if there is room.
        capacity = 4 * pdfium_c.FPDFText_CountChars(textpage) + 2
        buffer = (ctypes.c_ushort * capacity)()
        written = pdfium_c.FPDFText_GetBoundedText(
            textpage, box.left, box.top, box.right, box.bottom, buffer, capacity
        )
        if written > 0 and buffer[written - 1] == 0:
            written -= 1  # the terminator
        if written <= 0:
            return ""
        return codecs.decode(memoryview(buffer).cast("B")[: 2 * written], "utf-16-le", "ignore")
    finally:
        pdfium_c.FPDFText_ClosePage(textpage)


def _form_values(
    form: pdfium_c.FPDF_FORMHANDLE, page: pdfium_c.FPDF_PAGE
) -> Iterator[tuple[str, str]]:
    """(full field name, line) for each filled form widget of the page."""
    for i in range(pdfium_c.FPDFPage_GetAnnotCount(page)):
        annot = pdfium_c.FPDFPage_GetAnnot(page, i)
        if not annot:
            continue
        try:
            if pdfium_c.FPDFAnnot_GetSubtype(annot) != pdfium_c.FPDF_ANNOT_WIDGET:
                continue
            if pdfium_c.FPDFAnnot_GetFormFieldType(form, annot) in _CHECKABLE:
                if not pdfium_c.FPDFAnnot_IsChecked(form, annot):
                    continue
                value = _wide(pdfium_c.FPDFAnnot_GetFormFieldExportValue, form, annot)
            else:
                value = _wide(pdfium_c.FPDFAnnot_GetFormFieldValue, form, annot)
            value = value.strip()
            if not value or value == "Off":
                continue
            full_name = _wide(pdfium_c.FPDFAnnot_GetFormFieldName, form, annot)  # filled only
            name = full_name.rsplit(".", 1)[-1].split("[")[0]
            yield full_name, f"Form field {name}: {value}"
        finally:
            pdfium_c.FPDFPage_CloseAnnot(annot)


# A form field's name or value is read into this buffer (under the lock) in one call; one
# longer than it is asked for again into a buffer of its size.
_NAMES = ctypes.create_string_buffer(2048)
_NAMES_WCHAR = ctypes.cast(_NAMES, ctypes.POINTER(pdfium_c.FPDF_WCHAR))


def _wide(getter: Callable[..., int], *args: object) -> str:
    """A string PDFium writes as UTF-16LE with a terminator, and returns its size in bytes
    (writing nothing when the buffer is too small)."""
    size = getter(*args, _NAMES_WCHAR, len(_NAMES))
    if size <= 2:
        return ""
    if size <= len(_NAMES):
        return ctypes.string_at(_NAMES, size - 2).decode("utf-16-le", "replace")
    buffer = ctypes.create_string_buffer(size)
    getter(*args, ctypes.cast(buffer, ctypes.POINTER(pdfium_c.FPDF_WCHAR)), size)
    return buffer.raw[: size - 2].decode("utf-16-le", "replace")
