"""Rule files: their schema, their validation, and the ruleset they load into.

A rule file is YAML with a ``rules:`` list. Each rule has a stable ``id``, a ``version``, a
``description``, the document types it ``applies_to`` (``"*"`` for all), a ``severity``, a
``check`` (a condition), the ``on_fail`` outcome (fail or review), the ``message`` that opens
every explanation, and ``examples``: at least one case that passes and one that does not,
run by ``compliance rules test``.

A condition is a typed check (``{kind: not_expired, field: expiry_date}``, its parameters
validated by the kind's own model) or a boolean combination of conditions: ``{all: [...]}``,
``{any: [...]}``, ``{not: ...}``. There is no free expression language: every condition is a
named, typed check, so every outcome comes with a sentence saying why.

A file that does not validate stops start-up with one sentence naming the file, the rule and
the field. The ruleset's version is the SHA-256 of the rule files and of every data file they
name (watchlists, format tables); each rule's own version is its declared number plus a hash
of its definition, so an edit without a version bump still shows.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

import compliance.rules.kinds  # noqa: F401  (registers the check kinds)
from compliance.errors import ConfigurationError
from compliance.rules.checks import CHECKS, REQUIRED_PARAMS, kind_of


class RulesetError(ConfigurationError):
    """A rule file that cannot be used; the message names the file, rule and field."""


def _as_text(value: Any) -> Any:
    """YAML reads 2034-09-21 as a date and 123 as a number; fields are text."""
    if isinstance(value, date | datetime | int | float) and not isinstance(value, bool):
        return value.isoformat() if isinstance(value, date | datetime) else str(value)
    return value


Text = Annotated[str | None, BeforeValidator(_as_text)]


class CheckSpec(BaseModel):
    """One typed check: its ``kind`` and the kind's parameters."""

    model_config = ConfigDict(extra="allow", frozen=True)
    kind: str

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, kind: str) -> str:
        if kind not in CHECKS:
            raise ValueError(f"unknown check kind {kind!r}; known: {', '.join(sorted(CHECKS))}")
        return kind

    @model_validator(mode="after")
    def _valid_params(self) -> CheckSpec:
        model = kind_of(self.kind).params
        if model is None:
            for name in REQUIRED_PARAMS.get(self.kind, ()):
                if not isinstance(self.params().get(name), str):
                    raise ValueError(f"check kind {self.kind} needs a text parameter {name!r}")
            return self
        try:
            model.model_validate(self.params())
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "(parameters)"
            raise ValueError(f"check kind {self.kind}: parameter {where}: {first['msg']}") from None
        return self

    def params(self) -> dict[str, Any]:
        return dict(self.model_extra or {})

    def typed_params(self) -> Any:
        model = kind_of(self.kind).params
        return self.params() if model is None else model.model_validate(self.params())


class AllOf(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    all: tuple[Condition, ...] = Field(min_length=1)


class AnyOf(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    any: tuple[Condition, ...] = Field(min_length=1)


class NotOf(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    negated: Condition = Field(alias="not")


def _condition_tag(value: Any) -> str | None:
    if isinstance(value, BaseModel):
        return {CheckSpec: "check", AllOf: "all", AnyOf: "any", NotOf: "not"}[type(value)]
    if isinstance(value, dict):
        for tag in ("all", "any", "not"):
            if tag in value:
                return tag
        return "check"
    return None


Condition = Annotated[
    Annotated[CheckSpec, Tag("check")]
    | Annotated[AllOf, Tag("all")]
    | Annotated[AnyOf, Tag("any")]
    | Annotated[NotOf, Tag("not")],
    Discriminator(_condition_tag),
]
AllOf.model_rebuild()
AnyOf.model_rebuild()
NotOf.model_rebuild()


# --- examples -------------------------------------------------------------------------------


class EarlierDocument(BaseModel):
    """A document the customer showed before the example's (for consistency checks)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    document_type: str
    document_id: str = "earlier-document"
    full_name: Text = None
    date_of_birth: Text = None
    address: Text = None


class ConsentFact(BaseModel):
    """A consent statement on record for the example's customer (for consent checks)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    purpose: str
    lawful_basis: str = "consent"
    given_at: datetime | None = None
    expires_at: datetime | None = None
    withdrawn_at: datetime | None = None


class Example(BaseModel):
    """A case declared beside a rule: a document (and the customer's state), the outcome the
    rule must give it."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    expect: Literal["pass", "fail", "review"]
    as_of: datetime | date
    document_type: str | None = None  # default: the first type the rule applies to
    declared_type: str | None = None  # what the publisher declared the document to be
    customer_id: str | None = "C-EXAMPLE"
    fields: dict[str, Text] = Field(default_factory=dict)
    earlier_documents: tuple[EarlierDocument, ...] = ()
    consents: tuple[ConsentFact, ...] = ()


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(pattern=r"^[a-z0-9]+([.-][a-z0-9]+)*$")
    version: int = Field(ge=1)
    description: str
    applies_to: tuple[str, ...] = Field(min_length=1)
    severity: Literal["low", "medium", "high", "critical"]
    check: Condition
    on_fail: Literal["fail", "review"] = "fail"
    message: str
    examples: tuple[Example, ...] = Field(min_length=2)

    @field_validator("examples")
    @classmethod
    def _examples_cover_both_outcomes(
        cls, examples: tuple[Example, ...], info: ValidationInfo
    ) -> tuple[Example, ...]:
        on_fail = info.data.get("on_fail", "fail")
        applies_to = info.data.get("applies_to", ("*",))
        for example in examples:
            if example.expect not in ("pass", on_fail):
                raise ValueError(
                    f"example {example.name!r} expects {example.expect}, but the rule can "
                    f"only pass or {on_fail}"
                )
            kind = example.document_type
            if kind and kind not in applies_to and "*" not in applies_to:
                raise ValueError(
                    f"example {example.name!r} is a {kind}, which the rule does not apply to"
                )
        outcomes = {e.expect for e in examples}
        if "pass" not in outcomes or on_fail not in outcomes:
            raise ValueError(
                f"needs at least one example expecting pass and one expecting {on_fail}"
            )
        return examples

    def applies(self, document_type: str) -> bool:
        return document_type in self.applies_to or "*" in self.applies_to

    @property
    def fingerprint(self) -> str:
        """Hash of what decides: the definition without its examples."""
        definition = self.model_dump(mode="json", by_alias=True, exclude={"examples"})
        canonical = json.dumps(definition, sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()[:8]

    @property
    def full_version(self) -> str:
        """Declared version plus the hash of the definition."""
        return f"{self.version}#{self.fingerprint}"


class RuleFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rules: list[Rule]


# --- reading files --------------------------------------------------------------------------


def rule_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.yaml")) + sorted(folder.glob("*.yml"))


def parse_rule_file(file: Path, raw: bytes) -> list[Rule]:
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
        message = first["msg"].removeprefix("Value error, ")
        raise RulesetError(f"{file.name}: {where}: {message}") from None


def _describe_location(document: Any, loc: tuple[Any, ...]) -> str:
    if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
        rules = document.get("rules") if isinstance(document, dict) else None
        rule = rules[loc[1]] if isinstance(rules, list) and loc[1] < len(rules) else None
        rule_id = rule.get("id", f"#{loc[1] + 1}") if isinstance(rule, dict) else f"#{loc[1] + 1}"
        path: list[str] = []
        for part in loc[2:]:  # the condition's union tags repeat the key: check.check.kind
            if not path or path[-1] != str(part):
                path.append(str(part))
        return f"rule {rule_id}, field {'.'.join(path) or '(rule)'}"
    return "field " + (".".join(str(p) for p in loc) or "(file)")
