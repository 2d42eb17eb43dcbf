"""Classification and extraction with Claude, through the official ``anthropic`` SDK.

For one document: look the result up in the cache (content hash, model, prompt version);
otherwise redact PII if configured, ask Claude to call exactly one record tool, validate the
call against that tool's schema (an invalid reply is asked again once, then the document goes
to a human), put redacted values back, and cache the result. Fields that a check-digit-verified
machine-readable zone states are taken from the zone, not from Claude.

Transient API failures (429, 5xx, timeouts) are retried by the SDK with exponential back-off,
honouring ``retry-after``; when they persist, the call counts against the circuit breaker and
raises ``RetryableError``: the runner keeps the batch's offsets uncommitted and retries it.
A request the API refuses for the document itself (400, 413) becomes an exception event.
"""

from __future__ import annotations

import logging
from typing import Any, NoReturn

import anthropic
import httpx2

from compliance.classification import llm_metrics
from compliance.classification.cache import ResultCache
from compliance.classification.circuit import CircuitBreaker
from compliance.classification.local import mrz_fields, type_from_mrz
from compliance.classification.model import Classification, ExtractedField, Usage
from compliance.classification.prompt import (
    PROMPT_VERSION,
    fence_token,
    system_prompt,
    user_message,
)
from compliance.classification.redaction import Redaction, redact
from compliance.classification.tools import TOOLS, ReplyInvalid, read_tool_call
from compliance.config import Settings
from compliance.errors import ConfigurationError, DocumentUnreadable, RetryableError
from compliance.mrz import find_mrz

log = logging.getLogger(__name__)
MAX_OUTPUT_TOKENS = 2048
_TRANSIENT_STATUS = {408, 409, 429}


def client_for(settings: Settings) -> anthropic.Anthropic:
    """An SDK client whose connection pool keeps as many connections as calls in flight."""
    key = settings.anthropic_api_key
    if key is None:
        raise ConfigurationError("COMPLIANCE_ANTHROPIC_API_KEY is not set")
    pool = max(100, settings.llm_concurrency)
    return anthropic.Anthropic(
        api_key=key.get_secret_value(),
        base_url=settings.anthropic_base_url,
        max_retries=settings.llm_max_retries,
        timeout=httpx2.Timeout(settings.llm_timeout_s, connect=5.0),
        http_client=anthropic.DefaultHttpxClient(
            limits=httpx2.Limits(max_connections=pool, max_keepalive_connections=pool)
        ),
    )


class ClaudeClassifier:
    def __init__(
        self,
        settings: Settings,
        client: anthropic.Anthropic,
        cache: ResultCache | None = None,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self.settings = settings
        self.client = client
        self.model = settings.anthropic_model
        self.cache = cache
        self.breaker = breaker or CircuitBreaker(
            settings.llm_circuit_failures, settings.llm_circuit_reset_s
        )
        # Redaction changes what Claude sees, so it is part of the result's identity.
        self.prompt_version = PROMPT_VERSION + ("+redacted" if settings.llm_redact_pii else "")

    def classify(self, text: str, content_sha256: str) -> Classification:
        cached = self._cached(content_sha256)
        if cached is not None:
            return self._with_mrz(_from_stored(cached, self.model, self.prompt_version, True), text)
        redaction = redact(text) if self.settings.llm_redact_pii else Redaction(text)
        stored = self._ask(redaction)
        if self.cache is not None:
            self.cache.put(content_sha256, self.model, self.prompt_version, stored)
        result = _from_stored(stored, self.model, self.prompt_version, False)
        assert result.usage is not None
        llm_metrics.cost_usd.inc(result.usage.cost_usd)
        llm_metrics.document_cost_usd.observe(result.usage.cost_usd)
        return self._with_mrz(result, text)

    def _cached(self, content_sha256: str) -> dict[str, Any] | None:
        if self.cache is None:
            return None
        found = self.cache.get(content_sha256, self.model, self.prompt_version)
        llm_metrics.cache.labels("hit" if found is not None else "miss").inc()
        if found is not None:
            llm_metrics.document_cost_usd.observe(0)
        return found

    def _ask(self, redaction: Redaction) -> dict[str, Any]:
        """Claude's validated answer, as stored in the cache; asked again once if invalid."""
        text = redaction.text[: self.settings.llm_max_text_chars]
        spent = [0, 0]
        for attempt in (1, 2):
            message = self._call(text)
            spent[0] += message.usage.input_tokens
            spent[1] += message.usage.output_tokens
            try:
                document_type, confidence, fields = _read(message)
            except ReplyInvalid as exc:
                llm_metrics.calls.labels("invalid_reply").inc()
                log.warning("Claude's reply is invalid (attempt %d): %s", attempt, exc)
                if attempt == 2:
                    raise DocumentUnreadable(
                        f"Claude's reply did not match the schema twice: {exc}", "invalid_reply"
                    ) from None
                continue
            llm_metrics.calls.labels("ok").inc()
            return {
                "document_type": document_type,
                "confidence": confidence,
                "fields": [[f.name, redaction.restore(f.value), f.confidence] for f in fields],
                "input_tokens": spent[0],
                "output_tokens": spent[1],
                "cost_usd": self._price(spent[0], spent[1]),
            }
        raise AssertionError("unreachable")

    def _call(self, text: str) -> anthropic.types.Message:
        if not self.breaker.allow():
            llm_metrics.calls.labels("circuit_open").inc()
            raise RetryableError("Claude API circuit open after repeated failures; waiting")
        token = fence_token(text)
        try:
            message = self.client.messages.create(
                model=self.model,
                max_tokens=MAX_OUTPUT_TOKENS,
                system=system_prompt(token),
                messages=[{"role": "user", "content": user_message(text, token)}],
                tools=TOOLS,  # type: ignore[arg-type]
                tool_choice={"type": "any", "disable_parallel_tool_use": True},
            )
        except (anthropic.AuthenticationError, anthropic.PermissionDeniedError) as exc:
            raise ConfigurationError(f"Claude refused the API key ({exc.status_code})") from None
        except anthropic.APIStatusError as exc:
            if exc.status_code in _TRANSIENT_STATUS or exc.status_code >= 500:
                self._unavailable(f"HTTP {exc.status_code}")
            self.breaker.record_success()  # the API answered: it is up
            llm_metrics.calls.labels("rejected").inc()
            raise DocumentUnreadable(
                f"Claude refused the document (HTTP {exc.status_code})", "llm_rejected"
            ) from None
        except anthropic.APIConnectionError as exc:  # includes timeouts
            self._unavailable(type(exc).__name__)
        self.breaker.record_success()
        llm_metrics.tokens.labels("input").inc(message.usage.input_tokens)
        llm_metrics.tokens.labels("output").inc(message.usage.output_tokens)
        return message

    def _unavailable(self, why: str) -> NoReturn:
        self.breaker.record_failure()
        llm_metrics.calls.labels("unavailable").inc()
        raise RetryableError(f"Claude API unavailable after retries ({why})")

    def _price(self, input_tokens: int, output_tokens: int) -> float:
        return round(
            input_tokens * self.settings.llm_input_usd_per_mtok / 1e6
            + output_tokens * self.settings.llm_output_usd_per_mtok / 1e6,
            8,
        )

    def _with_mrz(self, result: Classification, text: str) -> Classification:
        """Fields of a machine-readable zone whose check digits all hold replace Claude's."""
        mrz = find_mrz(text)
        if mrz is None or not mrz.valid:
            return result
        document_type, confidence = type_from_mrz(mrz, result.document_type, result.confidence)
        fields = {f.name: f for f in result.fields}
        fields.update({f.name: f for f in mrz_fields(mrz)})
        return Classification(
            document_type,
            confidence,
            tuple(fields.values()),
            result.model,
            result.prompt_version,
            result.usage,
        )


def _read(message: anthropic.types.Message) -> tuple[str, float, list[ExtractedField]]:
    if message.stop_reason == "max_tokens":
        raise ReplyInvalid("the reply was cut off at the token limit")
    calls = [block for block in message.content if block.type == "tool_use"]
    if len(calls) != 1:
        raise ReplyInvalid(f"expected exactly one tool call, got {len(calls)}")
    return read_tool_call(calls[0].name, calls[0].input)


def _from_stored(
    stored: dict[str, Any], model: str, prompt_version: str, from_cache: bool
) -> Classification:
    return Classification(
        document_type=stored["document_type"],
        confidence=stored["confidence"],
        fields=tuple(ExtractedField(n, v, c) for n, v, c in stored["fields"]),
        model=model,
        prompt_version=prompt_version,
        usage=Usage(
            stored["input_tokens"],
            stored["output_tokens"],
            0.0 if from_cache else stored["cost_usd"],
            from_cache,
        ),
    )
