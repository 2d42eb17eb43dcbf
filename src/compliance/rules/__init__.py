"""Compliance rules as versioned data: YAML files in ``rules/``, typed checks, one engine."""

from compliance.rules.engine import RuleResult, evaluate
from compliance.rules.model import Rule, Ruleset, RulesetError, load_ruleset

__all__ = ["Rule", "RuleResult", "Ruleset", "RulesetError", "evaluate", "load_ruleset"]
