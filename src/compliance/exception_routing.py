"""Routing of exceptions: the category each belongs to and the time an officer has to act.

The policy is data (``config/exception_routing.yaml``, or the file that
``COMPLIANCE_ROUTING_FILE`` names): a category per rule id or id prefix, a category per
exception kind for exceptions no rule raised, and SLA hours per category and severity. Every
processor that raises exceptions routes them with the same policy, so a notifier or a case
manager never has to guess.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from compliance.config import PROJECT_ROOT
from compliance.errors import ConfigurationError

Category = Literal["kyc", "sanctions", "transaction_monitoring", "gdpr", "document_quality"]
CATEGORIES: tuple[Category, ...] = (
    "kyc",
    "sanctions",
    "transaction_monitoring",
    "gdpr",
    "document_quality",
)
Severity = Literal["low", "medium", "high", "critical"]
SEVERITIES: tuple[Severity, ...] = ("low", "medium", "high", "critical")
DEFAULT_FILE = PROJECT_ROOT / "config" / "exception_routing.yaml"
ROUTING_FILE_VARIABLE = "COMPLIANCE_ROUTING_FILE"


class RoutingPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    rules: dict[str, Category] = Field(default_factory=dict)
    kinds: dict[str, Category] = Field(default_factory=dict)
    default_category: Category = "kyc"
    sla_hours: dict[str, dict[str, float]]

    @model_validator(mode="after")
    def _every_severity_has_an_sla(self) -> RoutingPolicy:
        if "default" not in self.sla_hours:
            raise ValueError("sla_hours needs a 'default' entry")
        for name, hours in self.sla_hours.items():
            if name != "default" and name not in CATEGORIES:
                raise ValueError(f"sla_hours: unknown category {name!r}")
            unknown = [s for s in hours if s not in SEVERITIES]
            if unknown:
                raise ValueError(f"sla_hours.{name}: unknown severity {', '.join(unknown)}")
            missing = [s for s in SEVERITIES if s not in hours]
            if name == "default" and missing:
                raise ValueError(f"sla_hours.default lacks {', '.join(missing)}")
            if any(h <= 0 for h in hours.values()):
                raise ValueError(f"sla_hours.{name}: hours must be positive")
        return self

    def category(self, kind: str, rule_id: str | None) -> Category:
        """The rule's own entry, else its longest listed prefix, else the kind's, else the
        default."""
        if rule_id is not None:
            if rule_id in self.rules:
                return self.rules[rule_id]
            prefixes = [p for p in self.rules if p.endswith(".") and rule_id.startswith(p)]
            if prefixes:
                return self.rules[max(prefixes, key=len)]
        return self.kinds.get(kind, self.default_category)

    def sla(self, category: str, severity: str) -> timedelta:
        hours = self.sla_hours.get(category, {}).get(severity)
        if hours is None:
            default = self.sla_hours["default"]
            hours = default.get(severity, default["low"])
        return timedelta(hours=hours)

    def due(self, category: str, severity: str, raised_at: datetime) -> datetime:
        return raised_at + self.sla(category, severity)


def load_policy(path: Path) -> RoutingPolicy:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigurationError(f"cannot read the exception routing file {path}: {exc}") from None
    try:
        return RoutingPolicy.model_validate(document)
    except ValidationError as exc:
        raise ConfigurationError(f"{path}: not a valid routing policy: {exc}") from None


@cache
def _policy_at(path: Path) -> RoutingPolicy:
    return load_policy(path)


def current_policy() -> RoutingPolicy:
    """The policy in force for this process (read once per file)."""
    return _policy_at(Path(os.environ.get(ROUTING_FILE_VARIABLE) or DEFAULT_FILE))
