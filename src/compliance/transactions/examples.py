"""The examples declared beside each transaction rule: a sequence of payments on one account
and whether the rule must alert on it. ``compliance rules test`` runs them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from compliance.errors import ConfigurationError, PoisonMessage
from compliance.transactions.account import AccountState
from compliance.transactions.findings import CounterpartyScreen
from compliance.transactions.model import Transaction, parse_amount
from compliance.transactions.ruleset import ExampleSpec, Rule, TransactionRules, screen

EXAMPLE_ACCOUNT = "EXAMPLE-ACCOUNT"


@dataclass(frozen=True)
class ExampleRun:
    rule: Rule
    example: ExampleSpec
    alerted: bool
    explanation: str

    @property
    def ok(self) -> bool:
        return self.alerted == (self.example.expect == "alert")


def example_transaction(number: int, fields: dict[str, Any], currency: str) -> Transaction:
    """A transaction from an example's short form: ``at`` and ``amount`` at least; account,
    currency (the reporting one), direction (in) and channel (wire) have defaults."""
    try:
        at = datetime.fromisoformat(str(fields["at"]))
        amount = parse_amount(str(fields["amount"]))
    except (KeyError, ValueError, PoisonMessage) as exc:
        raise ConfigurationError(f"example transaction {number}: {exc}") from None
    return Transaction(
        transaction_id=str(fields.get("id", f"ex-{number}")),
        booked_at=at if at.tzinfo else at.replace(tzinfo=UTC),
        amount=Decimal(amount),
        currency=str(fields.get("currency", currency)),
        direction=str(fields.get("direction", "in")),
        account_id=str(fields.get("account", EXAMPLE_ACCOUNT)),
        channel=str(fields.get("channel", "wire")),
        account_owner=fields.get("owner"),
        counterparty_name=fields.get("counterparty"),
        counterparty_account=fields.get("counterparty_account"),
        counterparty_country=fields.get("country"),
        counterparty_bic=fields.get("bic"),
    )


def run_example(
    rules: TransactionRules,
    rule: Rule,
    example: ExampleSpec,
    sanctions: CounterpartyScreen | None,
) -> ExampleRun:
    """The example's payments, in order, through this one rule (with a fresh account)."""
    only = TransactionRules(rules.version, (rule,), rules.rates, rules.folder)
    account = AccountState()
    reasons: list[str] = []
    currency = rules.rates.reporting_currency
    for number, fields in enumerate(example.transactions, 1):
        tx = example_transaction(number, fields, currency)
        result = screen(only, tx, account, sanctions)
        reasons.extend(a.finding.reason for a in result.alerts if a.rule.id == rule.id)
    return ExampleRun(rule, example, bool(reasons), "; ".join(reasons) or "no alert")


def run_examples(rules: TransactionRules, sanctions: CounterpartyScreen | None) -> list[ExampleRun]:
    return [
        run_example(rules, rule, example, sanctions)
        for rule in rules.rules
        for example in rule.examples
    ]
