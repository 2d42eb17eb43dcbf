"""Consent decisions do not depend on consumer lag: the checker run live, with consents read
as they come, and then replayed from scratch over the same topics, with its consent reader far
behind (5,000 statements of other customers ahead of the ones that matter), decides every
document the same way: the same check results, event ids and outcomes, the same exceptions.

The live run covers the three cases that used to depend on timing: a grant read before the
first consent form, a withdrawal read before the second, and a grant recorded (its
``occurred_at``) before the second form but appended to consents.recorded only after that
form was decided, which must not count for it on the replay either.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer
from sqlalchemy import Engine, delete, func, select

from compliance import kafka_io
from compliance.codec import registry
from compliance.config import Settings
from compliance.events import envelope
from compliance.rules.events import consent_event
from compliance.rules.store import (
    consent_progress,
    consents,
    create_state_schema,
    customer_documents,
)
from compliance.topics import (
    COMPLIANCE_CHECKS,
    COMPLIANCE_EXCEPTIONS,
    CONSENTS_RECORDED,
    DOCUMENTS_CLASSIFIED,
)

from .conftest import Processes, read_topic, wait_for

FILLER = 5_000
PURPOSE = "marketing communications by e-mail"


def consent_form(settings: Settings, who: str, n: int) -> dict[str, Any]:
    """A classified consent form of ``who``, dated now (as the classifier dates it)."""
    document_id = f"{settings.topic_prefix}form-{n}"
    fields = {"full_name": "Amina Okafor", "purpose": PURPOSE, "lawful_basis": "consent"}
    return {
        "envelope": envelope(
            event_type="DocumentClassified",
            stage="test",
            cause=document_id,
            correlation_id=document_id,
            subject_id=who,
            causation_id=None,
        ),
        "document_id": document_id,
        "customer_id": who,
        "document_type": "consent_form",
        "confidence": 0.99,
        "fields": [{"name": k, "value": v, "confidence": 0.99} for k, v in fields.items()],
        "extraction_method": "text",
        "text_sha256": "0" * 64,
        "document_sha256": "0" * 64,
    }


class Inputs:
    """Produces to partition 0 of the test's input topics, so the filler statements come
    before the ones that matter in the one partition the consent reader works through."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.producer = Producer({"bootstrap.servers": settings.kafka_bootstrap})

    def send(self, topic: str, event_type: str, record: dict[str, Any]) -> None:
        self.producer.produce(
            self.settings.topic(topic),
            key=record["envelope"]["subject_id"].encode(),
            value=registry().encode(event_type, record),
            partition=0,
        )
        assert self.producer.flush(10) == 0

    def consent(self, **statement: Any) -> None:
        out = consent_event(source_system=self.settings.topic_prefix, purpose=PURPOSE, **statement)
        self.send(CONSENTS_RECORDED.name, out.event_type, out.record)


def outputs(settings: Settings, topic: str) -> list[dict[str, Any]]:
    return [registry().decode(value)[1] for value in read_topic(settings, topic) if value]


def decisions(records: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """What a replay must reproduce: each event's id and what it decided."""
    return sorted(
        (
            r["envelope"]["event_id"],
            r["document_id"],
            r.get("rule_id"),
            r.get("outcome", r.get("kind")),
            r.get("explanation", r.get("reason")),
            repr(sorted((r.get("inputs") or r.get("details") or {}).items())),
        )
        for r in records
    )


def stored_consents(engine: Engine, settings: Settings) -> int:
    query = select(func.count()).where(consents.c.scope == settings.topic_prefix)
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def consent_outcomes(settings: Settings) -> dict[str, str]:
    return {
        r["document_id"]: r["outcome"]
        for r in outputs(settings, COMPLIANCE_CHECKS.name)
        if r["rule_id"] == "gdpr.processing-consent"
    }


def forget_everything(engine: Engine, settings: Settings) -> None:
    """A replay from scratch: the checker's state and both its consumer groups gone."""
    with engine.begin() as conn:
        for table in (customer_documents, consents, consent_progress):
            conn.execute(delete(table).where(table.c.scope == settings.topic_prefix))
    groups = [settings.group("checker"), settings.group("checker.consents")]
    admin = kafka_io.admin(settings)
    deadline = time.monotonic() + 60
    while groups:
        failed = []
        for group, future in admin.delete_consumer_groups(groups, request_timeout=10).items():
            try:
                future.result()
            except KafkaException as exc:  # the stopped member may not have left yet
                if exc.args[0].code() != KafkaError.GROUP_ID_NOT_FOUND:
                    failed.append(group)
        groups = failed
        if groups and time.monotonic() > deadline:
            raise AssertionError(f"could not delete the consumer groups {groups}")
        if groups:
            time.sleep(0.5)


def test_a_replay_with_the_consents_read_late_decides_as_the_live_run(
    settings: Settings, processes: Processes, engine: Engine
) -> None:
    create_state_schema(engine)  # polled below, maybe before the checker has made it
    who = f"C-{uuid.uuid4().hex[:8]}"
    inputs = Inputs(settings)
    for i in range(FILLER):  # other customers' statements, ahead in the same partition
        out = consent_event(
            consent_id=f"K-filler-{i}",
            customer_id=f"C-filler-{i}",
            purpose="profiling",
            source_system=settings.topic_prefix,
            given_at=datetime(2026, 1, 1, tzinfo=UTC),
        )
        inputs.producer.produce(
            settings.topic(CONSENTS_RECORDED),
            key=out.record["customer_id"].encode(),
            value=registry().encode(out.event_type, out.record),
            partition=0,
        )
        inputs.producer.poll(0)
    started = datetime.now(UTC)
    inputs.consent(consent_id=f"K-{who}", customer_id=who, given_at=started - timedelta(hours=1))

    # The live run: each statement read before the next document arrives.
    processes.start("checker")
    wait_for(
        lambda: stored_consents(engine, settings) == FILLER + 1, 120, "the grant stored", processes
    )
    inputs.send(DOCUMENTS_CLASSIFIED.name, "DocumentClassified", consent_form(settings, who, 1))
    wait_for(lambda: len(consent_outcomes(settings)) == 1, 60, "form 1 decided", processes)

    withdrawn = datetime.now(UTC) - timedelta(seconds=10)
    inputs.consent(consent_id=f"K-{who}", customer_id=who, withdrawn_at=withdrawn)
    wait_for(lambda: stored_consents(engine, settings) == FILLER + 2, 60, "the withdrawal")
    second = consent_form(settings, who, 2)
    inputs.send(DOCUMENTS_CLASSIFIED.name, "DocumentClassified", second)
    wait_for(lambda: len(consent_outcomes(settings)) == 2, 60, "form 2 decided", processes)

    # Granted again, recorded upstream before form 2 was decided, appended only after it.
    recorded = second["envelope"]["occurred_at"] - timedelta(milliseconds=500)
    inputs.consent(
        consent_id=f"K-{who}-again", customer_id=who, given_at=recorded, occurred_at=recorded
    )
    wait_for(lambda: stored_consents(engine, settings) == FILLER + 3, 60, "the new grant")
    inputs.send(DOCUMENTS_CLASSIFIED.name, "DocumentClassified", consent_form(settings, who, 3))
    wait_for(lambda: len(consent_outcomes(settings)) == 3, 60, "form 3 decided", processes)

    forms = [f"{settings.topic_prefix}form-{n}" for n in (1, 2, 3)]
    assert [consent_outcomes(settings)[form] for form in forms] == ["pass", "fail", "pass"]
    live_checks = outputs(settings, COMPLIANCE_CHECKS.name)
    live_exceptions = outputs(settings, COMPLIANCE_EXCEPTIONS.name)
    processes.stop_all()

    # The replay: same topics, nothing remembered, the consent reader 5,000 records behind.
    forget_everything(engine, settings)
    processes.start("checker")
    wait_for(
        lambda: len(outputs(settings, COMPLIANCE_CHECKS.name)) == 2 * len(live_checks),
        120,
        "every document decided again",
        processes,
    )
    # A batch's results and exceptions commit together, so both runs' events are on the
    # topics now: each live decision exactly twice, and no other.
    assert decisions(outputs(settings, COMPLIANCE_CHECKS.name)) == sorted(
        decisions(live_checks) * 2
    )
    assert decisions(outputs(settings, COMPLIANCE_EXCEPTIONS.name)) == sorted(
        decisions(live_exceptions) * 2
    )
