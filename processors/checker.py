"""Checker: documents.classified and consents.recorded -> compliance.checks and
compliance.exceptions.

For each classified document: read the customer's state as of the document (their earlier
documents, their consents), evaluate every rule that applies to its type as of the date the
document was classified (so a replay decides the same way), then remember what the document
said about the customer. Each rule gives one check result naming the rule, its version, the
inputs it read and why; every fail, review or error also raises an exception for an officer.
The document's own text never decides: only the deterministic rules do.

Consent statements are read by a feed of their own (``compliance.rules.consent_feed``) into
the customers' state; a consent counts for a document classified at T when it was recorded by
T and appended to consents.recorded by T, and a document that needs consents waits until
consents.recorded is stored past T. So whether a consent counts never depends on how far a
consumer happened to be, and a replay decides the same way.

The checker takes a batch at a time: the state of every customer of the batch is read in one
round trip and what the batch's documents said is written in one statement; each document
still reads its customer's state as of its own event (the batch's earlier documents of the
same customer included).

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
from collections.abc import Iterator, Sequence
from contextlib import nullcontext
from typing import Any

from compliance import health, kafka_io, metrics
from compliance.audit.store import connect, require_database
from compliance.codec import Record, registry
from compliance.config import Settings
from compliance.erased_subjects import (
    refusing_erased_subjects,
    refusing_erased_subjects_in_batch,
)
from compliance.errors import ConfigurationError, PoisonMessage
from compliance.events import caused_by, derive_event_id, subject_key
from compliance.exceptions import exception_event
from compliance.outgoing import Outgoing
from compliance.rules import CustomerState, RuleResult, Ruleset, evaluate
from compliance.rules.consent_feed import ConsentFeed, ConsentsRead, consent_partitions
from compliance.rules.events import ruleset_changed
from compliance.rules.model import Rule
from compliance.rules.reload import RulesetHolder
from compliance.rules.state import NO_STATE
from compliance.rules.store import StateStore, create_state_schema
from compliance.runner import TransactionalRunner
from compliance.screening.live import LiveSanctions
from compliance.subject_keyring import sealing_codec
from compliance.topics import COMPLIANCE_CHECKS, DOCUMENTS_CLASSIFIED

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
        checked = check_result(ruleset, document, result)
        outputs.append(checked)
        metrics.rule_outcome(NAME, result.rule.id, result.outcome)
        if result.outcome in SCREENING_HIT and screens(result.rule):
            metrics.screening_hit(NAME, result.rule.id)
        if result.outcome != "pass":
            checked_id = checked.record["envelope"]["event_id"]
            outputs.append(rule_exception(ruleset, document, result, checked_id))
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
        "rule_version": rule_version(result.rule),
        "outcome": result.outcome,
        "severity": result.rule.severity,
        "inputs": result.inputs,
        "explanation": result.explanation,
    }
    return Outgoing(COMPLIANCE_CHECKS.name, "CheckResult", record)


# Rule -> its full version. Computing it hashes the rule's definition (about 0.1 ms), and every
# check result names it; rules are immutable, so once per rule object is enough.
_VERSIONS: dict[int, tuple[Rule, str]] = {}


def rule_version(rule: Rule) -> str:
    known = _VERSIONS.get(id(rule))
    if known is None or known[0] is not rule:
        known = _VERSIONS[id(rule)] = (rule, rule.full_version)
    return known[1]


# Outcomes of a screening rule that mean a possible match (an error is not a hit).
SCREENING_HIT = frozenset({"fail", "review"})
_SCREENS: dict[int, tuple[Rule, bool]] = {}


def screens(rule: Rule) -> bool:
    """Whether ``rule`` screens names against the sanctions/PEP lists (once per rule)."""
    known = _SCREENS.get(id(rule))
    if known is None or known[0] is not rule:
        kinds = set(_condition_kinds(rule.check.model_dump()))
        known = _SCREENS[id(rule)] = (rule, any(k.startswith("sanctions") for k in kinds))
    return known[1]


def _condition_kinds(condition: object) -> Iterator[str]:
    if isinstance(condition, dict):
        if isinstance(condition.get("kind"), str):
            yield condition["kind"]
        for value in condition.values():
            yield from _condition_kinds(value)
    elif isinstance(condition, list | tuple):
        for value in condition:
            yield from _condition_kinds(value)


def rule_exception(
    ruleset: Ruleset, document: Record, result: RuleResult, checked_id: str | None = None
) -> Outgoing:
    """The exception for an officer; ``checked_id`` is the id of the check result it is
    evidence of, when the caller has it (else derived again, see ``check_result_id``)."""
    return exception_event(
        document,
        stage=NAME,
        kind=EXCEPTION_KIND[result.outcome],
        severity=result.rule.severity,
        reason=result.explanation,
        discriminator=result.rule.id,
        rule_id=result.rule.id,
        rule_version=rule_version(result.rule),
        ruleset_version=ruleset.version,
        details=result.inputs,
        evidence=[("check_result", checked_id or check_result_id(document, result))],
    )


def check_result_id(document: Record, result: RuleResult) -> str:
    """The id of the check result ``result`` is published as (see ``check_result``)."""
    return derive_event_id(NAME, document["envelope"]["event_id"], result.rule.id)


class Checker:
    """The checker's stage: the rules in force and the customers' state."""

    def __init__(
        self,
        rules: RulesetHolder,
        state: StateStore,
        consents: ConsentsRead | None = None,
        sanctions: LiveSanctions | None = None,
    ) -> None:
        self.rules = rules
        self.state = state
        self.consents = consents  # None: consents are taken as stored (tests, backtests)
        self.sanctions = sanctions  # clearances read once per batch when given

    def __call__(self, event_type: str, record: Record) -> list[Outgoing]:
        [result] = self.check_batch([(event_type, record)])
        if isinstance(result, PoisonMessage):
            raise result
        return list(result)

    def check_batch(
        self, inputs: Sequence[tuple[str, Record]]
    ) -> list[Sequence[Outgoing] | PoisonMessage]:
        """Every document of a batch decided, in order, by the one ruleset in force."""
        ruleset = self.rules.current  # one version decides each document of the batch
        results: list[Sequence[Outgoing] | PoisonMessage] = []
        documents: list[tuple[Record, frozenset[str]]] = []
        for event_type, record in inputs:
            if event_type != "DocumentClassified":
                results.append(
                    PoisonMessage(f"{event_type} does not belong on {DOCUMENTS_CLASSIFIED.name}")
                )
                continue
            results.append([])
            documents.append((record, ruleset.needs_for_type(record["document_type"])))
        self._wait_for_consents(documents)
        states = iter(self.state.states_for_documents(documents))
        decided = []
        with self._clearances_of(documents):
            for i, (event_type, record) in enumerate(inputs):
                if event_type != "DocumentClassified":
                    continue
                state = next(states)
                try:
                    results[i] = check_document(ruleset, event_type, record, state)
                except PoisonMessage as exc:
                    results[i] = exc
                    continue
                decided.append(record)
        self.state.remember_documents(decided)
        return results

    def _clearances_of(self, documents: list[tuple[Record, frozenset[str]]]) -> Any:
        if self.sanctions is None:
            return nullcontext()
        return self.sanctions.batch(d["customer_id"] for d, _ in documents)

    def _wait_for_consents(self, documents: list[tuple[Record, frozenset[str]]]) -> None:
        needing = [
            d["envelope"]["occurred_at"]
            for d, needs in documents
            if "consents" in needs and d["customer_id"]
        ]
        if needing and self.consents is not None:
            self.consents.wait_until(max(needing))


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
    health.state.add_check("database", health.database_check(engine))
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
    state = StateStore(engine, settings.topic_prefix)
    checker = Checker(rules, state, ConsentsRead(state, consent_partitions(settings)), sanctions)
    codec = sealing_codec(engine)  # classified fields opened, check inputs sealed
    assert codec.keyring is not None
    feed = ConsentFeed(settings, state, codec)  # its dead letters sealed too
    runner = TransactionalRunner(
        NAME,
        settings,
        [settings.topic(DOCUMENTS_CLASSIFIED)],
        refusing_erased_subjects(checker, codec.keyring, NAME),
        batch_stage=refusing_erased_subjects_in_batch(checker.check_batch, codec.keyring, NAME),
        codec=codec,
    )
    feed.start(stop)
    try:
        runner.run(stop)
    finally:
        stop.set()
        if not feed.join():  # its watched calls end within the grace, or the process does
            log.warning("checker: the consent feed has not stopped yet; leaving it behind")
        lists.stop()
        rules.wake()  # let the watcher see the stop
    if feed.error is not None:
        raise feed.error
