"""The example cases declared beside each rule, run as tests of the rule.

Each example gives a document (type, fields), the decision date, and optionally the
customer's earlier documents and consents; the rule must give it the outcome it expects.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from compliance.rules.checks import Context
from compliance.rules.engine import run_rule
from compliance.rules.model import ConsentFact, Example, Rule
from compliance.rules.ruleset import Ruleset
from compliance.rules.state import ConsentStatement, CustomerDocument, CustomerState

_EARLIER = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class ExampleRun:
    rule: Rule
    example: Example
    outcome: str
    explanation: str

    @property
    def ok(self) -> bool:
        return self.outcome == self.example.expect


def example_state(example: Example) -> CustomerState:
    documents = tuple(
        CustomerDocument(
            event_id=f"example-{i}",
            document_id=d.document_id,
            document_type=d.document_type,
            occurred_at=_EARLIER + timedelta(minutes=i),
            full_name=d.full_name,
            date_of_birth=d.date_of_birth,
            address=d.address,
        )
        for i, d in enumerate(example.earlier_documents)
    )
    consents = tuple(_statement(i, c) for i, c in enumerate(example.consents))
    return CustomerState(documents, consents)


def _statement(i: int, fact: ConsentFact) -> ConsentStatement:
    moments = [m for m in (fact.given_at, fact.withdrawn_at) if m is not None]
    return ConsentStatement(
        event_id=f"example-consent-{i}",
        consent_id=f"example-{i}",
        purpose=fact.purpose,
        lawful_basis=fact.lawful_basis,
        recorded_at=(_utc(max(moments)) if moments else None) or _EARLIER,
        given_at=_utc(fact.given_at),
        expires_at=_utc(fact.expires_at),
        withdrawn_at=_utc(fact.withdrawn_at),
    )


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def run_example(ruleset: Ruleset, rule: Rule, example: Example) -> ExampleRun:
    document_type = example.document_type or next(
        (t for t in rule.applies_to if t != "*"), "document"
    )
    as_of = example.as_of
    if isinstance(as_of, datetime):
        as_of = _utc(as_of) or as_of
    elif isinstance(as_of, date):
        as_of = datetime(as_of.year, as_of.month, as_of.day, 12, tzinfo=UTC)
    ctx = Context.for_decision(
        as_of,
        document_type,
        example.customer_id,
        example_state(example),
        declared_type=example.declared_type,
        covered_types=ruleset.covered_types,
    )
    result = run_rule(ruleset, rule, example.fields, ctx)
    return ExampleRun(rule, example, result.outcome, result.explanation)


def run_examples(ruleset: Ruleset) -> list[ExampleRun]:
    return [run_example(ruleset, rule, ex) for rule in ruleset.rules for ex in rule.examples]
