"""The checker decides a batch at a time exactly as it decided one document at a time: the
same event ids, outcomes, explanations and inputs, with each document's customer state read
as of its own event (the earlier documents of its customer in the same batch included, a
document read again after a crash not seeing itself). Real PostgreSQL."""

from __future__ import annotations

import logging
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, delete

from compliance.config import Settings
from compliance.errors import PoisonMessage
from compliance.events import envelope
from compliance.processors.checker import Checker, check_document
from compliance.rules import load_ruleset
from compliance.rules.consent_feed import ConsentsRead
from compliance.rules.events import consent_event
from compliance.rules.store import (
    ConsumedConsent,
    StateStore,
    consent_progress,
    consents,
    create_state_schema,
    customer_documents,
)

log = logging.getLogger(__name__)
NAMES = ["Ingrid Marie Halvorsen", "INGRID HALVORSEN", "Jonas Berg", "Amina Okafor"]
AT = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


class InForce:
    def __init__(self, settings: Settings) -> None:
        self.current = load_ruleset(settings.rules_dir)


def document(n: int, customer: str, kind: str, name: str, at: datetime) -> dict[str, Any]:
    fields: dict[str, str] = {"full_name": name}
    if kind == "passport":
        fields |= {"date_of_birth": "1985-03-14", "expiry_date": "2031-01-01"}
    elif kind == "proof_of_address":
        fields |= {"address": "Storgata 12, 0155 Oslo", "document_date": "2026-10-20"}
    else:
        fields |= {"purpose": "marketing communications by e-mail", "lawful_basis": "consent"}
    return {
        "envelope": envelope(
            event_type="DocumentClassified",
            stage="test",
            cause=f"{customer}-{n}",
            correlation_id=f"doc-{n}",
            subject_id=customer,
            causation_id=None,
            occurred_at=at,
        ),
        "document_id": f"doc-{n}",
        "customer_id": customer,
        "document_type": kind,
        "confidence": 0.99,
        "fields": [{"name": k, "value": v, "confidence": 0.99} for k, v in fields.items()],
        "extraction_method": "text",
        "text_sha256": "0" * 64,
        "document_sha256": "0" * 64,
    }


def decided(outputs: Any) -> list[tuple[Any, ...]]:
    return [
        (
            o.topic,
            o.record["envelope"]["event_id"],
            o.record.get("outcome", o.record.get("kind")),
            o.record.get("explanation", o.record.get("reason")),
            repr(sorted((o.record.get("inputs") or o.record.get("details") or {}).items())),
        )
        for o in outputs
    ]


def test_a_batch_decides_every_document_as_one_at_a_time_did(
    settings: Settings, engine: Engine
) -> None:
    seed = random.randrange(2**32)
    log.info("seed %d", seed)
    print(f"seed {seed}")
    rng = random.Random(seed)
    create_state_schema(engine)
    customers = [f"C-{uuid.uuid4().hex[:8]}" for _ in range(6)]
    docs, at = [], AT
    for n in range(300):  # strictly increasing times, as the classifier dates them
        at += timedelta(milliseconds=rng.choice([1, 1, 500]))
        kind = rng.choice(["passport", "proof_of_address", "consent_form"])
        docs.append(document(n, rng.choice(customers), kind, rng.choice(NAMES), at))
    docs += rng.sample(docs, 20)  # read again after a crash, later on
    statements = [
        ConsumedConsent(
            0,
            AT + timedelta(milliseconds=n * 700),
            consent_event(
                consent_id=f"K-{who}",
                customer_id=who,
                purpose="marketing",
                source_system=settings.topic_prefix,
                given_at=AT - timedelta(days=1) if n % 2 == 0 else None,
                withdrawn_at=None if n % 2 == 0 else AT + timedelta(milliseconds=n * 600),
                occurred_at=AT - timedelta(hours=1),
            ).record,
        )
        for n, who in enumerate(customers * 4)
    ]
    rules: Any = InForce(settings)
    ruleset = rules.current

    one = StateStore(engine, settings.topic_prefix)
    one.record_consents(statements)
    expected = []
    for doc in docs:
        needs = ruleset.needs_for_type(doc["document_type"])
        env = doc["envelope"]
        state = one.state_for(doc["customer_id"], env["occurred_at"], env["event_id"], needs)
        expected += decided(check_document(ruleset, "DocumentClassified", doc, state))
        one.remember_document(doc)

    with engine.begin() as conn:  # the same input again, from scratch
        for table in (customer_documents, consents, consent_progress):
            conn.execute(delete(table).where(table.c.scope == settings.topic_prefix))
    batched = StateStore(engine, settings.topic_prefix)
    batched.record_consents(statements)
    batched.caught_up([0], AT + timedelta(days=1))  # consents.recorded read past every document
    checker = Checker(rules, batched, ConsentsRead(batched, 1, wait_limit_s=0))
    got = []
    start = 0
    while start < len(docs):
        size = rng.choice([1, 7, 50, 120])
        batch = [("DocumentClassified", d) for d in docs[start : start + size]]
        for result in checker.check_batch(batch):
            assert not isinstance(result, Exception), result
            got += decided(result)
        start += size
    assert got == expected
    outcomes = {o for _, _, o, _, _ in expected}
    assert {"pass", "review", "fail"} <= outcomes  # the state was read, not just passed over


def test_a_record_of_another_type_in_a_batch_is_poison_and_the_others_are_decided(
    settings: Settings, engine: Engine
) -> None:
    create_state_schema(engine)
    rules: Any = InForce(settings)
    store = StateStore(engine, settings.topic_prefix)
    checker = Checker(rules, store, ConsentsRead(store, 1, wait_limit_s=0))
    passport = document(1, "C-1", "passport", "Ingrid Marie Halvorsen", AT)
    stray = consent_event(
        consent_id="K-1", customer_id="C-1", purpose="marketing", source_system="t", given_at=AT
    )
    first, second = checker.check_batch(
        [(stray.event_type, stray.record), ("DocumentClassified", passport)]
    )
    assert isinstance(first, PoisonMessage) and "ConsentRecorded does not belong" in str(first)
    assert not isinstance(second, PoisonMessage)
    assert {o.record["rule_id"] for o in second if o.event_type == "CheckResult"} == {
        r.id for r in rules.current.for_type("passport")
    }
