"""ICAO 9303 check digits: the weighted sum (weights 7, 3, 1) of the character values modulo
10, where digits count as themselves, A-Z as 10-35 and the filler ``<`` as 0."""

from __future__ import annotations

_WEIGHTS = (7, 3, 1)


_VALUES = {
    **{str(d): d for d in range(10)},
    **{chr(65 + i): 10 + i for i in range(26)},
    "<": 0,
}
# for each weight, character -> its weighted value: positions 0, 3, 6... weigh 7, and so on
_BY_7, _BY_3, _BY_1 = ({c: v * w for c, v in _VALUES.items()} for w in _WEIGHTS)


def check_digit(data: str) -> int:
    try:
        total = sum(map(_BY_7.__getitem__, data[0::3]))
        total += sum(map(_BY_3.__getitem__, data[1::3]))
        return (total + sum(map(_BY_1.__getitem__, data[2::3]))) % 10
    except KeyError:  # another character: the full rules below (other digits, or an error)
        return _check_digit_any(data)


def _check_digit_any(data: str) -> int:
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
