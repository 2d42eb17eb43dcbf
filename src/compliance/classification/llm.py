"""Classification and extraction with Claude, through the official ``anthropic`` SDK.

For one document: look the result up in the cache (content hash, model, prompt version);
otherwise redact PII if configured, ask Claude to call exactly one record tool, validate the
call against that tool's schema (an invalid reply is asked again once, then the document goes
to a human), put redacted values back, and cache the result. Fields that a check-digit-verified
machine-readable zone states are taken from the zone, not from Claude.

Transient API failures (429, 5xx, timeouts) are retried by the SDK with exponential back-off,
honouring ``retry-after``; when they persist, the call counts against the circuit breaker and
raises ``RetryableError``: the runner keeps the batch's offsets uncommitted and retries it.
A reply that is not a well-formed message (not JSON, cut short, not the Message shape) is asked
again up to ``llm_max_retries`` times, then treated the same way. An account or configuration
problem (key refused, no credit, model not found: see ``api_errors.py``) also pauses: the
circuit opens at once and an error line tells the operator what to fix. Only a request the
API refuses for the document itself (413, a 400 about its content) becomes an exception event.

When two documents of the same content race, both ask Claude and the cache keeps one answer;
each then uses the stored answer, so identical content gets identical fields (``cache.put``).
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any, NoReturn

import anthropic
import httpx2

from compliance.classification import llm_metrics
from compliance.classification.api_errors import Refusal, classify_refusal, operator_action
from compliance.classification.cache import ResultCache, without_nul
from compliance.classification.circuit import CircuitBreaker
from compliance.classification.local import mrz_fields, text_type, type_from_mrz
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
USAGE_KEYS = ("input_tokens", "output_tokens", "cost_usd")
MALFORMED_BACKOFF_S = 0.5


class MalformedResponse(Exception):
    """The API answered 200 with something that is not a Messages API message."""


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
        answer = self._ask(redaction)
        stored = answer
        if self.cache is not None:  # the answer stored first wins, ours if no race
            stored = self.cache.put(content_sha256, self.model, self.prompt_version, answer)
        spent = {key: answer[key] for key in USAGE_KEYS}  # what this call cost, in any case
        result = _from_stored(stored | spent, self.model, self.prompt_version, False)
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
            answer: dict[str, Any] = without_nul(  # PostgreSQL text and jsonb refuse NUL
                {
                    "document_type": document_type,
                    "confidence": confidence,
                    "fields": [[f.name, redaction.restore(f.value), f.confidence] for f in fields],
                }
            )
            return answer | {
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
            message = self._well_formed_reply(text, token)
        except anthropic.APIStatusError as exc:
            refusal = classify_refusal(exc)
            if refusal is Refusal.TRANSIENT:
                self._unavailable(f"HTTP {exc.status_code}")
            if refusal is Refusal.ACCOUNT:
                self._account_problem(exc)
            self.breaker.record_success()  # the API answered: it is up
            llm_metrics.calls.labels("rejected").inc()
            raise DocumentUnreadable(
                f"Claude refused the document (HTTP {exc.status_code})", "llm_rejected"
            ) from None
        except anthropic.APIConnectionError as exc:  # includes timeouts
            self._unavailable(type(exc).__name__)
        except MalformedResponse as exc:
            self._unavailable(f"malformed replies: {exc}")
        self.breaker.record_success()
        llm_metrics.tokens.labels("input").inc(message.usage.input_tokens)
        llm_metrics.tokens.labels("output").inc(message.usage.output_tokens)
        return message

    def _well_formed_reply(self, text: str, token: str) -> anthropic.types.Message:
        """The API's message; a reply that is not one (not JSON, cut short, another shape) is
        asked again up to ``llm_max_retries`` times, then ``MalformedResponse``."""
        attempts = self.settings.llm_max_retries + 1
        for attempt in range(1, attempts + 1):
            try:
                return _checked(self._create(text, token))
            except (
                anthropic.APIResponseValidationError,
                json.JSONDecodeError,
                UnicodeDecodeError,
                MalformedResponse,
            ) as exc:
                llm_metrics.calls.labels("malformed_response").inc()
                log.warning(
                    "Claude API reply is not a message (attempt %d of %d): %s: %s",
                    attempt,
                    attempts,
                    type(exc).__name__,
                    str(exc)[:200],
                )
                if attempt == attempts:
                    raise MalformedResponse(f"{type(exc).__name__}: {str(exc)[:200]}") from exc
                time.sleep(MALFORMED_BACKOFF_S * attempt)
        raise AssertionError("unreachable")

    def _create(self, text: str, token: str) -> Any:
        return self.client.messages.create(  # type: ignore[call-overload]
            model=self.model,
            max_tokens=MAX_OUTPUT_TOKENS,
            system=system_prompt(token),
            messages=[{"role": "user", "content": user_message(text, token)}],
            tools=TOOLS,
            tool_choice={"type": "any", "disable_parallel_tool_use": True},
        )

    def _account_problem(self, exc: anthropic.APIStatusError) -> NoReturn:
        """Every document would be refused alike: open the circuit now and tell the
        operator; the documents wait."""
        self.breaker.trip()
        llm_metrics.calls.labels("account_error").inc()
        action = operator_action(exc)
        log.error("%s; documents wait until it is fixed", action)
        raise RetryableError(action)

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
        read_as = text_type(result.document_type)  # Claude's type, for the checker
        fields[read_as.name] = read_as
        return Classification(
            document_type,
            confidence,
            tuple(fields.values()),
            result.model,
            result.prompt_version,
            result.usage,
        )


def _checked(reply: Any) -> anthropic.types.Message:
    """``reply`` if it has the shape of a message (the SDK builds one from any JSON object
    without validating it, and returns the text of a reply that is not JSON)."""
    if not isinstance(reply, anthropic.types.Message):
        raise MalformedResponse(f"a {type(reply).__name__} instead of a message")
    usage = getattr(reply, "usage", None)
    tokens = (getattr(usage, "input_tokens", None), getattr(usage, "output_tokens", None))
    if not all(isinstance(t, int) for t in tokens):
        raise MalformedResponse("the message has no token usage")
    if not isinstance(getattr(reply, "content", None), list):
        raise MalformedResponse("the message has no content list")
    return reply


def _read(message: anthropic.types.Message) -> tuple[str, float, list[ExtractedField]]:
    if getattr(message, "stop_reason", None) == "max_tokens":
        raise ReplyInvalid("the reply was cut off at the token limit")
    calls = [block for block in message.content if getattr(block, "type", None) == "tool_use"]
    if len(calls) != 1:
        raise ReplyInvalid(f"expected exactly one tool call, got {len(calls)}")
    name, tool_input = getattr(calls[0], "name", None), getattr(calls[0], "input", None)
    if not isinstance(name, str):
        raise ReplyInvalid("the tool call has no name")
    return read_tool_call(name, tool_input)


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
