"""Checker: documents.classified -> compliance.checks and compliance.exceptions.

For each classified document: evaluate every rule that applies to its type, as of the date
the document was classified (so a replay decides the same way). Each rule gives one check
result naming the rule, its version, the inputs it read and why. Every fail, review or error
also raises an exception for an officer. The document's own text never decides: only the
deterministic rules do.
"""

from __future__ import annotations

import threading

from compliance import kafka_io
from compliance.codec import Record
from compliance.config import Settings
from compliance.errors import PoisonMessage
from compliance.events import caused_by
from compliance.exceptions import exception_event
from compliance.rules import RuleResult, Ruleset, evaluate, load_ruleset
from compliance.runner import Outgoing, TransactionalRunner
from compliance.topics import COMPLIANCE_CHECKS, DOCUMENTS_CLASSIFIED

NAME = "checker"
EXCEPTION_KIND = {"fail": "rule_failed", "review": "needs_review", "error": "rule_error"}


def check_document(ruleset: Ruleset, event_type: str, document: Record) -> list[Outgoing]:
    if event_type != "DocumentClassified":
        raise PoisonMessage(f"{event_type} does not belong on {DOCUMENTS_CLASSIFIED.name}")
    fields = {f["name"]: f["value"] for f in document["fields"]}
    as_of = document["envelope"]["occurred_at"].date()
    outputs: list[Outgoing] = []
    for result in evaluate(ruleset, document["document_type"], fields, as_of):
        outputs.append(check_result(ruleset, document, result))
        if result.outcome != "pass":
            outputs.append(rule_exception(ruleset, document, result))
    return outputs


def check_result(ruleset: Ruleset, document: Record, result: RuleResult) -> Outgoing:
    record = {
        "envelope": caused_by(
            document,
            event_type="CheckResult",
            stage=NAME,
            discriminator=result.rule.id,
            ruleset_version=ruleset.version,
        ),
        "document_id": document["document_id"],
        "customer_id": document["customer_id"],
        "document_type": document["document_type"],
        "rule_id": result.rule.id,
        "rule_version": result.rule.full_version,
        "outcome": result.outcome,
        "severity": result.rule.severity,
        "inputs": result.inputs,
        "explanation": result.explanation,
    }
    return Outgoing(COMPLIANCE_CHECKS.name, "CheckResult", record)


def rule_exception(ruleset: Ruleset, document: Record, result: RuleResult) -> Outgoing:
    return exception_event(
        document,
        stage=NAME,
        kind=EXCEPTION_KIND[result.outcome],
        severity=result.rule.severity,
        reason=result.explanation,
        discriminator=result.rule.id,
        rule_id=result.rule.id,
        rule_version=result.rule.full_version,
        ruleset_version=ruleset.version,
        details=result.inputs,
    )


def main(settings: Settings, stop: threading.Event) -> None:
    ruleset = load_ruleset(settings.rules_dir)
    kafka_io.require_broker(settings)
    runner = TransactionalRunner(
        NAME,
        settings,
        [settings.topic(DOCUMENTS_CLASSIFIED)],
        lambda event_type, record: check_document(ruleset, event_type, record),
    )
    runner.run(stop)
