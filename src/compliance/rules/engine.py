"""Evaluate a ruleset against one document's fields.

Every applicable rule yields one result: pass, fail, review or error. A rule whose check
raises is recorded as ``error`` with the reason, and the other rules still run.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from time import perf_counter
from typing import NamedTuple

from compliance.errors import RetryableError
from compliance.rules.checks import Context
from compliance.rules.model import Rule
from compliance.rules.ruleset import Compiled, Ruleset
from compliance.rules.state import NO_STATE, CustomerState


class RuleResult(NamedTuple):
    """One rule's outcome for one document (a named tuple: immutable, and made for every
    rule of every document at half the cost of a frozen dataclass)."""

    rule: Rule
    outcome: str  # pass, fail, review, error
    explanation: str
    inputs: dict[str, str | None]
    duration_s: float


def evaluate(
    ruleset: Ruleset,
    document_type: str,
    fields: Mapping[str, str | None],
    as_of: date | datetime,
    *,
    customer_id: str | None = None,
    customer: CustomerState = NO_STATE,
    declared_type: str | None = None,
) -> list[RuleResult]:
    """One result per rule that applies to ``document_type``, decided as of ``as_of`` (a
    date, or the instant of the input event) against the customer's earlier state and the
    type the publisher declared."""
    ctx = Context.for_decision(
        as_of,
        document_type,
        customer_id,
        customer,
        declared_type=declared_type,
        covered_types=ruleset.covered_types,
    )
    return [_run(rule, fn, fields, ctx) for rule, fn in ruleset.runners(document_type)]


def run_rule(
    ruleset: Ruleset, rule: Rule, fields: Mapping[str, str | None], ctx: Context
) -> RuleResult:
    return _run(rule, ruleset.compiled[rule.id], fields, ctx)


def _run(rule: Rule, fn: Compiled, fields: Mapping[str, str | None], ctx: Context) -> RuleResult:
    started = perf_counter()
    try:
        passed, explanation, inputs = fn(fields, ctx)
    except RetryableError:
        raise  # the database a check reads is down: the batch waits, no decision is made
    except Exception as exc:  # a broken rule is an outcome, never a crash of the decision
        return RuleResult(
            rule,
            "error",
            f"the check raised {type(exc).__name__}: {exc}",
            {},
            perf_counter() - started,
        )
    if passed:
        return RuleResult(rule, "pass", explanation, inputs, perf_counter() - started)
    return RuleResult(
        rule, rule.on_fail, f"{rule.message}: {explanation}", inputs, perf_counter() - started
    )
