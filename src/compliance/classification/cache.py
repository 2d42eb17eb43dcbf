"""The LLM result cache, in PostgreSQL: one row per (content hash, model, prompt version).

Re-processing a document (a replay, a batch retried after a crash or an API outage) reads the
answer Claude already gave instead of asking again: the same fields, at no cost. A result is
written once (``ON CONFLICT DO NOTHING``), so two processors racing on the same content keep
the first answer. Database failures are ``RetryableError``: the batch waits, as for the audit
trail, rather than paying again for an answer that could not be remembered.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, DateTime, Engine, MetaData, Table, Text, func, select
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.exc import DBAPIError

from compliance.errors import RetryableError

metadata = MetaData()

llm_results = Table(
    "llm_classification_cache",
    metadata,
    Column("content_sha256", Text, primary_key=True),
    Column("model", Text, primary_key=True),
    Column("prompt_version", Text, primary_key=True),
    Column("result", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)


class ResultCache:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def create_table(self) -> None:
        try:
            metadata.create_all(self.engine, checkfirst=True)
        except DBAPIError as exc:
            raise RetryableError(f"cannot create the LLM result cache: {exc.orig}") from exc

    def get(self, content_sha256: str, model: str, prompt_version: str) -> dict[str, Any] | None:
        query = select(llm_results.c.result).where(
            llm_results.c.content_sha256 == content_sha256,
            llm_results.c.model == model,
            llm_results.c.prompt_version == prompt_version,
        )
        try:
            with self.engine.connect() as conn:
                row = conn.execute(query).first()
        except DBAPIError as exc:
            raise RetryableError(f"LLM result cache unavailable: {exc.orig}") from exc
        return None if row is None else dict(row[0])

    def put(
        self, content_sha256: str, model: str, prompt_version: str, result: dict[str, Any]
    ) -> None:
        statement = (
            insert(llm_results)
            .values(
                content_sha256=content_sha256,
                model=model,
                prompt_version=prompt_version,
                result=result,
            )
            .on_conflict_do_nothing()
        )
        try:
            with self.engine.begin() as conn:
                conn.execute(statement)
        except DBAPIError as exc:
            raise RetryableError(f"LLM result cache unavailable: {exc.orig}") from exc
