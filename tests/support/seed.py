"""Random generators for randomised tests, with their seed logged so a failing run can be
replayed: ``TEST_RANDOM_SEED=<seed> pytest <test>`` gives the same choices again."""

from __future__ import annotations

import os
import random

SEED_VARIABLE = "TEST_RANDOM_SEED"


def seeded_random(test_name: str) -> random.Random:
    """A generator seeded from ``TEST_RANDOM_SEED`` if set, else from the system; the seed is
    printed (pytest shows it with a failure) before any choice is made."""
    given = os.environ.get(SEED_VARIABLE, "").strip()
    seed = int(given) if given else random.SystemRandom().randrange(2**32)
    print(f"{test_name}: random seed {seed} (replay with {SEED_VARIABLE}={seed})", flush=True)
    return random.Random(seed)
