"""The real public sample files the tests carry in tests/data (see its SOURCES.md), for tests
that need them. A test whose file is missing FAILS with the reason; it is never skipped."""

from __future__ import annotations

from pathlib import Path

import pytest

TEST_DATA = Path(__file__).resolve().parent / "data"
DOCUMENTS = TEST_DATA / "documents"
SANCTIONS = TEST_DATA / "sanctions"


def data_file(path: Path) -> Path:
    """``path`` (inside TEST_DATA), or a test failure saying what is missing."""
    if not path.exists():
        pytest.fail(
            f"{path} is missing from the project's test data (see tests/data/SOURCES.md)",
            pytrace=False,
        )
    return path
