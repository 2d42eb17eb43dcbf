"""Fixtures for every test (unit and integration)."""

from __future__ import annotations

import random

import pytest

from tests.support.seed import seeded_random


@pytest.fixture
def rng(request: pytest.FixtureRequest) -> random.Random:
    """A randomised test's generator; its seed is logged and replayable (tests/support/seed.py)."""
    return seeded_random(request.node.nodeid)
