"""The screening benchmark's labelled names owe nothing to the matcher's own tables, and the
real aliases it screens are held out of the index they are screened against."""

from __future__ import annotations

import ast
import importlib.util
import random
import sys
from pathlib import Path
from types import ModuleType

import pytest

from compliance.screening import SanctionsList

BENCH = Path(__file__).resolve().parents[3] / "benchmarks" / "screening_bench.py"
# What the matcher decides with: a variant made from these would flatter its recall.
MATCHER_TABLES = {"compliance.screening.normalise", "compliance.screening.translit",
                  "compliance.screening.common_names"}  # fmt: skip
MATCHER_NAMES = {"normalise_name", "VARIANTS", "transliterate", "fold_spelling",
                 "COMMON_NAME_TOKENS"}  # fmt: skip


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("screening_bench", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["screening_bench"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_the_benchmark_makes_its_variants_without_the_matchers_tables() -> None:
    tree = ast.parse(BENCH.read_text(encoding="utf-8"))
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not imported & MATCHER_TABLES
    # normalise_name is only for telling negatives from listed names, in the index's terms
    variants = {"make_positives", "name_words", "respelt", "typo", "without_held_out"}
    for function in ast.walk(tree):
        if isinstance(function, ast.FunctionDef) and function.name in variants:
            used = {n.id for n in ast.walk(function) if isinstance(n, ast.Name)}
            assert not used & MATCHER_NAMES, function.name


def test_real_aliases_screened_are_held_out_of_the_index(
    bench: ModuleType, bundled_lists: list[SanctionsList], rng: random.Random
) -> None:
    positives = bench.make_positives(bundled_lists, rng, per_kind=50)
    kinds = {pair.kind for pair in positives.pairs}
    assert {"real alias, respelt (held out)", "real alias, original script (held out)"} <= kinds
    held = {e.entity_id: e for lst in bench.without_held_out(bundled_lists, positives.held_out)
            for e in lst.entities}  # fmt: skip
    for pair in positives.pairs:
        assert pair.expected in held
        if pair.kind.startswith("real alias"):
            assert pair.query in positives.held_out[pair.expected]
            assert pair.query not in {a.name for a in held[pair.expected].aliases}
    total = sum(len(lst.entities) for lst in bundled_lists)
    assert len(held) == total  # only aliases are removed, never an entity


def test_a_respelt_alias_is_the_same_name_spelt_otherwise(bench: ModuleType) -> None:
    assert bench.respelt("AL-ZAWAHIRI, Ayman Muhammad", "Ayman Mohammed al-Zawahiri")
    assert not bench.respelt("AL-ZAWAHIRI, Ayman", "Ayman AL-ZAWAHIRI")  # a reordering
    assert not bench.respelt("AL-BAGHDADI, Abu Bakr", "Ibrahim Awwad Ibrahim al-Badri")
    assert not bench.respelt("PUTIN, Vladimir", "Владимир Путин")  # another script
