"""Fields of payslips, receipts, contracts and company registration extracts: who the
document names (to screen and to hold against the customer), who issued it, and its date.
Values are as printed, with a lower confidence where they are guessed from the layout."""

from __future__ import annotations

import re

from compliance.classification.dates import parse_printed_date
from compliance.classification.model import ExtractedField

_DATE = re.compile(
    r"(\d{1,2}[./-]\d{1,2}[./-]\d{2,4}|\d{4}-\d{2}-\d{2}"
    r"|\d{1,2}(?:st|nd|rd|th)? [A-Za-z]{3,9},? \d{4}|[A-Za-z]{3,9} \d{1,2}, \d{4})"
)


def _first_date(text: str) -> str | None:
    for match in _DATE.finditer(text):
        raw = re.sub(r"(\d)(st|nd|rd|th)\b", r"\1", match.group(1))
        raw = raw.replace("-", "/") if re.match(r"\d{1,2}-", raw) else raw
        parsed = parse_printed_date(raw) or parse_printed_date(raw.replace(",", ""))
        if parsed:
            return parsed.isoformat()
    return None


def _first_line(text: str) -> str | None:
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return None


def _search(patterns: tuple[str, ...], text: str, flags: int = re.I | re.M) -> str | None:
    for pattern in patterns:
        found = re.search(pattern, text, flags)
        if found and found.group(1).strip(" ,.:"):
            return found.group(1).strip(" ,.:")
    return None


def _name(value: str | None) -> str | None:
    """A name without what follows it on the line (another label, a column of figures)."""
    if not value:
        return None
    name = re.split(r"\s{2,}|\t|\s+(?:Employee|Emploi|Personal|Date|Designation)\b", value)[0]
    return name.strip(" ,") or None


def payslip_fields(text: str) -> list[ExtractedField]:
    name = _search(
        (
            r"^\s*employee(?: name)?\s*:\s*([^\n]+)",
            r"\bsalari[eé]\s*:\s*([^\n]+)",
            r"^\s*(?:frau|herrn?)\s+([^,\n]+)",
            r"\bpersonal-nr\.?\s*\S+\s+(?:frau|herrn?)\s+([^,\n]+)",
        ),
        text,
    )
    date = _search((r"\bpay date\s*:?\s*([^\s]+)", r"date de paiement\s*:?\s*([^\s]+)"), text)
    net = _search(
        (
            r"\bnet pay\s*:?\s*([\d.,]+)",
            r"\bnet salary payable\s*:?\s*([\d.,]+)",
            r"\bnet [aà] payer\s*:?\s*([\d.,  ]+\d)",
            r"\bauszahlungsbetrag\s*:?\s*([\d.,]+)",
        ),
        text,
    )
    employer = _search((r"employeur\s*:\s*([^,\n]+)",), text) or _first_line(text)
    fields = [ExtractedField("issuer", employer, 0.6)] if employer else []
    if _name(name):
        fields.append(ExtractedField("full_name", _name(name), 0.7))
    parsed = parse_printed_date(date) if date else None
    if parsed:
        fields.append(ExtractedField("document_date", parsed.isoformat(), 0.8))
    elif (found := _first_date(text)) is not None:
        fields.append(ExtractedField("document_date", found, 0.5))
    if net:
        fields.append(ExtractedField("net_pay", net.strip(), 0.7))
    return fields


def receipt_fields(text: str) -> list[ExtractedField]:
    fields = []
    issuer = _first_line(text)
    if issuer:
        fields.append(ExtractedField("issuer", issuer, 0.6))
    total = _search(
        (r"^\s*total(?: paid)?\b[^\d\n]*([\d.,]+)", r"^\s*summe\b[^\d\n]*([\d.,]+)",
         r"\bthe sum of\s*:?\s*\D?([\d.,]+)"),
        text,
    )  # fmt: skip
    if total:
        fields.append(ExtractedField("total_amount", total, 0.7))
    found = _first_date(text)
    if found:
        fields.append(ExtractedField("document_date", found, 0.6))
    return fields


def contract_fields(text: str) -> list[ExtractedField]:
    """The two parties (as named after "between" and "and"), and the date it was made."""
    first = _search(
        (
            r"\(1\)\s*([^,(\n]+)",
            r"\bbetween the landlord\s*:\s*([^,\n]+)",
            r"\bby and between\s+([^,(\n]+)",
            r"\bbetween\s+([A-Z][^,(\n]+?)\s*(?:,|\(|\n)",
            r"^\s*(?:herrn?|frau)\s+([^,\n]+)",
        ),
        text,
    )
    second = _search(
        (
            r"\(2\)\s*([^,(\n]+?)(?:\s+of\b|,|\()",
            r"\band the tenant\s*:\s*([^,\n]+)",
            r"\band\s+(?!between\b)([A-Z][\w.' -]+?),\s+(?:an?|the)\b",
            r"^und\s*\n\s*(?:herrn?|frau)\s+([^,\n]+)",
        ),
        text,
    )
    fields = []
    if first:
        fields.append(ExtractedField("first_party", first, 0.6))
    if second:
        fields.append(ExtractedField("second_party", second, 0.6))
    made = re.search(
        r"\b(?:dated|made on|as of|signed on|den|le)\s+(.{6,30})", text, re.I
    )  # the date it was made, not a party's date of birth
    found = (_first_date(made.group(1)) if made else None) or _first_date(text)
    if found:
        fields.append(ExtractedField("document_date", found, 0.6))
    return fields


def registration_fields(text: str) -> list[ExtractedField]:
    company = _search(
        (
            r"\bcertifies that\s*\n\s*([^\n]+)",
            r"^\s*(?:\d\.\s*)?(?:a\)\s*)?firma:\s*([^\n]+)",
            r"\bhandelsnaam\s+([^\n]+)",
            r"\bd[eé]nomination ou raison sociale\s+([^\n]+)",
            r"\bname of the limited liability company is\s+([^\n]+?)\.?$",
            r"\bcompany overview for\s+([^(\n]+)",
            r"\bcertificate of formation of\s+([^\n]+)",
        ),
        text,
    )
    number = _search(
        (
            r"\bcompany number\s*:?\s*(\w+)",
            r"\b(HRB \d+)",
            r"\bkvk-nummer\s*:?\s*(\d{8})",
            r"\bnum[eé]ro\s+(\d{3} \d{3} \d{3})",
            r"\bfile number\s*:?\s*(\d+)",
            r"\((\d{8})\)",
        ),
        text,
    )
    fields = []
    if company:
        fields.append(ExtractedField("company_name", company, 0.7))
    if number:
        fields.append(ExtractedField("registration_number", number, 0.8))
    found = _first_date(text)
    if found:
        fields.append(ExtractedField("document_date", found, 0.5))
    return fields


_HONORIFIC = r"(?:mr|mrs|ms|miss|mx|dr|madame|monsieur|herrn?|frau)\.?"


def address_fields(text: str) -> list[ExtractedField]:
    """A bill or a bank's letter: the addressee (the line that starts with an honorific, or
    a labelled holder), the address (a labelled supply or service address, else the lines
    under the addressee) and the date it was issued."""
    fields = []
    holder = _search(
        (
            r"\baccount holder\s*:\s*([^\n]+)",
            r"\bcustomer name\s*:\s*([^\n]+)",
            rf"^\s*({_HONORIFIC}\s+[^\n,]+)$",
        ),
        text,
    )
    if holder:
        name = re.sub(rf"^{_HONORIFIC}\s+", "", holder, flags=re.I).strip()
        fields.append(ExtractedField("full_name", name, 0.7))
    address = _search(
        (
            r"\b(?:supply|service|installation) address\s*:?\s*([^\n]+)",
            r"\badresse de consommation\s*:?\s*([^\n]+)",
            r"^\s*property\s*:\s*([^\n]+?)(?:\s{2,}|$)",
            r"\baddress we hold for this customer is\s*:?\s*\n?\s*([^\n]+)",
        ),
        text,
    )
    if address is None and holder:
        lines = text.splitlines()
        at = next(i for i, line in enumerate(lines) if holder in line)
        block = []
        for line in lines[at + 1 : at + 4]:
            if not line.strip() or ":" in line:
                break
            block.append(line.strip())
        address = ", ".join(block) or None
    if address:
        fields.append(ExtractedField("address", address.strip(" ,"), 0.7))
    date = _search(
        (
            r"\b(?:bill date|date of issue|invoice date|statement date|date de facture"
            r"|date)\s*:?\s*([^\n]{6,30})",
        ),
        text,
    )
    parsed = _first_date(date) if date else None
    if parsed:
        fields.append(ExtractedField("document_date", parsed, 0.8))
    return fields
