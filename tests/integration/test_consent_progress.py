"""How far consents.recorded is read, as the documents' side sees it in PostgreSQL: a
document at T is decided only once every partition is stored past T (a later record stored,
or read to its end at least the lateness after T), a statement counts only when its
partition's stream time is not after T, and waiting has a bound after which the batch is
retried."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from compliance.config import Settings
from compliance.errors import RetryableError
from compliance.rules.consent_feed import ConsentsRead
from compliance.rules.events import consent_event
from compliance.rules.store import ConsumedConsent, StateStore, create_state_schema

T = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
SECOND = timedelta(seconds=1)


def statement(settings: Settings, n: int) -> dict[str, object]:
    return consent_event(
        consent_id=f"K-{n}",
        customer_id="C-1",
        purpose="marketing",
        source_system=settings.topic_prefix,
        given_at=T - timedelta(days=1),
        occurred_at=T - timedelta(days=1),  # recorded upstream long before T
    ).record


def test_a_document_waits_until_every_partition_is_stored_past_its_time(
    settings: Settings, engine: Engine
) -> None:
    create_state_schema(engine)
    store = StateStore(engine, settings.topic_prefix)
    read = ConsentsRead(store, 2, lateness=SECOND, wait_limit_s=0.3)
    assert read.behind(T) == [0, 1]  # nothing read yet

    # partition 0: a statement appended before T, then a record appended after T
    store.record_consents(
        [
            ConsumedConsent(0, T - SECOND, statement(settings, 1)),
            ConsumedConsent(0, T + SECOND, statement(settings, 2)),
        ]
    )
    assert read.behind(T) == [1]
    store.caught_up([1], T + SECOND / 2)  # read to its end, but too soon after T
    assert read.behind(T) == [1]
    with pytest.raises(RetryableError, match=r"partitions \[1\]"):
        read.wait_until(T)
    store.caught_up([1], T + 2 * SECOND)
    assert read.behind(T) == []
    read.wait_until(T)

    # what counts at T: the statement appended before it, not the one appended after, even
    # though both were recorded upstream a day before
    [counted] = store.state_for("C-1", T, "e", frozenset({"consents"})).consents
    assert counted.consent_id == "K-1"
    later = store.state_for("C-1", T + SECOND, "e", frozenset({"consents"})).consents
    assert sorted(s.consent_id for s in later) == ["K-1", "K-2"]


def test_a_statement_behind_a_later_record_of_its_partition_counts_from_that_records_time(
    settings: Settings, engine: Engine
) -> None:
    """Timestamps set by producers can go back; a partition's stream time never does, so a
    statement counts from the latest time appended before it, whatever the consumer's lag."""
    create_state_schema(engine)
    store = StateStore(engine, settings.topic_prefix)
    store.record_consents([ConsumedConsent(0, T + SECOND, None)])  # a dead letter, after T
    store.record_consents([ConsumedConsent(0, T - SECOND, statement(settings, 3))])
    assert store.state_for("C-1", T, "e", frozenset({"consents"})).consents == ()
    [counted] = store.state_for("C-1", T + SECOND, "e", frozenset({"consents"})).consents
    assert counted.consent_id == "K-3"
