"""``compliance sanctions ...`` and ``compliance screen``: sanctions lists and screening."""

from __future__ import annotations

from typing import Any


def register(sub: Any) -> None:
    """No sanctions commands yet."""
