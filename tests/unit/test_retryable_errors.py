"""One mapping of database errors to "pause and retry" (compliance.db_errors), used by the
checker's state store and the LLM cache: outages pause, errors about the data do not. The
same errors raised by the real server are in tests/integration/test_retryable_db_errors.py."""

from __future__ import annotations

from typing import Any

import psycopg2.errors
import pytest
from sqlalchemy.exc import (
    DataError,
    DBAPIError,
    IntegrityError,
    InterfaceError,
    InternalError,
    OperationalError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout

from compliance.classification.cache import engine_for, without_nul
from compliance.db_errors import retryable_db_errors
from compliance.errors import RetryableError

OUTAGES: dict[str, BaseException] = {
    "pool-timeout": PoolTimeout("QueuePool limit of size 5 overflow 0 reached"),
    "operational": OperationalError("select 1", {}, psycopg2.OperationalError("server closed")),
    "interface": InterfaceError(
        "select 1", {}, psycopg2.InterfaceError("connection already closed")
    ),
    "read-only": InternalError(
        "insert", {}, psycopg2.errors.ReadOnlySqlTransaction("read-only transaction")
    ),
    "admin-shutdown": OperationalError(
        "select 1", {}, psycopg2.errors.AdminShutdown("terminating connection")
    ),
    "serialization": DBAPIError("update", {}, psycopg2.errors.SerializationFailure("retry")),
}
NOT_OUTAGES: dict[str, BaseException] = {
    "bad-data": DataError("insert", {}, psycopg2.errors.UntranslatableCharacter("\\u0000")),
    "constraint": IntegrityError("insert", {}, psycopg2.errors.UniqueViolation("dup")),
}


@pytest.mark.parametrize("error", OUTAGES.values(), ids=OUTAGES.keys())
def test_a_database_outage_becomes_retryable(error: BaseException) -> None:
    with (
        pytest.raises(RetryableError, match="the store unavailable"),
        retryable_db_errors("the store"),
    ):
        raise error


@pytest.mark.parametrize("error", NOT_OUTAGES.values(), ids=NOT_OUTAGES.keys())
def test_an_error_about_the_data_is_raised_unchanged(error: BaseException) -> None:
    with pytest.raises(type(error)), retryable_db_errors("the store"):
        raise error


def test_the_llm_cache_pool_holds_a_connection_per_classification_in_flight() -> None:
    pool: Any = engine_for("postgresql+psycopg2://u:p@127.0.0.1:1/none", 48).pool
    assert pool.size() == 48  # not connected: only the pool's size is read


def test_nul_characters_are_removed_from_every_string_of_a_result() -> None:
    result = {"a\x00": ["x\x00y", 1, {"k": "\x00"}], "n": None}
    assert without_nul(result) == {"a": ["xy", 1, {"k": ""}], "n": None}
