"""The real public sample files in ../shared/data (see its SOURCES.md), for tests that need
them. A test whose file is missing FAILS with the reason; it is never skipped."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def shared(path: Path) -> Path:
    """``path`` (inside SHARED_DATA), or a test failure saying what is missing."""
    if not SHARED_DATA.is_dir():
        pytest.fail(
            f"the real sample data folder {SHARED_DATA} is missing: this test needs "
            "../shared/data beside the project (see shared/data/SOURCES.md)",
            pytrace=False,
        )
    if not path.exists():
        pytest.fail(f"{path} is missing from the shared sample data", pytrace=False)
    return path
