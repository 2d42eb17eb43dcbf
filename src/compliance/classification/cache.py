"""The LLM result cache, in PostgreSQL: one row per (content hash, model, prompt version).

Re-processing a document (a replay, a batch retried after a crash or an API outage) reads the
answer Claude already gave instead of asking again: the same fields, at no cost. A result is
written once (``ON CONFLICT DO NOTHING``); ``put`` returns the answer stored, so when two
documents of the same content race, the one that loses uses the winner's answer: identical
content gets identical output.

A database outage (down, failed over, shutting down, the connection pool exhausted: see
``compliance.db_errors``) is ``RetryableError``: the batch waits, as for the audit trail, rather
than paying again for an answer that could not be remembered. A result the database refuses
for its content (``db_errors.is_content_error``: a data exception, a constraint, a value too
long for an index) is not cached and the classification goes on; any other database error (a
grant the processors' role lacks) stops the classifier, which says so. NUL characters, which
jsonb cannot hold, are removed before storing.
The engine's pool must hold one connection per classification in flight (``engine_for``).
"""

from __future__ import annotations

import logging
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    MetaData,
    Table,
    Text,
    create_engine,
    func,
    select,
)
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.exc import DBAPIError

from compliance.audit.store import CONNECT_TIMEOUT_S, KEEPALIVES
from compliance.db_errors import is_content_error, refusal, retryable_db_errors

log = logging.getLogger(__name__)
metadata = MetaData()
POOL_TIMEOUT_S = 30.0

llm_results = Table(
    "llm_classification_cache",
    metadata,
    Column("content_sha256", Text, primary_key=True),
    Column("model", Text, primary_key=True),
    Column("prompt_version", Text, primary_key=True),
    Column("result", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)


def engine_for(dsn: str, in_flight: int) -> Engine:
    """An engine whose pool has a connection for every classification in flight (each holds
    at most one at a time), so none waits for another's; a wait that still times out is an
    outage (``RetryableError``), never a dead letter."""
    return create_engine(
        dsn,
        pool_pre_ping=True,
        pool_size=in_flight,
        max_overflow=2,
        pool_timeout=POOL_TIMEOUT_S,
        hide_parameters=True,  # parameters carry document hashes and extracted fields
        connect_args={"connect_timeout": CONNECT_TIMEOUT_S, **KEEPALIVES},
    )


def without_nul(value: Any) -> Any:
    """``value`` with NUL characters removed from every string in it (jsonb refuses them)."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {without_nul(k): without_nul(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [without_nul(v) for v in value]
    return value


def _cache_errors() -> AbstractContextManager[None]:
    """Outages -> RetryableError (the batch waits); a content error (the values refused,
    ``compliance.db_errors.is_content_error``: SQLSTATE decides, so 54000 filed under
    OperationalError is one too) is left to the caller; anything else (a permission the
    processors' role lacks, a missing table) is raised unchanged, so the classifier stops
    and says so instead of retrying what no retry mends."""
    return retryable_db_errors("LLM result cache")


class ResultCache:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def create_table(self) -> None:
        with _cache_errors():
            metadata.create_all(self.engine, checkfirst=True)

    def get(self, content_sha256: str, model: str, prompt_version: str) -> dict[str, Any] | None:
        with _cache_errors(), self.engine.connect() as conn:
            row = conn.execute(_lookup(content_sha256, model, prompt_version)).first()
        return None if row is None else dict(row[0])

    def put(
        self, content_sha256: str, model: str, prompt_version: str, result: dict[str, Any]
    ) -> dict[str, Any]:
        """Store ``result`` unless a result for this key is stored already; return the stored
        one (``result`` itself, without NULs, if the database refused it as data)."""
        clean: dict[str, Any] = without_nul(result)
        statement = (
            insert(llm_results)
            .values(
                content_sha256=content_sha256,
                model=model,
                prompt_version=prompt_version,
                result=clean,
            )
            .on_conflict_do_nothing()
            .returning(llm_results.c.result)
        )
        try:
            with _cache_errors(), self.engine.begin() as conn:
                inserted = conn.execute(statement).first()
                if inserted is not None:
                    return dict(inserted[0])
                # Another classifier stored this content first: its answer is the answer.
                stored = conn.execute(_lookup(content_sha256, model, prompt_version)).first()
        except DBAPIError as exc:
            if not is_content_error(exc):
                raise  # not bad data: a bug or a missing grant, for the runner to stop on
            log.warning("LLM result for %s not cached: %s", content_sha256, refusal(exc))
            return clean
        if stored is None:  # deleted in between (an operator purge): keep our own
            return clean
        log.info("LLM result for %s was stored by another classifier first", content_sha256)
        return dict(stored[0])


def _lookup(content_sha256: str, model: str, prompt_version: str) -> Any:
    return select(llm_results.c.result).where(
        llm_results.c.content_sha256 == content_sha256,
        llm_results.c.model == model,
        llm_results.c.prompt_version == prompt_version,
    )
