"""What an error answer of the Messages API means for the document that asked.

- ``TRANSIENT``: the API is busy or down (408, 409, 429, 5xx), already retried by the SDK; the
  document waits (``RetryableError``) and the failure counts against the circuit breaker.
- ``ACCOUNT``: every document would get the same answer until an operator acts: the key is
  refused (401, 403), the account cannot pay (402, or a 400 about the credit balance or
  billing), the model or endpoint does not exist (404). The document waits and the circuit
  opens at once; the log says what to fix.
- ``DOCUMENT``: the request was refused for this document's content (413 too large, a 400 about
  the prompt's length or an image): an exception for a human.
"""

from __future__ import annotations

from enum import Enum

import anthropic


class Refusal(Enum):
    TRANSIENT = "transient"
    ACCOUNT = "account"
    DOCUMENT = "document"


_TRANSIENT_STATUS = frozenset({408, 409, 429})
_ACCOUNT_STATUS = frozenset({401, 402, 403, 404})
_ACCOUNT_ERROR_TYPES = frozenset(
    {"authentication_error", "billing_error", "permission_error", "not_found_error"}
)
# Words of a 400 that is about the account, not the document ("Your credit balance is too
# low to access the Anthropic API", "You have reached your specified API usage limits").
_ACCOUNT_WORDS = (
    "credit balance",
    "billing",
    "purchase credits",
    "usage limit",
    "spend limit",
    "api key",
    "x-api-key",
    "organization",
    "workspace",
)


def error_type_and_message(exc: anthropic.APIStatusError) -> tuple[str, str]:
    """The ``error.type`` and ``error.message`` of an API error body, if it has them."""
    body = exc.body
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return "", str(exc.message)
    return str(error.get("type", "")), str(error.get("message", exc.message))


def classify_refusal(exc: anthropic.APIStatusError) -> Refusal:
    status = exc.status_code
    if status in _TRANSIENT_STATUS or status >= 500:
        return Refusal.TRANSIENT
    kind, message = error_type_and_message(exc)
    if status in _ACCOUNT_STATUS or kind in _ACCOUNT_ERROR_TYPES:
        return Refusal.ACCOUNT
    if status == 400 and any(word in message.lower() for word in _ACCOUNT_WORDS):
        return Refusal.ACCOUNT
    return Refusal.DOCUMENT


def operator_action(exc: anthropic.APIStatusError) -> str:
    """One sentence telling the operator what to fix for an ``ACCOUNT`` refusal."""
    status = exc.status_code
    kind, message = error_type_and_message(exc)
    if status == 401 or kind == "authentication_error":
        what = "the API key was refused: check COMPLIANCE_ANTHROPIC_API_KEY"
    elif status == 403 or kind == "permission_error":
        what = "the API key may not use this model or feature: check the key's permissions"
    elif status == 404 or kind == "not_found_error":
        what = (
            "the model or endpoint does not exist: check COMPLIANCE_ANTHROPIC_MODEL and "
            "COMPLIANCE_ANTHROPIC_BASE_URL"
        )
    else:
        what = "the account cannot pay for calls: check the Anthropic console's billing"
    return f"Claude API refused the account (HTTP {status}, {message[:200]}); {what}"
