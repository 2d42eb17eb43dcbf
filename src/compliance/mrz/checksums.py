"""ICAO 9303 check digits: the weighted sum (weights 7, 3, 1) of the character values modulo
10, where digits count as themselves, A-Z as 10-35 and the filler ``<`` as 0."""

from __future__ import annotations

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
