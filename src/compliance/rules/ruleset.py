"""Loading a folder of rule files into a ruleset: parsed, validated, compiled, versioned.

Compiling turns each rule's condition into one callable ``(fields, context) -> Verdict``:
parameters validated and data files loaded once, so evaluating a document does no parsing.

A ruleset whose sanctions rules screen "the lists in force" is bound to one snapshot of
them: the ones a process provides (``load_ruleset(folder, sanctions=...)`` or
``Ruleset.with_lists``), else the rules' offline lists. Its version is then the hash of the
rule files combined with that list version, so a list change is a ruleset change, and one
ruleset decides a document against one list version throughout.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from compliance.errors import ConfigurationError
from compliance.rules.checks import Context, Fields, Verdict, kind_of
from compliance.rules.kinds.screening import InForce, SanctionsSource
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
    rules_version: str = ""  # the rule files (and the data files they name) alone
    lists_version: str | None = None  # the sanctions lists in force it screens, if any
    lists: str | None = None  # those lists, for a reader
    # the document types some rule names in its applies_to ("*" alone covers no type)
    covered_types: frozenset[str] = frozenset()
    _prepared: dict[str, tuple[Any, ...]] = field(default_factory=dict, compare=False, repr=False)
    _by_type: dict[str, list[Rule]] = field(default_factory=dict, compare=False, repr=False)
    _runs_by_type: dict[str, list[tuple[Rule, Compiled]]] = field(
        default_factory=dict, compare=False, repr=False
    )
    _needs_by_type: dict[str, frozenset[str]] = field(
        default_factory=dict, compare=False, repr=False
    )

    def with_lists(self, sanctions: SanctionsSource | None) -> Ruleset:
        """The same rules bound to the lists ``sanctions`` has in force now (to the offline
        lists when None): a new version when those lists differ. Reads no file."""
        return _assemble(self.rules, self._prepared, self.rules_version, sanctions)

    def for_type(self, document_type: str) -> list[Rule]:
        rules = self._by_type.get(document_type)
        if rules is None:
            rules = [r for r in self.rules if r.applies(document_type)]
            self._by_type[document_type] = rules
        return rules

    def runners(self, document_type: str) -> list[tuple[Rule, Compiled]]:
        """The rules for ``document_type`` with their compiled conditions, in order."""
        runs = self._runs_by_type.get(document_type)
        if runs is None:
            runs = [(r, self.compiled[r.id]) for r in self.for_type(document_type)]
            self._runs_by_type[document_type] = runs
        return runs

    def needs_for_type(self, document_type: str) -> frozenset[str]:
        needs = self._needs_by_type.get(document_type)
        if needs is None:
            needs = frozenset().union(*(self.needs[r.id] for r in self.for_type(document_type)))
            self._needs_by_type[document_type] = needs
        return needs

    def rule(self, rule_id: str) -> Rule:
        return next(r for r in self.rules if r.id == rule_id)


def load_ruleset(folder: Path, *, sanctions: SanctionsSource | None = None) -> Ruleset:
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
    _require_a_decision_for_every_type(rules)
    prepared: dict[str, tuple[Any, ...]] = {}
    for rule in rules:
        try:
            prepared[rule.id] = tuple(prepare_condition(rule.check, folder, digest))
        except (OSError, ValueError, ListLoadError, ConfigurationError) as exc:
            raise RulesetError(
                f"{defined_in[rule.id]}: rule {rule.id}, field check: {exc}"
            ) from None
    return _assemble(tuple(rules), prepared, digest.hexdigest(), sanctions)


COVERAGE_KIND = "type_has_rules"


def _require_a_decision_for_every_type(rules: list[Rule]) -> None:
    """A ruleset must decide every document: without a rule for every type ("*") whose check
    is ``type_has_rules``, a document classified as ``unknown``, or as a type no rule names,
    would get no check at all and pass silently. Such a ruleset is refused (at start-up, and
    by a reload, which keeps the rules in force)."""
    if not any(
        "*" in r.applies_to and isinstance(r.check, CheckSpec) and r.check.kind == COVERAGE_KIND
        for r in rules
    ):
        raise RulesetError(
            f'no rule for every document type ("*") checks {COVERAGE_KIND}: a document '
            "classified as unknown, or as a type no rule names, would pass with no check"
        )


def _assemble(
    rules: tuple[Rule, ...],
    prepared: dict[str, tuple[Any, ...]],
    rules_version: str,
    sanctions: SanctionsSource | None,
) -> Ruleset:
    """Compile the prepared rules, binding those on the lists in force to one snapshot."""
    snapshot = sanctions.lists_in_force() if sanctions is not None else None
    clearance = sanctions.clearance if sanctions is not None else None
    bound: dict[str, str] = {}  # list version -> its description

    def resource(value: Any) -> Any:
        if isinstance(value, InForce):
            value = value.bind(snapshot, clearance)
            bound[value.watchlist.version] = value.source
        return value

    compiled: dict[str, Compiled] = {}
    needs: dict[str, frozenset[str]] = {}
    for rule in rules:
        resources = iter([resource(r) for r in prepared[rule.id]])
        compiled[rule.id], needs[rule.id] = compile_condition(rule.check, resources)
    lists_version = " ".join(sorted(bound)) or None
    version = rules_version
    if lists_version is not None:
        version = hashlib.sha256(f"{rules_version}\0{lists_version}".encode()).hexdigest()
    return Ruleset(
        f"sha256:{version[:16]}",
        rules,
        compiled,
        needs,
        rules_version=rules_version,
        lists_version=lists_version,
        lists="; ".join(bound[v] for v in sorted(bound)) or None,
        covered_types=frozenset(t for r in rules for t in r.applies_to if t != "*"),
        _prepared=prepared,
    )


def _checks(condition: Condition) -> list[CheckSpec]:
    """The checks of a condition, in the order ``compile_condition`` takes their resources."""
    if isinstance(condition, CheckSpec):
        return [condition]
    if isinstance(condition, NotOf):
        return _checks(condition.negated)
    parts = condition.all if isinstance(condition, AllOf) else condition.any
    return [spec for part in parts for spec in _checks(part)]


def prepare_condition(condition: Condition, folder: Path, digest: Any) -> list[Any]:
    """What each check of a condition needs (a watchlist, a format table), loaded once."""
    prepared = []
    for spec in _checks(condition):
        kind = kind_of(spec.kind)
        params = spec.typed_params()
        prepared.append(kind.preparer(params, folder, digest) if kind.preparer else None)
    return prepared


def compile_condition(
    condition: Condition, resources: Iterator[Any]
) -> tuple[Compiled, frozenset[str]]:
    """One callable for a condition; ``resources`` gives each check's prepared resource in
    the order of ``prepare_condition``."""
    if isinstance(condition, CheckSpec):
        kind = kind_of(condition.kind)
        params = condition.typed_params()
        resource = next(resources)
        fn = kind.fn

        def run_check(fields: Fields, ctx: Context) -> Verdict:
            return fn(params, fields, resource, ctx)

        return run_check, kind.needs
    if isinstance(condition, NotOf):
        inner, needs = compile_condition(condition.negated, resources)

        def run_not(fields: Fields, ctx: Context) -> Verdict:
            verdict = inner(fields, ctx)  # its sentence states the fact either way
            return Verdict(not verdict.passed, verdict.explanation, verdict.inputs)

        return run_not, needs
    parts = [
        compile_condition(c, resources)
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
