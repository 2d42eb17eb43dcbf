"""The local, offline classifier: evidence for the type from titles, field labels and layout
(``evidence``), a machine-readable zone on top, and the fields read per type. Deterministic,
so the same text always gives the same result."""

from __future__ import annotations

import re
from collections.abc import Iterable

from compliance.classification import evidence
from compliance.classification.business_fields import (
    address_fields,
    contract_fields,
    payslip_fields,
    receipt_fields,
    registration_fields,
)
from compliance.classification.card_fields import licence_fields, printed_identity_fields
from compliance.classification.dates import parse_printed_date
from compliance.classification.fieldsets import TEXT_TYPE
from compliance.classification.model import Classification, ExtractedField
from compliance.classification.tax_fields import form_name, tax_form_fields
from compliance.mrz import MRZ, document_kind, find_mrz, mrz_date

MODEL = "local-rules/2"

_LABELS: dict[str, tuple[str, ...]] = {
    "full_name": ("name", "full name", "customer name", "account holder", "data subject"),
    "surname": ("surname", "last name", "family name"),
    "given_names": ("given names", "given name", "first name", "first names"),
    "document_number": ("document number", "passport number", "passport no", "id number"),
    "nationality": ("nationality",),
    "date_of_birth": ("date of birth", "birth date", "dob"),
    "expiry_date": ("date of expiry", "expiry date", "expires", "valid until"),
    "address": ("address", "service address", "billing address"),
    "document_date": ("date", "statement date", "bill date", "issue date", "date of issue"),
    "issuer": ("issuer", "issued by", "supplier", "provider"),
    "purpose": ("purpose", "purpose of processing"),
    "lawful_basis": ("lawful basis",),
    "consent_given_at": ("consent given", "signed on", "given at"),
    "customer_id": ("customer id", "customer number", "client id"),
}
DATE_FIELDS = frozenset({"date_of_birth", "expiry_date", "document_date", "consent_given_at"})
_LABEL_LOOKUP = {label: name for name, labels in _LABELS.items() for label in labels}
_LABEL_LINE = re.compile(r"^\s*([A-Za-z][A-Za-z .'/-]{1,40}?)\s*[:]\s*(.+?)\s*$")


# Identity documents print a machine-readable zone or a layout of their own (a licence's
# numbered fields); without either, a title and the labels every identity form shares
# (nationality, date of birth) are what a visa application, an itinerary or a hotel's
# registration card print too, so the type stays below the auto-accept range.
IDENTITY_TYPES = frozenset({"passport", "national_id", "driving_licence", "residence_permit"})
WITHOUT_ZONE_OR_LAYOUT_CAP = 0.8


def classify(text: str) -> Classification:
    found = evidence.document_type(text)
    document_type, confidence = found.document_type, found.confidence
    fields = {f.name: f for f in _labelled_fields(text)}
    mrz = find_mrz(text)
    if mrz is None and document_type in IDENTITY_TYPES:
        own_layout = any(
            signal.kind == evidence.LAYOUT and signal.name in found.signals
            for signal in evidence.SIGNALS[document_type]
        )
        if not own_layout:
            confidence = min(confidence, WITHOUT_ZONE_OR_LAYOUT_CAP)
    if mrz is not None:
        read_as = text_type(document_type)
        document_type, confidence = type_from_mrz(mrz, document_type, confidence)
        fields.update({f.name: f for f in mrz_fields(mrz)})
        fields[read_as.name] = read_as
    for field in _type_fields(document_type, text):  # a labelled line beats a guessed one
        if field.name not in fields or field.confidence > fields[field.name].confidence:
            fields[field.name] = field
    if "full_name" not in fields and {"surname", "given_names"} <= fields.keys():
        full = f"{fields['given_names'].value} {fields['surname'].value}"
        fields["full_name"] = ExtractedField("full_name", full, 0.9)
    return Classification(document_type, confidence, tuple(fields.values()), MODEL)


def _type_fields(document_type: str, text: str) -> list[ExtractedField]:
    if document_type == "bank_statement":
        return _mt940_fields(text)
    if document_type == "tax_form":
        form = form_name(text) or "W-9"
        return w9_fields(text) if form == "W-9" else tax_form_fields(text, form)
    if document_type == "invoice":
        return invoice_fields(text)
    if document_type == "proof_of_address":
        return address_fields(text)
    if document_type == "driving_licence":
        return licence_fields(text)
    if document_type in ("passport", "national_id", "residence_permit"):
        return printed_identity_fields(text)
    if document_type == "payslip":
        return payslip_fields(text)
    if document_type == "receipt":
        return receipt_fields(text)
    if document_type == "contract":
        return contract_fields(text)
    if document_type == "company_registration":
        return registration_fields(text)
    return []


def text_type(guessed: str) -> ExtractedField:
    """What the text (or the model) made of the document before its MRZ decided the type:
    the checker holds the two against each other, as a computed MRZ is easy to add."""
    return ExtractedField(TEXT_TYPE, guessed, 1.0)


# Document codes of residence permits in the TD1/TD2 formats (ICAO leaves the second letter
# to the issuing state: the UK's and Ireland's "IR", Germany's "AR", "RP", "RT").
_PERMIT_CODES = frozenset({"IR", "AR", "RP", "RT"})


def type_from_mrz(mrz: MRZ, guessed: str, confidence: float) -> tuple[str, float]:
    """The type the zone gives (its kind as the MRZ parser reads it from the format and the
    document code: passport, visa, residence permit, driving licence; else D driving licence,
    a permit's own code, else an identity card), with the text's confidence when the text
    agrees; a card-format zone on a document whose text reads as a residence permit or a
    driving licence keeps the text's type, as their zones share the identity card's code."""
    code = mrz.document_code.replace("<", "")
    by_kind = {
        "passport": "passport",
        "visa": "residence_permit",
        "residence_permit": "residence_permit",
        "driving_licence": "driving_licence",
    }
    kind = mrz.kind or document_kind(code)
    if kind in by_kind:
        mrz_type = by_kind[kind]
    elif code.startswith("D"):
        mrz_type = "driving_licence"
    elif code in _PERMIT_CODES or guessed in ("residence_permit", "driving_licence"):
        mrz_type = "residence_permit" if guessed != "driving_licence" else guessed
    else:
        mrz_type = "national_id"
    if guessed == mrz_type:
        return mrz_type, max(confidence, 0.98)
    return mrz_type, 0.95 if mrz.valid else 0.75


def _labelled_fields(text: str) -> Iterable[ExtractedField]:
    for line in text.splitlines():
        if ":" not in line:  # no label (a cheaper test than the pattern's)
            continue
        match = _LABEL_LINE.match(line)
        if not match:
            continue
        name = _LABEL_LOOKUP.get(match.group(1).strip().lower())
        if name in DATE_FIELDS:
            # A printed date the classifier cannot read is passed on as printed, with a low
            # confidence, so a rule fails on it visibly rather than on a guess.
            parsed = parse_printed_date(match.group(2))
            yield ExtractedField(
                name, parsed.isoformat() if parsed else match.group(2), 0.9 if parsed else 0.3
            )
        elif name:
            yield ExtractedField(name, match.group(2), 0.9)


# A document number (or optional data) the MRZ parser repaired by trying look-alikes until the
# check digits held: in TD1 and TD3 zones the composite digit repeats the number's own check
# with the same weights, so one check digit decides, and a misread that is no look-alike can
# be "repaired" into another valid-looking number about one time in ten. Such a zone's fields
# are read below the review threshold: an officer compares the number with the page.
REPAIRED_BY_CHECK_DIGITS = 0.45
_SEARCHED_FIELDS = frozenset({"document_number", "optional_data", "optional_data_2"})


def mrz_fields(mrz: MRZ) -> list[ExtractedField]:
    confidence = 0.99 if mrz.valid else 0.6
    if any(repair.field in _SEARCHED_FIELDS for repair in mrz.repairs):
        confidence = REPAIRED_BY_CHECK_DIGITS
    birth = mrz_date(mrz.birth_date, future=False)
    expiry = mrz_date(mrz.expiry_date, future=True)
    values = {
        "surname": mrz.surname,
        "given_names": mrz.given_names,
        "full_name": f"{mrz.given_names} {mrz.surname}".strip(),
        "document_number": mrz.document_number,
        "nationality": mrz.nationality,
        "issuing_state": mrz.issuing_state,
        "date_of_birth": birth.isoformat() if birth else None,
        "expiry_date": expiry.isoformat() if expiry else None,
        "sex": mrz.sex.replace("<", "X"),
        "mrz_format": mrz.format,
        "mrz_lines": "\n".join(mrz.lines),
    }
    return [ExtractedField(name, value, confidence) for name, value in values.items()]


def _mt940_fields(text: str) -> list[ExtractedField]:
    fields = []
    account = re.search(r"^:25:(.+)$", text, re.MULTILINE)
    if account:
        fields.append(ExtractedField("account", account.group(1).strip(), 0.95))
    opening = re.search(r"^:60[FM]:([CD])(\d{6})([A-Z]{3})([\d,]+)", text, re.MULTILINE)
    if opening:
        sign = "-" if opening.group(1) == "D" else ""
        fields.append(ExtractedField("currency", opening.group(3), 0.95))
        fields.append(
            ExtractedField("opening_balance", sign + opening.group(4).replace(",", "."), 0.95)
        )
        yymmdd = opening.group(2)
        fields.append(
            ExtractedField("statement_date", f"20{yymmdd[:2]}-{yymmdd[2:4]}-{yymmdd[4:]}", 0.9)
        )
    return fields


# IRS Form W-9 (Rev. October 2018) AcroForm fields, as text extraction lists them.
_W9_FORM = {"f1_1": "full_name", "f1_2": "business_name"}
_W9_CLASSIFICATION = {
    "1": "individual/sole proprietor",
    "2": "C corporation",
    "3": "S corporation",
    "4": "partnership",
    "5": "trust/estate",
    "6": "limited liability company",
    "7": "other",
}


# A filled form field's line (``compliance.documents.pdf``), found from the line break before
# it: the text is searched with a line break put in front, as a search for the start of a line
# tries every position of the text.
_FORM_FIELD = re.compile(r"\nForm field (\w+): (.+)$", re.MULTILINE)


def w9_fields(text: str) -> list[ExtractedField]:
    """Form W-9: the filled form fields when the PDF has them, else the printed line under
    "1 Name" (a scan: OCR, so a lower confidence)."""
    form = dict(_FORM_FIELD.findall(f"\n{text}"))
    fields = [ExtractedField("form", "W-9", 0.95)]
    if form:
        fields += [ExtractedField(name, form[key], 0.95) for key, name in _W9_FORM.items()
                   if key in form]  # fmt: skip
        if form.get("c1_1") in _W9_CLASSIFICATION:
            classification = _W9_CLASSIFICATION[form["c1_1"]]
            fields.append(ExtractedField("tax_classification", classification, 0.95))
        street, city = form.get("f1_7"), form.get("f1_8")
        if street or city:
            address = ", ".join(part for part in (street, city) if part)
            fields.append(ExtractedField("address", address, 0.95))
        ssn = "".join(form.get(k, "") for k in ("f1_11", "f1_12", "f1_13"))
        ein = "".join(form.get(k, "") for k in ("f1_14", "f1_15"))
        if ssn or ein:
            fields.append(ExtractedField("taxpayer_id", ssn or ein, 0.95))
        fields += [ExtractedField(name, tin, 0.95) for name, tin in (("ssn", ssn), ("ein", ein))
                   if tin]  # fmt: skip
        return fields
    lines = text.splitlines()
    for i, line in enumerate(lines[:-1]):
        if re.match(r"^\W*1\s+name\b", line, re.IGNORECASE) and lines[i + 1].strip():
            fields.append(ExtractedField("full_name", lines[i + 1].strip(), 0.6))
            break
    return fields


_INVOICE_WORD = r"(?:invoice|factuur|facture|rechnung|fattura|factura)"
_NUMBER_WORD = r"(?:number|nummer|no\.?|nr\.?|n°|#|num[eé]ro)"
_INVOICE_NUMBER = (
    # "Invoice No : # BLR_1", "Facture n° 2022089083", "Rechnungsnr. 30064443"
    re.compile(
        rf"\b{_INVOICE_WORD}\s*{_NUMBER_WORD}\s*[:.]?\s*#?\s*([A-Z0-9][\w/-]*\d[\w/-]*)", re.I
    ),
    # PDF text layers that put the value before its label: "993548900Factuurnummer:"
    re.compile(rf"^([A-Z0-9][\w/-]*\d[\w/-]*)\s*{_INVOICE_WORD}\s*{_NUMBER_WORD}\s*:", re.I | re.M),
)
_INVOICE_DATE = (
    re.compile(r"\b(?:invoice\s*date|factuurdatum|rechnungsdatum)\s*:?\s*([^\n]{6,30})", re.I),
    re.compile(r"^([^\n]{6,20}?)\s*(?:invoice\s*date|factuurdatum)\s*:", re.I | re.M),
    # "Date: ..." opening a line, or after another label's value ("Guest Name: S Date: ...")
    re.compile(r"^\s*(?:[^\n:]*:[^\n:]*\s)?(?<!due\s)date\s*:\s*([^\n]{6,30})", re.I | re.M),
)


_IBAN = r"([A-Z]{2}\d{2}(?:[A-Z0-9]|[ ](?=[A-Z0-9])){10,38})"
_INVOICE_IBAN = (
    re.compile(rf"\bIBAN\b\s*:?\s*{_IBAN}"),  # "IBAN : FR76 10107 ..."
    re.compile(r"([A-Z]{2}\d{2}[A-Z0-9]{10,30})\s*IBAN\b"),  # "NL50INGB0683251309IBAN"
)
_VAT_WORD = (
    r"(?:VAT(?:\s*(?:no\.?|number|reg(?:istration)?\.?(?:\s*no\.?)?|id))?"
    r"|BTW(?:[\s-]*(?:nummer|nr\.?|id))?|USt-?Id(?:Nr)?\.?|TVA(?:\s*intracom\w*)?|IVA|MwSt-?Nr\.?)"
)
_VAT_ID = r"([A-Z]{2}\s?[0-9A-Z](?:[0-9A-Z]|[ .]\d){7,13})"
_INVOICE_VAT = (
    re.compile(
        rf"(?i:(your|uw|customer|client|votre|ihre)\s+)?\b(?i:{_VAT_WORD})\s*[:.]?\s*{_VAT_ID}\b"
    ),
    re.compile(r"()\b([A-Z]{2}\d[0-9A-Z]{7,12})\s*(?:BTW|VAT)\b"),  # "NL810433941B01BTW"
)
# A line naming a company by its legal form: "Coolblue B.V.", "Amazon Web Services, Inc."
_COMPANY_LINE = re.compile(
    r"^[ \t]*([A-Z0-9][\w&'.,()\- ]{1,70}?[ ](?:B\.V\.|N\.V\.|GmbH|AG|KG|Ltd\.?|Limited|Inc\.?"
    r"|LLC|L\.L\.C\.|S\.A\.|SA|SAS|SARL|S\.à r\.l\.|S\.r\.l\.|S\.p\.A\.|plc|PLC|Corp\.?"
    r"|Corporation|Oy|AB|A/S|ApS|Pvt\.? Ltd\.?))[ \t]*[:,]?[ \t]*$",
    re.M,
)


def invoice_parties(text: str) -> list[ExtractedField]:
    """The issuer (the company whose name recurs most: letterhead, footer, terms), the VAT
    identification numbers printed (the customer's when the label says "your") and the IBAN
    to pay to. Values are as printed; the rules validate them."""
    fields = []
    companies = [m.group(1).strip() for m in _COMPANY_LINE.finditer(text)]
    if companies:
        issuer = max(dict.fromkeys(companies), key=text.count)  # first seen wins a tie
        fields.append(ExtractedField("issuer", issuer, 0.7))
    for pattern in _INVOICE_VAT:
        for match in pattern.finditer(text):
            name = "customer_vat_id" if match.group(1) else "vat_id"
            if all(f.name != name for f in fields):
                fields.append(ExtractedField(name, match.group(2).strip(), 0.85))
    for pattern in _INVOICE_IBAN:
        found = pattern.search(text)
        if found:
            fields.append(ExtractedField("iban", found.group(1).strip(), 0.85))
            break
    return fields


def invoice_fields(text: str) -> list[ExtractedField]:
    fields = invoice_parties(text)
    for pattern in _INVOICE_NUMBER:
        number = pattern.search(text)
        if number:
            fields.append(ExtractedField("invoice_number", number.group(1), 0.85))
            break
    for pattern in _INVOICE_DATE:
        dates = (
            parse_printed_date(re.sub(r"\s+,", ",", m.group(1))) for m in pattern.finditer(text)
        )
        parsed = next((d for d in dates if d is not None), None)
        if parsed:
            fields.append(ExtractedField("document_date", parsed.isoformat(), 0.8))
            break
    return fields
