"""Loading and validating rule files. A ruleset's version is the hash of its content.

A rule file is YAML with a ``rules:`` list; each rule has a stable ``id``, a ``version``, the
document types it ``applies_to``, a ``severity``, a ``check`` (a typed check kind and its
parameters), the ``on_fail`` outcome (fail or review) and a ``message``. A file that does not
validate stops start-up with an error naming the file, the rule and the field.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from compliance.errors import ConfigurationError
from compliance.rules.checks import CHECKS, REQUIRED_PARAMS, prepare


class RulesetError(ConfigurationError):
    """A rule file that cannot be used; the message names the file, rule and field."""


class CheckSpec(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)
    kind: str

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, kind: str) -> str:
        if kind not in CHECKS:
            raise ValueError(f"unknown check kind {kind!r}; known: {', '.join(sorted(CHECKS))}")
        return kind

    @model_validator(mode="after")
    def _required_params(self) -> CheckSpec:
        for name in REQUIRED_PARAMS.get(self.kind, ()):
            if not isinstance(self.params().get(name), str):
                raise ValueError(f"check kind {self.kind} needs a text parameter {name!r}")
        return self

    def params(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(pattern=r"^[a-z0-9]+([.-][a-z0-9]+)*$")
    version: int = Field(ge=1)
    description: str
    applies_to: tuple[str, ...] = Field(min_length=1)
    severity: Literal["low", "medium", "high", "critical"]
    check: CheckSpec
    on_fail: Literal["fail", "review"] = "fail"
    message: str

    @property
    def fingerprint(self) -> str:
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()[:8]

    @property
    def full_version(self) -> str:
        """Declared version plus the hash of the definition: an edit without a version bump
        still shows in every result."""
        return f"{self.version}#{self.fingerprint}"


class RuleFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rules: list[Rule]


@dataclass(frozen=True)
class Ruleset:
    version: str
    rules: tuple[Rule, ...]
    resources: dict[str, Any]  # prepared check resources (e.g. loaded watchlists), by rule id

    def for_type(self, document_type: str) -> list[Rule]:
        return [r for r in self.rules if document_type in r.applies_to or "*" in r.applies_to]


def load_ruleset(folder: Path) -> Ruleset:
    files = sorted(folder.glob("*.yaml")) + sorted(folder.glob("*.yml"))
    if not files:
        raise RulesetError(f"no rule files (*.yaml) in {folder}")
    digest = hashlib.sha256()
    rules: list[Rule] = []
    defined_in: dict[str, str] = {}
    for file in files:
        raw = file.read_bytes()
        digest.update(file.name.encode() + b"\0" + raw)
        for rule in _parse(file, raw):
            if rule.id in defined_in:
                raise RulesetError(
                    f"{file.name}: rule {rule.id}, field id: already defined in "
                    f"{defined_in[rule.id]}"
                )
            defined_in[rule.id] = file.name
            rules.append(rule)
    resources = {}
    for rule in rules:
        try:
            resources[rule.id] = prepare(rule.check.kind, rule.check.params(), folder, digest)
        except (OSError, ValueError) as exc:
            raise RulesetError(f"rule {rule.id}: check {rule.check.kind}: {exc}") from None
    return Ruleset(f"sha256:{digest.hexdigest()[:16]}", tuple(rules), resources)


def _parse(file: Path, raw: bytes) -> list[Rule]:
    try:
        document = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise RulesetError(f"{file.name}: not valid YAML{where}: {problem}") from None
    try:
        return RuleFile.model_validate(document).rules
    except ValidationError as exc:
        first = exc.errors()[0]
        where = _describe_location(document, first["loc"])
        raise RulesetError(f"{file.name}: {where}: {first['msg']}") from None


def _describe_location(document: Any, loc: tuple[Any, ...]) -> str:
    if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
        rules = document.get("rules") if isinstance(document, dict) else None
        rule = rules[loc[1]] if isinstance(rules, list) and loc[1] < len(rules) else None
        rule_id = rule.get("id", f"#{loc[1] + 1}") if isinstance(rule, dict) else f"#{loc[1] + 1}"
        field = ".".join(str(p) for p in loc[2:]) or "(rule)"
        return f"rule {rule_id}, field {field}"
    return "field " + (".".join(str(p) for p in loc) or "(file)")
