"""What the screener publishes for a transaction: one check result (every rule's outcome
on it) and, for each rule that fired, an exception event for an officer, in category
"transaction monitoring", naming the transactions behind the alert and why.

Event ids derive from the transaction's event and the rule, so screening the same event
again gives the same events, which the audit trail records once.
"""

from __future__ import annotations

from compliance.codec import Record
from compliance.events import caused_by
from compliance.exceptions import exception_event
from compliance.outgoing import Outgoing
from compliance.topics import COMPLIANCE_CHECKS
from compliance.transactions.model import Transaction
from compliance.transactions.ruleset import SEVERITIES, Alert, Screened, TransactionRules

STAGE = "transaction-screener"
CATEGORY = "transaction monitoring"
CHECK_ID = "transaction-monitoring"
ALERT_KIND = "transaction_alert"


def _worst(alerts: tuple[Alert, ...]) -> str:
    return max((a.rule.severity for a in alerts), key=SEVERITIES.index, default="low")


def check_result(rules: TransactionRules, record: Record, tx: Transaction, s: Screened) -> Outgoing:
    inputs: dict[str, str | None] = {
        "transaction_id": tx.transaction_id,
        "account_id": tx.account_id,
        "amount": f"{tx.amount} {tx.currency}",
        "reporting_amount": None if s.amount is None else str(s.amount),
        "reporting_currency": rules.rates.reporting_currency,
        "rates_as_of": rules.rates.as_of,
    }
    inputs["rules_evaluated"] = str(len(rules.rules))
    inputs["rules_alerting"] = ",".join(a.rule.full_version for a in s.alerts) or None
    if s.alerts:
        explanation = f"{len(s.alerts)} alert(s): " + "; ".join(
            f"{a.rule.id}: {a.finding.reason}" for a in s.alerts
        )
    else:
        explanation = f"no rule alerted ({len(rules.rules)} rules evaluated)"
    out = {
        "envelope": caused_by(
            record,
            event_type="CheckResult",
            stage=STAGE,
            discriminator=CHECK_ID,
            ruleset_version=rules.version,
        ),
        "document_id": tx.transaction_id,
        "customer_id": tx.account_owner,
        "document_type": "transaction",
        "rule_id": CHECK_ID,
        "rule_version": rules.version,
        "outcome": "fail" if s.alerts else "pass",
        "severity": _worst(s.alerts),
        "inputs": inputs,
        "explanation": explanation,
    }
    return Outgoing(COMPLIANCE_CHECKS.name, "CheckResult", out)


def alert_exception(
    rules: TransactionRules, record: Record, tx: Transaction, alert: Alert
) -> Outgoing:
    finding = alert.finding
    details: dict[str, str | None] = {
        "category": CATEGORY,
        "account_id": tx.account_id,
        "transaction_id": tx.transaction_id,
        "transactions": ",".join(finding.transactions),
        **finding.inputs,
    }
    out = exception_event(
        record,
        stage=STAGE,
        kind=ALERT_KIND,
        severity=alert.rule.severity,
        reason=finding.reason,
        discriminator=alert.rule.id,
        rule_id=alert.rule.id,
        rule_version=alert.rule.full_version,
        ruleset_version=rules.version,
        details=details,
        evidence=[("transaction", t) for t in finding.transactions],
    )
    out.record["customer_id"] = tx.account_owner
    return out


def outputs(
    rules: TransactionRules, record: Record, tx: Transaction, s: Screened
) -> list[Outgoing]:
    """The check result, then one exception per alert; nothing for a duplicate."""
    if s.duplicate:
        return []
    return [check_result(rules, record, tx, s)] + [
        alert_exception(rules, record, tx, a) for a in s.alerts
    ]
