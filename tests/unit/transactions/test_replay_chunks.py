"""``compliance transactions replay`` reads its accounts' keys a chunk at a time, and still
publishes every payment before a bad line of the file, then stops with the line's error."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from compliance.commands.transactions import _chunks
from compliance.transactions.sources import SourceError


def rows(n: int, bad_at: int | None = None) -> Iterator[int]:
    for i in range(n):
        if i == bad_at:
            raise SourceError(f"payments.csv, line {i + 2}: no amount")
        yield i


def test_payments_come_in_chunks_of_the_given_size_and_the_rest_last() -> None:
    assert list(_chunks(rows(7), 3)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(_chunks(rows(0), 3)) == []


def test_the_payments_before_a_bad_line_come_before_its_error() -> None:
    got: list[int] = []
    with pytest.raises(SourceError, match="line 7"):
        for chunk in _chunks(rows(10, bad_at=5), 4):
            got.extend(chunk)
    assert got == [0, 1, 2, 3, 4]
