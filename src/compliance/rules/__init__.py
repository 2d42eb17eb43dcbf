"""Compliance rules as versioned data: YAML files in ``rules/``, typed checks, one engine."""

from compliance.rules.engine import RuleResult, evaluate
from compliance.rules.model import Rule, RulesetError
from compliance.rules.ruleset import Ruleset, load_ruleset
from compliance.rules.state import ConsentStatement, CustomerDocument, CustomerState

__all__ = [
    "ConsentStatement",
    "CustomerDocument",
    "CustomerState",
    "Rule",
    "RuleResult",
    "Ruleset",
    "RulesetError",
    "evaluate",
    "load_ruleset",
]
