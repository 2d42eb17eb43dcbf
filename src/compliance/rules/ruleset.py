"""Loading a folder of rule files into a ruleset: parsed, validated, compiled, versioned.

Compiling turns each rule's condition into one callable ``(fields, context) -> Verdict``:
parameters validated and data files loaded once, so evaluating a document does no parsing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from compliance.rules.checks import Context, Fields, Verdict, kind_of
from compliance.rules.model import (
    AllOf,
    AnyOf,
    CheckSpec,
    NotOf,
    Rule,
    RulesetError,
    parse_rule_file,
    rule_files,
)
from compliance.screening import ListLoadError

Compiled = Callable[[Fields, Context], Verdict]
Condition = CheckSpec | AllOf | AnyOf | NotOf


@dataclass(frozen=True)
class Ruleset:
    version: str
    rules: tuple[Rule, ...]
    compiled: dict[str, Compiled]  # rule id -> its condition, ready to run
    needs: dict[str, frozenset[str]]  # rule id -> customer state it reads
    _by_type: dict[str, list[Rule]] = field(default_factory=dict, compare=False, repr=False)

    def for_type(self, document_type: str) -> list[Rule]:
        rules = self._by_type.get(document_type)
        if rules is None:
            rules = [r for r in self.rules if r.applies(document_type)]
            self._by_type[document_type] = rules
        return rules

    def needs_for_type(self, document_type: str) -> frozenset[str]:
        return frozenset().union(*(self.needs[r.id] for r in self.for_type(document_type)))

    def rule(self, rule_id: str) -> Rule:
        return next(r for r in self.rules if r.id == rule_id)


def load_ruleset(folder: Path) -> Ruleset:
    files = rule_files(folder)
    if not files:
        raise RulesetError(f"no rule files (*.yaml) in {folder}")
    digest = hashlib.sha256()
    rules: list[Rule] = []
    defined_in: dict[str, str] = {}
    for file in files:
        raw = file.read_bytes()
        digest.update(file.name.encode() + b"\0" + raw)
        for rule in parse_rule_file(file, raw):
            if rule.id in defined_in:
                raise RulesetError(
                    f"{file.name}: rule {rule.id}, field id: already defined in "
                    f"{defined_in[rule.id]}"
                )
            defined_in[rule.id] = file.name
            rules.append(rule)
    compiled: dict[str, Compiled] = {}
    needs: dict[str, frozenset[str]] = {}
    for rule in rules:
        try:
            compiled[rule.id], needs[rule.id] = compile_condition(rule.check, folder, digest)
        except (OSError, ValueError, ListLoadError) as exc:
            raise RulesetError(
                f"{defined_in[rule.id]}: rule {rule.id}, field check: {exc}"
            ) from None
    return Ruleset(f"sha256:{digest.hexdigest()[:16]}", tuple(rules), compiled, needs)


def compile_condition(
    condition: Condition, folder: Path, digest: Any
) -> tuple[Compiled, frozenset[str]]:
    if isinstance(condition, CheckSpec):
        kind = kind_of(condition.kind)
        params = condition.typed_params()
        resource = kind.preparer(params, folder, digest) if kind.preparer else None
        fn = kind.fn

        def run_check(fields: Fields, ctx: Context) -> Verdict:
            return fn(params, fields, resource, ctx)

        return run_check, kind.needs
    if isinstance(condition, NotOf):
        inner, needs = compile_condition(condition.negated, folder, digest)

        def run_not(fields: Fields, ctx: Context) -> Verdict:
            verdict = inner(fields, ctx)  # its sentence states the fact either way
            return Verdict(not verdict.passed, verdict.explanation, verdict.inputs)

        return run_not, needs
    parts = [
        compile_condition(c, folder, digest)
        for c in (condition.all if isinstance(condition, AllOf) else condition.any)
    ]
    runs = [run for run, _ in parts]
    needs = frozenset().union(*(n for _, n in parts))
    decisive = not isinstance(condition, AllOf)  # any: the first pass decides; all: first fail

    def run_combined(fields: Fields, ctx: Context) -> Verdict:
        inputs: dict[str, str | None] = {}
        sentences: list[str] = []
        for run in runs:
            verdict = run(fields, ctx)
            inputs.update(verdict.inputs)
            if verdict.passed == decisive:
                return Verdict(decisive, verdict.explanation, inputs)
            sentences.append(verdict.explanation)
        return Verdict(not decisive, "; ".join(sentences), inputs)

    return run_combined, needs
