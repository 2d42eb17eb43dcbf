"""Which classifier a process uses: Claude when ``COMPLIANCE_ANTHROPIC_API_KEY`` is set, else
the local, offline one. Both are called the same way: ``classify(text, content_sha256)``."""

from __future__ import annotations

from typing import Protocol

from compliance.classification import local
from compliance.classification.model import Classification
from compliance.config import Settings


class Classifier(Protocol):
    def classify(self, text: str, content_sha256: str) -> Classification: ...


class LocalClassifier:
    def classify(self, text: str, content_sha256: str) -> Classification:
        return local.classify(text)


def classifier_for(settings: Settings) -> Classifier:
    if settings.anthropic_api_key is None:
        return LocalClassifier()
    from compliance.classification.cache import ResultCache, engine_for
    from compliance.classification.llm import ClaudeClassifier, client_for

    cache = None
    if settings.llm_cache:
        # One connection per document in flight: the runner runs llm_concurrency at once.
        cache = ResultCache(engine_for(settings.database_dsn, settings.llm_concurrency))
        cache.create_table()
    return ClaudeClassifier(settings, client_for(settings), cache)
