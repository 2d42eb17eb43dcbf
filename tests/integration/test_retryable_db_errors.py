"""Database failures the checker and the LLM cache meet when PostgreSQL fails over, shuts
down or runs out of connections: each must pause the batch (``RetryableError``), never
dead-letter it. Reproduced on the real PostgreSQL with this test's own connections only: a
session in read-only mode answers writes exactly as a standby does after a failover, a
connection terminated by the server is what a restart or failover leaves in the pool, and a
pool of one held connection times out."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text

from compliance.classification.cache import ResultCache
from compliance.config import Settings
from compliance.errors import RetryableError
from compliance.rules.store import StateStore, create_state_schema


@pytest.fixture
def dsn(base_settings: Settings, engine: Engine) -> str:
    create_state_schema(engine)
    ResultCache(engine).create_table()
    return base_settings.database_dsn


@pytest.fixture
def failed_over(dsn: str) -> Iterator[Engine]:
    """Connections to what is now a read-only standby."""
    standby = create_engine(dsn, connect_args={"options": "-c default_transaction_read_only=on"})
    yield standby
    standby.dispose()


@pytest.fixture
def one_connection(dsn: str) -> Iterator[Engine]:
    small = create_engine(dsn, pool_size=1, max_overflow=0, pool_timeout=0.2)
    yield small
    small.dispose()


def _classified(customer: str) -> dict[str, Any]:
    return {
        "envelope": {"event_id": str(uuid.uuid4()), "occurred_at": datetime.now(UTC)},
        "customer_id": customer,
        "document_id": str(uuid.uuid4()),
        "document_type": "passport",
        "fields": [{"name": "full_name", "value": "Ingrid Halvorsen", "confidence": 0.9}],
    }


def _scope() -> str:
    return f"t{uuid.uuid4().hex[:10]}."


def test_a_write_to_a_failed_over_primary_pauses_the_checker(failed_over: Engine) -> None:
    store = StateStore(failed_over, _scope())
    with pytest.raises(RetryableError, match="ReadOnlySqlTransaction"):
        store.remember_document(_classified("C-1"))


def test_a_write_to_a_failed_over_primary_pauses_the_llm_cache(failed_over: Engine) -> None:
    cache = ResultCache(failed_over)
    with pytest.raises(RetryableError, match="ReadOnlySqlTransaction"):
        cache.put(uuid.uuid4().hex, "m", "p", {"document_type": "passport", "fields": []})


def test_a_connection_the_server_terminated_pauses_the_checker(dsn: str, engine: Engine) -> None:
    """What a database restart or failover leaves in the pool (AdminShutdown)."""
    restarted = create_engine(dsn, pool_size=1, max_overflow=0, pool_pre_ping=False)
    try:
        with restarted.connect() as conn:
            pid = conn.execute(text("select pg_backend_pid()")).scalar_one()
        with engine.connect() as admin:  # only the backend this test opened
            admin.execute(text("select pg_terminate_backend(:pid)"), {"pid": pid})
        store = StateStore(restarted, _scope())
        with pytest.raises(RetryableError):
            store.state_for("C-1", datetime.now(UTC), "e", frozenset({"documents"}))
    finally:
        restarted.dispose()


def test_an_exhausted_connection_pool_pauses_the_checker(one_connection: Engine) -> None:
    store = StateStore(one_connection, _scope())
    with one_connection.connect(), pytest.raises(RetryableError, match="TimeoutError"):
        store.state_for("C-1", datetime.now(UTC), "e", frozenset({"documents"}))


def test_an_exhausted_connection_pool_pauses_the_llm_cache(one_connection: Engine) -> None:
    cache = ResultCache(one_connection)
    with one_connection.connect(), pytest.raises(RetryableError, match="TimeoutError"):
        cache.get(uuid.uuid4().hex, "m", "p")


def test_a_value_too_long_for_its_index_is_an_error_about_the_data_not_an_outage(
    dsn: str,
) -> None:
    """PostgreSQL answers 54000 (program_limit_exceeded), which the driver files under
    OperationalError; retrying it would stall the partition for good, so it goes up unchanged
    (and the runner dead-letters the record)."""
    engine = create_engine(dsn)
    store = StateStore(engine, _scope())
    document = _classified(f"C-{uuid.uuid4().hex[:8]}")
    document["customer_id"] = "".join(uuid.uuid4().hex for _ in range(400))  # ~12.8 kB, random
    try:
        with pytest.raises(Exception) as raised:
            store.remember_document(document)
        assert not isinstance(raised.value, RetryableError), raised.value
        assert "index row" in str(raised.value)
    finally:
        engine.dispose()


def test_a_cache_key_too_long_for_its_index_is_not_cached_and_the_classification_goes_on(
    dsn: str,
) -> None:
    """54000 is about the values, whatever class the driver files it under: the LLM cache
    leaves such a result uncached instead of pausing the classifier for good."""
    engine = create_engine(dsn)
    try:
        result = {"document_type": "passport", "fields": []}
        model = "".join(uuid.uuid4().hex for _ in range(400))  # ~12.8 kB, random
        assert ResultCache(engine).put(uuid.uuid4().hex, model, "p", result) == result
    finally:
        engine.dispose()


def test_a_cache_error_no_retry_mends_is_raised_not_retried_forever(dsn: str) -> None:
    """Not an outage and not bad data (here the table is not where the role looks, as when
    the processors' role lacks a grant): the classifier must stop and say so, never wait."""
    from sqlalchemy.exc import ProgrammingError

    elsewhere = create_engine(dsn, connect_args={"options": "-c search_path=pg_temp"})
    try:
        with pytest.raises(ProgrammingError, match="llm_classification_cache"):
            ResultCache(elsewhere).get("0" * 64, "claude-test", "kyc-extract/2")
    finally:
        elsewhere.dispose()
