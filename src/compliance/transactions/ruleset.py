"""Transaction rules as data (``rules/transactions/``), and screening one transaction.

``monitoring.yaml`` lists the rules: id, version, kind, severity, parameters (windows,
thresholds) and examples; it names the rate table and the jurisdiction lists, data files
beside it. The ruleset version is the hash of every file in the folder, written into every
result, so a decision can be traced to the exact rules, lists and rates that made it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from compliance.errors import ConfigurationError
from compliance.transactions import stateless, windowed
from compliance.transactions.account import AccountState, Entry
from compliance.transactions.findings import CounterpartyScreen, Finding, Seen
from compliance.transactions.model import Transaction
from compliance.transactions.rates import RateTable, load_rates

RULES_FILE = "monitoring.yaml"
SEVERITIES = ("low", "medium", "high", "critical")
Evaluate = Callable[[Any, Seen], Finding | None]

KINDS: dict[str, tuple[type[stateless.Params], Evaluate]] = {
    "counterparty_sanctions": (stateless.SanctionsParams, stateless.counterparty_sanctions),
    "jurisdiction": (stateless.JurisdictionParams, stateless.jurisdiction),
    "large_amount": (stateless.LargeAmountParams, stateless.large_amount),
    "structuring": (windowed.StructuringParams, windowed.structuring),
    "velocity": (windowed.VelocityParams, windowed.velocity),
    "fan_in": (windowed.CounterpartiesParams, windowed.fan_in),
    "fan_out": (windowed.CounterpartiesParams, windowed.fan_out),
    "rapid_movement": (windowed.RapidMovementParams, windowed.rapid_movement),
    "round_amounts": (windowed.RoundAmountsParams, windowed.round_amounts),
}


class ExampleSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    expect: str = Field(pattern="^(alert|no alert)$")
    transactions: list[dict[str, Any]] = Field(min_length=1)


class RuleSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9.\-]*$")
    version: int = Field(ge=1)
    kind: str
    severity: str
    description: str
    params: dict[str, Any] = Field(default_factory=dict)
    lists: str | None = None  # a section of the jurisdictions file, for kind jurisdiction
    examples: list[ExampleSpec] = Field(default_factory=list)


class RulesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rates: str = "rates.yaml"
    jurisdictions: str = "jurisdictions.yaml"
    rules: list[RuleSpec] = Field(min_length=1)


@dataclass(frozen=True)
class Rule:
    id: str
    version: int
    kind: str
    severity: str
    description: str
    params: Any
    evaluate: Evaluate
    examples: tuple[ExampleSpec, ...] = ()

    @cached_property
    def window_ms(self) -> int | None:
        return self.params.window_ms if isinstance(self.params, windowed.WindowParams) else None

    @property
    def full_version(self) -> str:
        return f"{self.id}@{self.version}"


@dataclass(frozen=True)
class Alert:
    rule: Rule
    finding: Finding


@dataclass(frozen=True)
class TransactionRules:
    version: str
    rules: tuple[Rule, ...]
    rates: RateTable
    folder: Path

    @cached_property
    def keep_ms(self) -> int:
        """How much history the windowed rules need: the longest window."""
        return max((r.window_ms or 0 for r in self.rules), default=0)

    @cached_property
    def keep_days(self) -> int:
        days = [r.params.baseline_days for r in self.rules if r.kind == "velocity"]
        return max(days, default=0) + 2

    @cached_property
    def plan(self) -> tuple[tuple[Rule, str, int | None, Evaluate, Any], ...]:
        """Each rule with what ``screen`` reads of it for every transaction, looked up once:
        (rule, id, window, evaluate, params)."""
        return tuple((r, r.id, r.window_ms, r.evaluate, r.params) for r in self.rules)


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigurationError(f"cannot read {path}: {exc}") from None


def folder_version(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(f"{path.relative_to(folder)}\0".encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return "sha256:" + digest.hexdigest()[:16]


def _jurisdiction_params(spec: RuleSpec, lists: Any, where: Path) -> dict[str, Any]:
    section = (lists or {}).get(spec.lists or "")
    if not isinstance(section, dict):
        raise ConfigurationError(f"{where}: rule {spec.id} names no list {spec.lists!r}")
    return {
        "list_name": section.get("name", spec.lists),
        "published": str(section.get("published", "")),
        "countries": frozenset(str(c).upper() for c in section.get("countries") or {}),
        **spec.params,
    }


def _rule(spec: RuleSpec, lists: Any, where: Path) -> Rule:
    if spec.kind not in KINDS:
        raise ConfigurationError(
            f"{where}: rule {spec.id} has unknown kind {spec.kind!r}; one of {', '.join(KINDS)}"
        )
    if spec.severity not in SEVERITIES:
        raise ConfigurationError(f"{where}: rule {spec.id}: severity must be one of {SEVERITIES}")
    model, evaluate = KINDS[spec.kind]
    raw = _jurisdiction_params(spec, lists, where) if spec.kind == "jurisdiction" else spec.params
    try:
        params = model.model_validate(raw)
    except ValidationError as exc:
        raise ConfigurationError(f"{where}: rule {spec.id}: {exc}") from None
    return Rule(
        spec.id,
        spec.version,
        spec.kind,
        spec.severity,
        spec.description.strip(),
        params,
        evaluate,
        tuple(spec.examples),
    )


def load_transaction_rules(folder: Path, rates_file: Path | None = None) -> TransactionRules:
    """The rules of ``folder``; a bad file stops with one sentence naming it."""
    where = folder / RULES_FILE
    if not where.is_file():
        raise ConfigurationError(f"no transaction rules: {where} does not exist")
    try:
        document = RulesFile.model_validate(_read_yaml(where))
    except ValidationError as exc:
        raise ConfigurationError(f"{where}: {exc}") from None
    lists = _read_yaml(folder / document.jurisdictions)
    rules = tuple(_rule(spec, lists, where) for spec in document.rules)
    duplicated = {r.id for r in rules if sum(o.id == r.id for o in rules) > 1}
    if duplicated:
        raise ConfigurationError(f"{where}: rule ids used twice: {', '.join(sorted(duplicated))}")
    rates = load_rates(rates_file or folder / document.rates)
    version = folder_version(folder)
    if rates_file is not None:
        version += "+rates:" + hashlib.sha256(rates_file.read_bytes()).hexdigest()[:8]
    return TransactionRules(version, rules, rates, folder)


RATE_MISSING = Rule(
    "tx.rate-missing",
    1,
    "built-in",
    "medium",
    "The transaction's currency has no rate in the rate table: amount rules could not judge it",
    None,
    lambda _params, _seen: None,
)


@dataclass(frozen=True)
class Screened:
    alerts: tuple[Alert, ...]
    amount: Decimal | None  # in the reporting currency
    duplicate: bool  # already in the account's history: nothing new was decided


def _entry(tx: Transaction, amount: Decimal | None) -> Entry:
    return Entry(
        tx.booked_ms,
        tx.transaction_id,
        float(amount or 0),
        tx.direction,
        tx.channel,
        tx.counterparty,
        float(tx.amount),
    )


def screen(
    rules: TransactionRules,
    tx: Transaction,
    account: AccountState,
    sanctions: CounterpartyScreen | None = None,
) -> Screened:
    """Every rule on one transaction, with ``account`` (updated in place to include it).

    A transaction already in the account's history (published again) decides nothing new.
    A windowed rule that fired stays quiet until its window has passed since: one pattern,
    one alert, naming every transaction of it."""
    if account.seen(tx.transaction_id):
        return Screened((), None, duplicate=True)
    rates = rules.rates
    amount = rates.to_reporting(tx.amount, tx.currency)
    entry = _entry(tx, amount)
    account.add(entry, rules.keep_ms, rules.keep_days)
    seen = Seen(tx, amount, entry, account, rates.reporting_currency, sanctions, tx.country)
    alerts: list[Alert] = []
    if amount is None:
        reason = f"no rate from {tx.currency} to {rates.reporting_currency}"
        alerts.append(Alert(RATE_MISSING, Finding((tx.transaction_id,), reason, {})))
    alerted = account.alerted
    booked_ms = entry.booked_ms
    for rule, rule_id, window, evaluate, params in rules.plan:
        if window is not None:
            last = alerted.get(rule_id)
            if last is not None and last < booked_ms < last + window:
                continue
        finding = evaluate(params, seen)
        if finding is None:
            continue
        alerts.append(Alert(rule, finding))
        if window is not None:
            alerted[rule_id] = booked_ms
    return Screened(tuple(alerts), amount, duplicate=False)


def rule_ids(rules: Iterable[Rule]) -> list[str]:
    return [r.id for r in rules]
