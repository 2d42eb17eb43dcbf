"""Evaluate a ruleset against one document's fields.

Every applicable rule yields one result: pass, fail, review or error. A rule whose check
raises is recorded as ``error`` with the reason, and the other rules still run.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from compliance.rules.checks import CHECKS, Context
from compliance.rules.model import Rule, Ruleset


@dataclass(frozen=True)
class RuleResult:
    rule: Rule
    outcome: str  # pass, fail, review, error
    explanation: str
    inputs: dict[str, str | None]
    duration_s: float


def evaluate(
    ruleset: Ruleset, document_type: str, fields: Mapping[str, str | None], as_of: date
) -> list[RuleResult]:
    context = Context(as_of=as_of)
    return [_run(rule, ruleset, fields, context) for rule in ruleset.for_type(document_type)]


def _run(
    rule: Rule, ruleset: Ruleset, fields: Mapping[str, str | None], ctx: Context
) -> RuleResult:
    started = time.perf_counter()
    try:
        verdict = CHECKS[rule.check.kind](
            rule.check.params(), fields, ruleset.resources[rule.id], ctx
        )
    except Exception as exc:  # a broken rule is an outcome, never a crash of the decision
        return RuleResult(
            rule, "error", f"the check raised {type(exc).__name__}: {exc}", {}, _since(started)
        )
    outcome = "pass" if verdict.passed else rule.on_fail
    explanation = (
        verdict.explanation if verdict.passed else f"{rule.message}: {verdict.explanation}"
    )
    return RuleResult(rule, outcome, explanation, verdict.inputs, _since(started))


def _since(started: float) -> float:
    return time.perf_counter() - started
