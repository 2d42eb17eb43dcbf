"""Checker: documents.classified and consents.recorded -> compliance.checks and
compliance.exceptions.

For each classified document: read the customer's state as of the document (their earlier
documents, their consents), evaluate every rule that applies to its type as of the date the
document was classified (so a replay decides the same way), then remember what the document
said about the customer. Each rule gives one check result naming the rule, its version, the
inputs it read and why; every fail, review or error also raises an exception for an officer.
The document's own text never decides: only the deterministic rules do.

For each consent statement: keep it in the customer's state; it affects documents classified
after it was recorded.

The rules in force reload when their files change or on SIGHUP; each version that comes into
force is announced on compliance.rulesets (and so audited) before it decides anything.

The sanctions rule screens against the lists in force (the latest version loaded with
``compliance sanctions load``, else the bundled lists) and applies the officers' clearances.
The ruleset in force is bound to one list version, part of its version: when a new list
version is loaded, the list watcher takes it in and the new ruleset version is announced
before any document is decided with it. Each document reads ``rules.current`` once, so it
is decided by one (rules, lists) pair, named by the ruleset version of its results.
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

from compliance import kafka_io
from compliance.audit.store import connect, require_database
from compliance.codec import Record, registry
from compliance.config import Settings
from compliance.erased_subjects import refusing_erased_subjects
from compliance.errors import ConfigurationError, PoisonMessage
from compliance.events import caused_by, subject_key
from compliance.exceptions import exception_event
from compliance.rules import CustomerState, RuleResult, Ruleset, evaluate
from compliance.rules.events import ruleset_changed
from compliance.rules.reload import RulesetHolder
from compliance.rules.state import NO_STATE
from compliance.rules.store import StateStore, create_state_schema
from compliance.runner import Outgoing, TransactionalRunner
from compliance.screening.live import LiveSanctions
from compliance.subject_keyring import sealing_codec
from compliance.topics import COMPLIANCE_CHECKS, CONSENTS_RECORDED, DOCUMENTS_CLASSIFIED

log = logging.getLogger(__name__)
NAME = "checker"
EXCEPTION_KIND = {"fail": "rule_failed", "review": "needs_review", "error": "rule_error"}


def check_document(
    ruleset: Ruleset, event_type: str, document: Record, customer: CustomerState = NO_STATE
) -> list[Outgoing]:
    if event_type != "DocumentClassified":
        raise PoisonMessage(f"{event_type} does not belong on {DOCUMENTS_CLASSIFIED.name}")
    fields = {f["name"]: f["value"] for f in document["fields"]}
    decided_at = document["envelope"]["occurred_at"]
    outputs: list[Outgoing] = []
    results = evaluate(
        ruleset,
        document["document_type"],
        fields,
        decided_at,
        customer_id=document["customer_id"],
        customer=customer,
        declared_type=document.get("declared_type"),
    )
    for result in results:
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


class Checker:
    """The checker's stage: the rules in force and the customers' state."""

    def __init__(self, rules: RulesetHolder, state: StateStore) -> None:
        self.rules = rules
        self.state = state

    def __call__(self, event_type: str, record: Record) -> list[Outgoing]:
        if event_type == "ConsentRecorded":
            self.state.record_consent(record)
            return []
        if event_type != "DocumentClassified":
            raise PoisonMessage(
                f"{event_type} does not belong on {DOCUMENTS_CLASSIFIED.name} "
                f"or {CONSENTS_RECORDED.name}"
            )
        ruleset = self.rules.current  # one version decides the whole document
        outputs = check_document(ruleset, event_type, record, self._state_for(ruleset, record))
        self.state.remember_document(record)
        return outputs

    def _state_for(self, ruleset: Ruleset, document: Record) -> CustomerState:
        needs = ruleset.needs_for_type(document["document_type"])
        customer_id = document["customer_id"]
        if not needs or not customer_id:
            return NO_STATE
        env = document["envelope"]
        return self.state.state_for(customer_id, env["occurred_at"], env["event_id"], needs)


def announcer(settings: Settings) -> Any:
    """Publishes RulesetChanged events; returns only once the event is delivered."""
    producer = kafka_io.idempotent_producer(settings)
    codec = registry()

    def announce(
        previous: Ruleset | None,
        current: Ruleset,
        reason: str,
        error: str | None,
        rejected: str | None,
    ) -> None:
        out = ruleset_changed(
            previous,
            current,
            reason=reason,
            scope=settings.topic_prefix,
            instance_id=settings.instance_id,
            error=error,
            rejected_version=rejected,
        )
        producer.produce(
            settings.topic(out.topic),
            key=subject_key(out.record),
            value=codec.encode(out.event_type, out.record),
        )
        if producer.flush(30) > 0:
            raise ConfigurationError("the ruleset change could not be announced within 30 s")

    return announce


def main(settings: Settings, stop: threading.Event) -> None:
    engine = connect(settings.database_dsn)
    require_database(engine)
    kafka_io.require_broker(settings)
    create_state_schema(engine)
    sanctions = LiveSanctions(settings, engine)
    rules = RulesetHolder(settings.rules_dir, announcer(settings), sanctions)
    log.info(
        "checker: ruleset %s in force (sanctions lists %s)",
        rules.current.version,
        rules.current.lists or "not screened",
    )
    sanctions.add_listener(rules.lists_changed)
    lists = sanctions.watch()
    signal.signal(signal.SIGHUP, lambda _signum, _frame: rules.wake())
    rules.watch(stop, settings.rules_reload_interval_s)
    codec = sealing_codec(engine)  # classified fields opened, check inputs sealed
    assert codec.keyring is not None
    runner = TransactionalRunner(
        NAME,
        settings,
        [settings.topic(DOCUMENTS_CLASSIFIED), settings.topic(CONSENTS_RECORDED)],
        refusing_erased_subjects(
            Checker(rules, StateStore(engine, settings.topic_prefix)), codec.keyring, NAME
        ),
        codec=codec,
    )
    try:
        runner.run(stop)
    finally:
        lists.stop()
        rules.wake()  # let the watcher see the stop
