"""Tax forms: which form a document is (W-9, W-8BEN, W-2, the 1099 and 1098 families, Form
1040 and its schedules, UK P60, the German Lohnsteuerbescheinigung, Canadian T4) and the
fields the rules check on it: the taxpayer's name and identification numbers, the payer's.

Values are as printed (a masked number such as ``***-**-6621`` is left out: there is nothing
to validate); the rules decide whether they are valid."""

from __future__ import annotations

import re

from compliance.classification.model import ExtractedField

# (form name, pattern on the lowered text), most specific first: a form headed with its number
# ("Form 8949") is that form; Form 1040 and its schedules name the W-2 and the 1099s they take
# figures from, so they are looked for before them.
_FORMS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(pattern))
    for name, pattern in (
        ("W-9", r"\bform w-9\b|request for taxpayer identification number and certification"),
        ("W-8BEN", r"\bform w-8ben\b"),
        ("numbered", r"(?m)^\s*(?:\d{4}\s+)?form \d{3,5}(?:-[a-z]+)?\b"),
        ("1040 Schedule", r"\bschedule [a-z0-9]{1,4}\s*\(form 1040\)"),
        ("1040", r"\bform 1040\b[^\n]{0,40}individual income tax return|\bform 1040\b"),
        ("W-2", r"\bwage and tax statement\b|\bform w-2\b"),
        ("1099", r"\bform 1099-[a-z]+\b|\b1099-(?:int|div|nec|misc|r|b|k|g|s|oid|sa)\b"),
        ("1098", r"\bform 1098(?:-[a-z])?\b|\bmortgage interest statement\b"),
        ("P60", r"\bp60 end of year certificate\b|\bp60\b"),
        ("Lohnsteuerbescheinigung", r"\blohnsteuerbescheinigung\b"),
        ("T4", r"\bt4 statement of remuneration paid\b|\bstatement of remuneration paid\b"),
    )
)
_FORM_SUFFIX = {
    "1040 Schedule": re.compile(r"\bschedule ([a-z0-9]{1,4})\s*\(form 1040\)"),
    "numbered": re.compile(r"^\s*(?:\d{4}\s+)?form (\d{3,5}(?:-[a-z]+)?)\b", re.M),
    "1099": re.compile(r"\b(?:form )?1099-([a-z]+)\b"),
    "1098": re.compile(r"\bform 1098(-[a-z])?\b"),
}


def form_name(text: str) -> str | None:
    """The tax form's name as the IRS (or HMRC, the BMF, the CRA) writes it, else None."""
    lowered = text.lower()
    for name, pattern in _FORMS:
        if not pattern.search(lowered[:400] if name == "numbered" else lowered):
            continue
        suffix = _FORM_SUFFIX.get(name)
        found = suffix.search(lowered) if suffix else None
        if name == "1040 Schedule" and found:
            return f"1040 Schedule {found.group(1).upper()}"
        if name == "numbered" and found:  # the number a form is headed with: "Form 8949"
            return found.group(1).upper()
        if name == "1099" and found:
            return f"1099-{found.group(1).upper()}"
        if name == "1098":
            return f"1098{(found.group(1) or '').upper()}" if found else "1098"
        return name
    return None


_SSN = r"(\d{3}-\d{2}-\d{4}|\d{3} \d{2} \d{4}|\d{9})"
_EIN = r"(\d{2}-\d{7})"


def _after(label: str, value: str, text: str, flags: int = re.I) -> str | None:
    """The first ``value`` printed on the label's line or within the next two lines."""
    found = re.search(f"(?:{label})" + r"[^\n]*?(?:\n[^\n]*?){0,2}?" + value, text, flags)
    return found.group(1) if found else None


def _line_after(label: str, text: str) -> str | None:
    """The text of the line after the label's line (forms print the value under its box)."""
    found = re.search(f"(?:{label})" + r"[^\n]*\n[ \t]*([^\n]+)", text, re.I)
    return found.group(1).strip() if found else None


def _labelled(label: str, text: str) -> str | None:
    """The value printed after ``label`` on the same line, else on the next."""
    found = re.search(f"(?:{label})" + r"[ \t]*:?[ \t]*([^\n]*)", text, re.I)
    if not found:
        return None
    same_line = found.group(1).strip()
    return same_line or _line_after(label, text)


def _name_words(value: str | None) -> str | None:
    """A printed name without what follows it on the line (a column of figures); a line of
    words alone is the name, however an OCR spaced it."""
    if not value:
        return None
    if not re.search(r"\d|:", value):  # a wide gap still ends it: the next column
        return " ".join(re.split(r"\s{3,}", value.strip())[0].split()).strip(" ,") or None
    name = re.split(r"\s{2,}|\t|\d", value.strip())[0].strip(" ,")
    return name or None


def _w2(text: str) -> dict[str, str | None]:
    ssn = _after(r"employee'?s social security number", _SSN, text)
    ein = _after(r"employer identification number", _EIN, text)
    employee = re.search(
        r"employee'?s first name and initial\s+last name[^\n]*\n\s*([A-Za-z][^\n]+)", text, re.I
    )
    employer = _line_after(r"employer'?s name, address,? and zip code", text)
    return {
        "full_name": _name_words(employee.group(1)) if employee else None,
        "ssn": ssn,
        "ein": ein,
        "payer_name": _name_words(employer),
    }


def _1099(text: str) -> dict[str, str | None]:
    recipient = _after(r"recipient'?s tin|borrower'?s tin", _SSN + r"(?!\d)", text)
    payer_tin = _after(r"payer'?s tin|lender'?s tin", _EIN, text)
    name = _labelled(r"recipient'?s name|payer'?s/borrower'?s name", text)
    payer = _line_after(r"(?:payer|lender)'?s name, street address", text)
    if payer is None:
        payer = _labelled(r"payer'?s name", text)
    return {
        "full_name": _name_words(name),
        "taxpayer_id": recipient,
        "payer_tin": payer_tin,
        "payer_name": _name_words(payer.split(",")[0]) if payer else None,
    }


def _w8ben(text: str) -> dict[str, str | None]:
    name = re.search(
        r"name of individual who is the beneficial owner(?:\s+2 country of citizenship)?\s*\n"
        r"\s*([^\n]+)",
        text,
        re.I,
    )
    foreign = _after(
        r"foreign tax identifying number(?: \(see instructions\))?",
        r"\s*(\d[0-9A-Z .-]{5,30})",
        text,
    )
    us_tin = _after(r"u\.s\. taxpayer identification number[^\n]*\n?", _SSN, text)
    return {
        "full_name": _name_words(name.group(1)) if name else None,
        "foreign_tin": foreign.strip() if foreign else None,
        "taxpayer_id": us_tin,
    }


def _p60(text: str) -> dict[str, str | None]:
    surname = _labelled(r"\bsurname\b", text)
    forenames = _labelled(r"forenames or initials", text)
    surname = _name_words(re.split(r"forenames", surname or "", flags=re.I)[0])
    nino = re.search(r"national insurance number\s*:?\s*([A-Z]{2}\s?\d{2}\s?\d{2}\s?\d{2}\s?[A-D])",
                     text, re.I)  # fmt: skip
    full = " ".join(p for p in (_name_words(forenames), surname) if p) or None
    return {
        "full_name": full,
        "national_insurance_number": nino.group(1) if nino else None,
        "payer_name": _name_words(
            (_labelled(r"employer'?s full name and address", text) or "").split(",")[0]
        ),
    }


def _lohnsteuer(text: str) -> dict[str, str | None]:
    idnr = re.search(r"identifikationsnummer\s*:?\s*(\d{2} ?\d{3} ?\d{3} ?\d{3})", text, re.I)
    name = re.search(r"^(?:frau|herrn?)\s*\n?\s*([^\n,]+)", text, re.I | re.M)
    return {
        "full_name": name.group(1).strip() if name else None,
        "tax_id": idnr.group(1) if idnr else None,
        "tax_country": "DEU",
    }


def _t4(text: str) -> dict[str, str | None]:
    last = _labelled(r"last name\s*:?", text)
    first = re.search(r"first name\s*:?\s*([A-Za-z][^\n]*)", text, re.I)
    sin = _after(r"social insurance number", r"(\d{3} ?\d{3} ?\d{3})", text)
    surname = _name_words(re.split(r"first name", last or "", flags=re.I)[0])
    given = _name_words(first.group(1)) if first else None
    return {
        "full_name": " ".join(p for p in (given, surname) if p) or None,
        "social_insurance_number": sin,
    }


_EXTRACTORS = {
    "W-2": _w2,
    "W-8BEN": _w8ben,
    "P60": _p60,
    "Lohnsteuerbescheinigung": _lohnsteuer,
    "T4": _t4,
}


def tax_form_fields(text: str, form: str) -> list[ExtractedField]:
    """The fields of any form but the W-9 (``local.w9_fields`` reads that one)."""
    extract = _EXTRACTORS.get(form)
    if extract is None and (form.startswith("1099") or form.startswith("1098")):
        extract = _1099
    values = extract(text) if extract else {}
    fields = [ExtractedField("form", form, 0.9)]
    fields += [ExtractedField(name, value, 0.7) for name, value in values.items() if value]
    return fields
