# Fixture strategy for the fast unit tests (no Kafka, no PostgreSQL):
#
# - Paths are computed from the test files, never from the working directory: PROJECT_ROOT is
#   the repository, SAMPLES its bundled sample documents, tests/data the real-world files the
#   tests carry (tests/data_files.py). Test modules that need a path at collection time (to
#   parametrize) compute it the same way from their own __file__, so they import nothing from
#   here and work whether or not tests/ is a package. A test that reads tests/data opens
#   it through ``tests.data_files.data_file()``, which makes the test FAIL (never skip, never
#   error in a fixture) with a clear message when the folder or file is missing; parametrized
#   tests put a placeholder in an empty parameter list so a missing folder fails instead of
#   collecting an empty (skipped) parameter set.
# - Environment isolation: ``clean_env`` removes every COMPLIANCE_* variable so a developer's
#   shell cannot change what Settings reads. Nothing here is autouse, so the screening tests
#   (owned by another engineer) are unaffected by these fixtures.
# - Settings are built explicitly (``settings``) with the samples folder as the only document
#   root, so the classifier stage can be called as a plain function.
# - The bundled ruleset is loaded once per session (it is immutable); tests that edit rules
#   copy rules/ to tmp_path first.
# - Time is fixed wherever a decision depends on "today": the stage tests stamp classified
#   documents with a constant date (late 2026, when the samples are set) and the rule tests
#   pass an explicit as_of date.
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from compliance.config import Settings
from compliance.rules import Ruleset, load_ruleset

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SAMPLES = PROJECT_ROOT / "samples" / "documents"


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    for name in list(os.environ):
        if name.upper().startswith("COMPLIANCE_"):
            monkeypatch.delenv(name)
    yield monkeypatch


@pytest.fixture
def settings(clean_env: pytest.MonkeyPatch) -> Settings:
    return Settings(document_roots=[SAMPLES])


@pytest.fixture(scope="session")
def ruleset() -> Ruleset:
    return load_ruleset(PROJECT_ROOT / "rules")
