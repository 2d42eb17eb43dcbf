"""One delivery attempt, and what the webhook's answer means; defined here only.

- any 2xx: delivered;
- 429, any 5xx, 408, a connection error or a timeout: try again later (the webhook's
  ``Retry-After`` honoured when it sends one);
- any other 4xx (a revoked webhook, a malformed message): permanent, no retry;
- an error of the HTTP client that is none of the above is a bug: it is raised.

Nothing here logs or returns the webhook's URL (a secret) or the message (personal data):
an outcome's reason names the status or the error's class only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

import httpx2

from compliance.notify.backoff import retry_after_s

Verdict = Literal["delivered", "retry", "permanent"]
RETRIED_STATUSES = frozenset({408, 425, 429})


@dataclass(frozen=True)
class Attempt:
    verdict: Verdict
    status: int | None  # the HTTP status, None when no answer came
    reason: str
    retry_after_s: float | None = None


def client(in_flight: int, timeout_s: float) -> httpx2.AsyncClient:
    """The HTTP client of one route: as many connections as notifications in flight, each
    attempt bounded by ``timeout_s`` (connect, write, read: the whole attempt, by the caller)."""
    return httpx2.AsyncClient(
        timeout=httpx2.Timeout(timeout_s, connect=min(timeout_s, 5.0)),
        limits=httpx2.Limits(max_connections=in_flight, max_keepalive_connections=in_flight),
        follow_redirects=False,
    )


async def post(http: httpx2.AsyncClient, url: str, message: dict[str, Any]) -> Attempt:
    body = json.dumps(message, ensure_ascii=False).encode("utf-8")
    try:
        response = await http.post(
            url, content=body, headers={"content-type": "application/json; charset=utf-8"}
        )
    except httpx2.TimeoutException as exc:
        return Attempt("retry", None, f"no answer in time ({type(exc).__name__})")
    except httpx2.TransportError as exc:  # connection refused, reset, DNS, protocol
        return Attempt("retry", None, f"connection failed ({type(exc).__name__})")
    return verdict_of(response.status_code, response.headers.get("retry-after"))


def verdict_of(status: int, retry_after: str | None) -> Attempt:
    if 200 <= status < 300:
        return Attempt("delivered", status, f"HTTP {status}")
    if status in RETRIED_STATUSES or status >= 500:
        return Attempt("retry", status, f"HTTP {status}", retry_after_s(retry_after))
    return Attempt("permanent", status, f"HTTP {status}: the webhook refused the message")
