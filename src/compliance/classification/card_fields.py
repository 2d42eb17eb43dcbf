"""Driving licences: the numbered fields of the EU and UK model (1. surname, 2. given names,
3. birth date and place, 4a. issued, 4b. expiry, 4c. authority, 5. number, 8. address,
9. categories), and the short labels of North American cards (DL, LN, FN, DOB, EXP, ISS).
Values are as printed; dates in ISO 8601 where they can be read."""

from __future__ import annotations

import re
from datetime import date, datetime

from compliance.classification.dates import parse_printed_date
from compliance.classification.model import ExtractedField

_NUMBERED = re.compile(r"^\s*(1|2|3|4a|4b|4c|5|8|9)\.\s+(.+?)\s*$", re.M)
_US = re.compile(r"^\s*(DL|LN|FN|DOB|EXP|ISS)\s+(.+?)\s*$", re.M)
_ONTARIO = {
    "document_number": re.compile(r"\b4d\s+NUMBER/NUM[ÉE]RO\s+(\S+)", re.I),
    "full_name": re.compile(r"\b1,2\s+NAME/NOM\s+([^\n]+)", re.I),
    "date_of_birth": re.compile(r"\b3\s+DOB/DDN\s+([\d/.-]+)", re.I),
    "expiry_date": re.compile(r"\b4b\s+EXP\s+([\d/.-]+)", re.I),
}


def _date(raw: str, month_first: bool = False) -> str | None:
    raw = raw.strip()
    match = re.match(r"(\d{1,4})[/.-](\d{1,2})[/.-](\d{2,4})", raw)
    if match:
        first, second, third = match.groups()
        try:
            if len(first) == 4:
                return date(int(first), int(second), int(third)).isoformat()
            year = int(third) if len(third) == 4 else 2000 + int(third)
            day, month = (int(second), int(first)) if month_first else (int(first), int(second))
            return date(year, month, day).isoformat()
        except ValueError:
            return None
    parsed = parse_printed_date(raw)
    if parsed:
        return parsed.isoformat()
    try:
        return datetime.strptime(raw.title(), "%d%b%Y").date().isoformat()
    except ValueError:
        return None


def _person(surname: str, given: str) -> list[ExtractedField]:
    surname, given = surname.strip(" ,"), given.strip(" ,")
    given = re.sub(r"^(?:MR|MRS|MS|MISS|DR)\s+", "", given, flags=re.I)
    fields = [ExtractedField("surname", surname, 0.8), ExtractedField("given_names", given, 0.8)]
    if surname and given:
        fields.append(ExtractedField("full_name", f"{given} {surname}", 0.8))
    return fields


def licence_fields(text: str) -> list[ExtractedField]:
    fields: list[ExtractedField] = []
    numbered = {key: value for key, value in _NUMBERED.findall(text)}
    if "1" in numbered and "2" in numbered:
        fields += _person(numbered["1"], numbered["2"])
        if "3" in numbered:
            born = _date(numbered["3"].split()[0])
            if born:
                fields.append(ExtractedField("date_of_birth", born, 0.8))
        expiry = re.search(r"\b4b\.\s+([\d./-]+)", text)
        if expiry and _date(expiry.group(1)):
            fields.append(ExtractedField("expiry_date", _date(expiry.group(1)), 0.8))
        if "5" in numbered:
            fields.append(ExtractedField("document_number", numbered["5"].split()[0], 0.8))
        if "8" in numbered:
            fields.append(ExtractedField("address", numbered["8"], 0.7))
        return fields
    us = {key: value for key, value in _US.findall(text)}
    if "LN" in us or "DL" in us:
        fields += _person(us.get("LN", ""), us.get("FN", ""))
        for name, key in (("date_of_birth", "DOB"), ("expiry_date", "EXP")):
            value = _date(us[key], month_first=True) if key in us else None
            if value:
                fields.append(ExtractedField(name, value, 0.8))
        if "DL" in us:
            fields.append(ExtractedField("document_number", us["DL"].split()[0], 0.8))
        return fields
    for name, pattern in _ONTARIO.items():
        found = pattern.search(text)
        if not found:
            continue
        printed = found.group(1).strip()
        if name == "full_name" and "," in printed:
            surname, given = printed.split(",", 1)
            fields += _person(surname, given)
            continue
        read = _date(printed) if name.endswith(("_birth", "_date")) else printed
        if read:
            fields.append(ExtractedField(name, read, 0.8))
    return fields


# Printed labels of identity documents, in the languages their fields are labelled in (a
# label is often several at once: "Name/Surname/Nom"), and the field each names.
_PRINTED_LABELS = {
    "surname": "surname",
    "nom": "surname",
    "naam": "surname",
    "apellidos": "surname",
    "cognome": "surname",
    "given names": "given_names",
    "given name": "given_names",
    "vornamen": "given_names",
    "prénoms": "given_names",
    "voornamen": "given_names",
    "nombre": "given_names",
    "nome": "given_names",
    "date of birth": "date_of_birth",
    "geburtsdatum": "date_of_birth",
    "geburtstag": "date_of_birth",
    "geboortedatum": "date_of_birth",
    "date de naissance": "date_of_birth",
    "fecha de nacimiento": "date_of_birth",
    "date of expiry": "expiry_date",
    "date of expiration": "expiry_date",
    "gültig bis": "expiry_date",
    "valid until": "expiry_date",
    "geldig tot": "expiry_date",
    "card expires": "expiry_date",
    "validez": "expiry_date",
    "nationality": "nationality",
    "staatsangehörigkeit": "nationality",
    "nationaliteit": "nationality",
    "document no.": "document_number",
    "document no": "document_number",
    "dokumentnummer": "document_number",
    "documentnummer": "document_number",
    "passport no.": "document_number",
}
_PRINTED_LINE = re.compile(
    r"^\s*(?:\d+\.\s*)?([^\W\d][\w'./ -]*?)\s*(?::|\s{2,})\s*(\S[^\n]*?)\s*$"
)


def printed_identity_fields(text: str) -> list[ExtractedField]:
    """The fields an identity card, a permit or a passport page prints beside their labels
    ("Surname  MUSTERFRAU", "Gültig bis/Valid until  30.06.2028"), for documents read
    without a machine-readable zone; a zone's fields, when there is one, take precedence."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        match = _PRINTED_LINE.match(line)
        if not match:
            continue
        labels = [part.strip().lower() for part in match.group(1).split("/")]
        names = {_PRINTED_LABELS[label] for label in labels if label in _PRINTED_LABELS}
        if len(names) != 1:
            continue
        name = names.pop()
        value = match.group(2)
        if name in ("date_of_birth", "expiry_date"):
            read = _date(value.split("   ")[0])
            if read is None:
                continue
            value = read
        found.setdefault(name, value)
    fields = [ExtractedField(name, value, 0.7) for name, value in found.items()]
    if "surname" in found and "given_names" in found:
        fields.append(
            ExtractedField("full_name", f"{found['given_names']} {found['surname']}", 0.7)
        )
    return fields
