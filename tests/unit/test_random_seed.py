"""Randomised tests log the seed of their choices, and a logged seed replays them."""

from __future__ import annotations

import random
import re

import pytest

from tests.support.seed import SEED_VARIABLE, seeded_random


def test_the_seed_is_printed_before_any_choice(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(SEED_VARIABLE, raising=False)
    rng = seeded_random("some_test")
    printed = capsys.readouterr().out
    match = re.search(rf"some_test: random seed (\d+) \(replay with {SEED_VARIABLE}=\1\)", printed)
    assert match is not None, printed
    replay = random.Random(int(match.group(1)))
    assert [rng.random() for _ in range(5)] == [replay.random() for _ in range(5)]


def test_a_given_seed_replays_the_same_choices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SEED_VARIABLE, "20261205")
    first, second = seeded_random("a"), seeded_random("b")
    assert [first.randint(0, 10**9) for _ in range(5)] == [
        second.randint(0, 10**9) for _ in range(5)
    ]
