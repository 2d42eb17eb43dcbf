"""ICAO Doc 9303 machine-readable zones: parse their lines, check their digits, read dates.

TD3 (passports): two lines of 44 characters. TD2: two lines of 36. TD1 (ID cards): three lines
of 30. Each check digit is the weighted sum (weights 7, 3, 1) of the character values modulo
10, where digits count as themselves, A-Z as 10-35 and the filler ``<`` as 0.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

_WEIGHTS = (7, 3, 1)


def check_digit(data: str) -> int:
    total = 0
    for i, char in enumerate(data):
        if char.isdigit():
            value = int(char)
        elif "A" <= char <= "Z":
            value = ord(char) - 55
        elif char == "<":
            value = 0
        else:
            raise ValueError(f"character {char!r} is not allowed in an MRZ")
        total += value * _WEIGHTS[i % 3]
    return total % 10


def digit_ok(data: str, digit: str) -> bool:
    return digit.isdigit() and check_digit(data) == int(digit)


@dataclass(frozen=True)
class MRZ:
    format: str  # TD1, TD2 or TD3
    document_code: str
    issuing_state: str
    surname: str
    given_names: str
    document_number: str
    nationality: str
    birth_date: str  # YYMMDD as printed
    sex: str
    expiry_date: str  # YYMMDD as printed
    optional_data: str
    checks: dict[str, bool] = field(default_factory=dict)
    lines: tuple[str, ...] = ()

    @property
    def valid(self) -> bool:
        return all(self.checks.values())

    @property
    def failed_checks(self) -> list[str]:
        return [name for name, ok in self.checks.items() if not ok]


def parse_lines(lines: list[str]) -> MRZ:
    """Parse two (TD3, TD2) or three (TD1) complete zone lines."""
    parser = {(2, 44): _td3, (2, 36): _td2, (3, 30): _td1}[(len(lines), len(lines[0]))]
    return parser(lines)


def _names(field_text: str) -> tuple[str, str]:
    surname, _, given = field_text.partition("<<")
    return _words(surname), _words(given)


def _words(field_text: str) -> str:
    return " ".join(word for word in field_text.split("<") if word)


def _td3(lines: list[str]) -> MRZ:
    l1, l2 = lines
    surname, given = _names(l1[5:44])
    composite = l2[0:10] + l2[13:20] + l2[21:43]
    return MRZ(
        format="TD3",
        document_code=l1[0:2].replace("<", ""),
        issuing_state=l1[2:5].replace("<", ""),
        surname=surname,
        given_names=given,
        document_number=l2[0:9].replace("<", ""),
        nationality=l2[10:13].replace("<", ""),
        birth_date=l2[13:19],
        sex=l2[20],
        expiry_date=l2[21:27],
        optional_data=l2[28:42].replace("<", ""),
        checks={
            "document_number": digit_ok(l2[0:9], l2[9]),
            "birth_date": digit_ok(l2[13:19], l2[19]),
            "expiry_date": digit_ok(l2[21:27], l2[27]),
            "optional_data": (l2[42] == "<" and set(l2[28:42]) == {"<"})
            or digit_ok(l2[28:42], l2[42]),
            "composite": digit_ok(composite, l2[43]),
        },
        lines=tuple(lines),
    )


def _td2(lines: list[str]) -> MRZ:
    l1, l2 = lines
    surname, given = _names(l1[5:36])
    composite = l2[0:10] + l2[13:20] + l2[21:35]
    return MRZ(
        format="TD2",
        document_code=l1[0:2].replace("<", ""),
        issuing_state=l1[2:5].replace("<", ""),
        surname=surname,
        given_names=given,
        document_number=l2[0:9].replace("<", ""),
        nationality=l2[10:13].replace("<", ""),
        birth_date=l2[13:19],
        sex=l2[20],
        expiry_date=l2[21:27],
        optional_data=l2[28:35].replace("<", ""),
        checks={
            "document_number": digit_ok(l2[0:9], l2[9]),
            "birth_date": digit_ok(l2[13:19], l2[19]),
            "expiry_date": digit_ok(l2[21:27], l2[27]),
            "composite": digit_ok(composite, l2[35]),
        },
        lines=tuple(lines),
    )


def _td1(lines: list[str]) -> MRZ:
    l1, l2, l3 = lines
    surname, given = _names(l3)
    composite = l1[5:30] + l2[0:7] + l2[8:15] + l2[18:29]
    return MRZ(
        format="TD1",
        document_code=l1[0:2].replace("<", ""),
        issuing_state=l1[2:5].replace("<", ""),
        surname=surname,
        given_names=given,
        document_number=l1[5:14].replace("<", ""),
        nationality=l2[15:18].replace("<", ""),
        birth_date=l2[0:6],
        sex=l2[7],
        expiry_date=l2[8:14],
        optional_data=(l1[15:30] + l2[18:29]).replace("<", ""),
        checks={
            "document_number": digit_ok(l1[5:14], l1[14]),
            "birth_date": digit_ok(l2[0:6], l2[6]),
            "expiry_date": digit_ok(l2[8:14], l2[14]),
            "composite": digit_ok(composite, l2[29]),
        },
        lines=tuple(lines),
    )


def mrz_date(yymmdd: str, *, future: bool, today: date | None = None) -> date | None:
    """YYMMDD -> date. A birth date is the latest reading that is not in the future; an expiry
    date is the reading within the 100 years that end 50 years from today."""
    if not re.fullmatch(r"\d{6}", yymmdd):
        return None
    today = today or date.today()
    yy, mm, dd = int(yymmdd[:2]), int(yymmdd[2:4]), int(yymmdd[4:6])
    readings = []
    for century in (today.year // 100 - 1, today.year // 100, today.year // 100 + 1):
        try:
            readings.append(date(century * 100 + yy, mm, dd))
        except ValueError:
            return None
    if future:
        horizon = (
            today.replace(year=today.year + 50)
            if not (today.month == 2 and today.day == 29)
            else date(today.year + 50, 2, 28)
        )
        return max(d for d in readings if d <= horizon)
    return max(d for d in readings if d <= today)
