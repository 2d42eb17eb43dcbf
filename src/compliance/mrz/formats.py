"""The layouts of machine-readable zones: where each field lies, its character class and the
check digits guarding it, for every format ``compliance.mrz.zone`` names.

Long document numbers (ICAO 9303 Part 5 and 6, TD1 and TD2): when a number has more than nine
characters, the check-digit position holds ``<``, the rest of the number opens the optional
data and is followed by the check digit over the whole number. Issuers compute that digit over
the number itself (the ICAO text) or over the printed characters with the ``<`` between the
two parts (Portuguese and some Belgian cards); either holds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from compliance.mrz.checksums import digit_ok
from compliance.mrz.result import MRZ, document_kind

Parser = Callable[[list[str]], MRZ]


@dataclass(frozen=True)
class Span:
    """A field's characters: line, [start, end), class A (letters), N (digits) or X (both)."""

    field: str
    line: int
    start: int
    end: int
    kind: str


def _code(text: str) -> str:
    return text.replace("<", "")


def _words(text: str) -> str:
    return " ".join(word for word in text.split("<") if word)


def _names(text: str) -> tuple[str, str]:
    surname, _, given = text.strip("<").partition("<<")
    return _words(surname), _words(given)


def _optional_ok(data: str, digit: str) -> bool:
    """An empty optional field may carry ``<`` or a computed 0 as its check digit."""
    return (digit == "<" and set(data) <= {"<"}) or digit_ok(data, digit)


def _expiry_ok(data: str, digit: str) -> bool:
    """Some passports print no expiry date (the Russian internal passport): fillers throughout,
    ``<`` as the check digit."""
    return (digit == "<" and data == "<<<<<<") or digit_ok(data, digit)


def _long_number(first: str, digit: str, optional: str) -> tuple[str, bool, str]:
    """(number, check holds, optional data left) for a nine-character number field, its check
    position and the optional data that may carry the overflow."""
    if digit != "<" or optional[:1] in ("", "<"):
        return _code(first), digit_ok(first, digit), optional
    overflow = optional.split("<", 1)[0]
    rest, check = overflow[:-1], overflow[-1:]
    number = first + rest
    ok = digit_ok(number, check) or digit_ok(f"{first}<{rest}", check)
    return _code(first) + rest, ok, optional[len(overflow) :]


def td3(lines: list[str]) -> MRZ:
    l1, l2 = lines
    surname, given = _names(l1[5:44])
    composite = l2[0:10] + l2[13:20] + l2[21:43]
    code = _code(l1[0:2])
    return MRZ(
        format="TD3",
        document_code=code,
        issuing_state=_code(l1[2:5]),
        surname=surname,
        given_names=given,
        document_number=_code(l2[0:9]),
        nationality=_code(l2[10:13]),
        birth_date=l2[13:19],
        sex=l2[20],
        expiry_date=l2[21:27].replace("<", ""),
        optional_data=_code(l2[28:42]),
        checks={
            "document_number": digit_ok(l2[0:9], l2[9]),
            "birth_date": digit_ok(l2[13:19], l2[19]),
            "expiry_date": _expiry_ok(l2[21:27], l2[27]),
            "optional_data": _optional_ok(l2[28:42], l2[42]),
            "composite": digit_ok(composite, l2[43]),
        },
        lines=tuple(lines),
        kind=document_kind(code),
    )


def _visa(fmt: str, lines: list[str]) -> MRZ:
    """MRV-A and MRV-B (ICAO 9303 Part 7): no composite check digit, the optional data runs to
    the end of the line."""
    l1, l2 = lines
    surname, given = _names(l1[5:])
    code = _code(l1[0:2])
    return MRZ(
        format=fmt,
        document_code=code,
        issuing_state=_code(l1[2:5]),
        surname=surname,
        given_names=given,
        document_number=_code(l2[0:9]),
        nationality=_code(l2[10:13]),
        birth_date=l2[13:19],
        sex=l2[20],
        expiry_date=l2[21:27],
        optional_data=_code(l2[28:]),
        checks={
            "document_number": digit_ok(l2[0:9], l2[9]),
            "birth_date": digit_ok(l2[13:19], l2[19]),
            "expiry_date": digit_ok(l2[21:27], l2[27]),
        },
        lines=tuple(lines),
        kind="visa",
    )


def mrva(lines: list[str]) -> MRZ:
    return _visa("MRVA", lines)


def mrvb(lines: list[str]) -> MRZ:
    return _visa("MRVB", lines)


def td2(lines: list[str]) -> MRZ:
    l1, l2 = lines
    surname, given = _names(l1[5:36])
    number, number_ok, optional = _long_number(l2[0:9], l2[9], l2[28:35])
    composite = l2[0:10] + l2[13:20] + l2[21:35]
    code = _code(l1[0:2])
    return MRZ(
        format="TD2",
        document_code=code,
        issuing_state=_code(l1[2:5]),
        surname=surname,
        given_names=given,
        document_number=number,
        nationality=_code(l2[10:13]),
        birth_date=l2[13:19],
        sex=l2[20],
        expiry_date=l2[21:27],
        optional_data=_code(optional),
        checks={
            "document_number": number_ok,
            "birth_date": digit_ok(l2[13:19], l2[19]),
            "expiry_date": digit_ok(l2[21:27], l2[27]),
            "composite": digit_ok(composite, l2[35]),
        },
        lines=tuple(lines),
        kind=document_kind(code),
    )


def td1(lines: list[str]) -> MRZ:
    l1, l2, l3 = lines
    surname, given = _names(l3)
    number, number_ok, optional = _long_number(l1[5:14], l1[14], l1[15:30])
    composite = l1[5:30] + l2[0:7] + l2[8:15] + l2[18:29]
    code = _code(l1[0:2])
    return MRZ(
        format="TD1",
        document_code=code,
        issuing_state=_code(l1[2:5]),
        surname=surname,
        given_names=given,
        document_number=number,
        nationality=_code(l2[15:18]),
        birth_date=l2[0:6],
        sex=l2[7],
        expiry_date=l2[8:14],
        optional_data=_code(optional),
        checks={
            "document_number": number_ok,
            "birth_date": digit_ok(l2[0:6], l2[6]),
            "expiry_date": digit_ok(l2[8:14], l2[14]),
            "composite": digit_ok(composite, l2[29]),
        },
        lines=tuple(lines),
        kind=document_kind(code),
        optional_data_2=_code(l2[18:29]),
    )


def french_id(lines: list[str]) -> MRZ:
    """The French national identity card (1988-2021): line 1 code, state, surname (25) and an
    administrative code (6); line 2 the card number (12: issue year and month, department,
    office, sequence), its check digit, given names (14, separated by ``<<``), birth date and
    its check digit, sex, and a check digit over both lines. No expiry date is printed; the
    card is issued to French nationals only, so the nationality is the issuing state's."""
    l1, l2 = lines
    state = _code(l1[2:5])
    return MRZ(
        format="FRA_ID",
        document_code=_code(l1[0:2]),
        issuing_state=state,
        surname=_words(l1[5:30]),
        given_names=" ".join(_words(part) for part in l2[13:27].split("<<") if _words(part)),
        document_number=l2[0:12],
        nationality=state,
        birth_date=l2[27:33],
        sex=l2[34],
        expiry_date="",
        optional_data=_code(l1[30:36]),
        checks={
            "document_number": digit_ok(l2[0:12], l2[12]),
            "birth_date": digit_ok(l2[27:33], l2[33]),
            "composite": digit_ok(l1 + l2[0:35], l2[35]),
        },
        lines=tuple(lines),
        kind="identity_card",
        issue_date=l2[0:4],
    )


def driving_licence(lines: list[str]) -> MRZ:
    """The one-line zone of ISO/IEC 18013 driving licences: ``D``, a configuration character,
    the issuing state, the state's data and a check digit over everything before it. France
    puts the licence number (9) and its check digit (over the line up to it), the expiry date
    and the surname (8) in the data; the Netherlands a configuration digit, then the licence
    number (10) and access-key characters. Other states' data is kept as optional data."""
    (line,) = lines
    state = _code(line[2:5])
    number, surname, expiry, optional = "", "", "", line[5:29]
    checks = {"composite": digit_ok(line[0:29], line[29])}
    if state == "FRA":
        number, expiry, surname, optional = line[5:14], line[15:21], _words(line[21:29]), ""
        checks = {"document_number": digit_ok(line[0:14], line[14]), **checks}
    elif state == "NLD":
        number, optional = line[6:16], line[16:29]
    return MRZ(
        format="DL",
        document_code=line[0],
        issuing_state=state,
        surname=surname,
        given_names="",
        document_number=_code(number),
        nationality="",
        birth_date="",
        sex="",
        expiry_date=expiry,
        optional_data=_code(optional),
        checks=checks,
        lines=tuple(lines),
        kind="driving_licence",
    )


def swiss_driving_licence(lines: list[str]) -> MRZ:
    """The Swiss driving licence: line 1 the licence number (9), line 2 ``FA``, the state, a
    PIN (9 digits), a version (3), ``<<``, the birth date, fillers; line 3 the names. It has no
    check digit: the layout itself is what is checked."""
    l1, l2, l3 = lines
    surname, given = _names(l3)
    layout = l2[5:17].isdigit() and l2[19:25].isdigit() and l2[17:19] == "<<" and l2[25:] == "<<<<<"
    return MRZ(
        format="CHE_DL",
        document_code=_code(l2[0:2]),
        issuing_state=_code(l2[2:5]),
        surname=surname,
        given_names=given,
        document_number=_code(l1),
        nationality="",
        birth_date=l2[19:25],
        sex="",
        expiry_date="",
        optional_data=l2[5:17],
        checks={"layout": layout},
        lines=tuple(lines),
        kind="driving_licence",
    )


# Character classes of each format's fields, for repairing OCR readings (``repair``).
SPANS: dict[str, tuple[Span, ...]] = {
    "TD3": (
        Span("document_code", 0, 0, 1, "A"),
        Span("issuing_state", 0, 2, 5, "A"),
        Span("names", 0, 5, 44, "A"),
        Span("document_number", 1, 0, 9, "X"),
        Span("document_number", 1, 9, 10, "N"),
        Span("nationality", 1, 10, 13, "A"),
        Span("birth_date", 1, 13, 20, "N"),
        Span("expiry_date", 1, 21, 28, "N"),
        Span("optional_data", 1, 28, 42, "X"),
        Span("optional_data", 1, 42, 43, "N"),
        Span("composite", 1, 43, 44, "N"),
    ),
    "TD2": (
        Span("document_code", 0, 0, 1, "A"),
        Span("issuing_state", 0, 2, 5, "A"),
        Span("names", 0, 5, 36, "A"),
        Span("document_number", 1, 0, 9, "X"),
        Span("nationality", 1, 10, 13, "A"),
        Span("birth_date", 1, 13, 20, "N"),
        Span("expiry_date", 1, 21, 28, "N"),
        Span("optional_data", 1, 28, 35, "X"),
        Span("composite", 1, 35, 36, "N"),
    ),
    "TD1": (
        Span("document_code", 0, 0, 1, "A"),
        Span("issuing_state", 0, 2, 5, "A"),
        Span("document_number", 0, 5, 14, "X"),
        Span("optional_data", 0, 15, 30, "X"),
        Span("birth_date", 1, 0, 7, "N"),
        Span("expiry_date", 1, 8, 15, "N"),
        Span("nationality", 1, 15, 18, "A"),
        Span("optional_data_2", 1, 18, 29, "X"),
        Span("composite", 1, 29, 30, "N"),
        Span("names", 2, 0, 30, "A"),
    ),
    "FRA_ID": (
        Span("document_code", 0, 0, 2, "A"),
        Span("issuing_state", 0, 2, 5, "A"),
        Span("names", 0, 5, 30, "A"),
        Span("document_number", 1, 0, 4, "N"),
        Span("document_number", 1, 4, 12, "X"),
        Span("document_number", 1, 12, 13, "N"),
        Span("names", 1, 13, 27, "A"),
        Span("birth_date", 1, 27, 34, "N"),
        Span("composite", 1, 35, 36, "N"),
    ),
    "DL": (
        Span("document_code", 0, 0, 1, "A"),
        Span("issuing_state", 0, 2, 5, "A"),
        Span("optional_data", 0, 5, 29, "X"),
        Span("composite", 0, 29, 30, "N"),
    ),
    "CHE_DL": (
        Span("document_number", 0, 0, 9, "X"),
        Span("document_code", 1, 0, 2, "A"),
        Span("issuing_state", 1, 2, 5, "A"),
        Span("optional_data", 1, 5, 17, "N"),
        Span("birth_date", 1, 19, 25, "N"),
        Span("names", 2, 0, 30, "A"),
    ),
}
SPANS["MRVA"] = (*SPANS["TD3"][:8], Span("optional_data", 1, 28, 44, "X"))
SPANS["MRVB"] = (*SPANS["TD2"][:7], Span("optional_data", 1, 28, 36, "X"))

# Which spans feed each check digit (what a failing check lets the repair change).
CHECKED: dict[str, dict[str, tuple[str, ...]]] = {
    "TD3": {
        "document_number": ("document_number",),
        "optional_data": ("optional_data",),
        "composite": ("document_number", "optional_data"),
    },
    "TD2": {
        "document_number": ("document_number", "optional_data"),
        "composite": ("document_number", "optional_data"),
    },
    "TD1": {
        "document_number": ("document_number", "optional_data"),
        "composite": ("document_number", "optional_data", "optional_data_2"),
    },
    "MRVA": {"document_number": ("document_number",)},
    "MRVB": {"document_number": ("document_number",)},
    "FRA_ID": {
        "document_number": ("document_number",),
        "composite": ("document_number", "names"),
    },
    "DL": {"document_number": ("optional_data",), "composite": ("optional_data",)},
    "CHE_DL": {},
}


def format_of(lines: list[str]) -> str | None:
    """The format the lines' count, lengths and document code name, or None."""
    shape = tuple(len(line) for line in lines)
    first = lines[0] if lines else ""
    if shape == (44, 44):
        return "MRVA" if first.startswith("V") else "TD3"
    if shape == (36, 36):
        if first.startswith("V"):
            return "MRVB"
        return "FRA_ID" if first.startswith("IDFRA") else "TD2"
    if shape == (30, 30, 30):
        return "TD1"
    if shape == (9, 30, 30):
        return "CHE_DL"
    if shape == (30,) and first.startswith("D"):
        return "DL"
    return None


PARSERS: dict[str, Parser] = {
    "TD3": td3,
    "TD2": td2,
    "TD1": td1,
    "MRVA": mrva,
    "MRVB": mrvb,
    "FRA_ID": french_id,
    "DL": driving_licence,
    "CHE_DL": swiss_driving_licence,
}


def parse_lines(lines: list[str]) -> MRZ:
    """Parse complete zone lines: their number and lengths, then the document code, decide
    the format."""
    return parser_for(lines)(lines)


def parser_for(lines: list[str]) -> Parser:
    fmt = format_of(lines)
    if fmt is None:
        shape = "x".join(str(len(line)) for line in lines)
        raise ValueError(f"no machine-readable zone has {len(lines)} lines of {shape}")
    return PARSERS[fmt]
