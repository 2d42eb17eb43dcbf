"""One delivery attempt, and what the webhook's answer means; defined here only.

- any 2xx: delivered;
- 429, any 5xx, 408, a connection error or a timeout: try again later (the webhook's
  ``Retry-After`` honoured when it sends one);
- any other 4xx (a revoked webhook, a malformed message): permanent, no retry;
- an error of the HTTP client that is none of the above is a bug: it is raised.

The HTTP client is aiohttp: one session per route, its connections kept alive and reused
(HTTP/1.1), as many as the route has posts in flight. It costs about a quarter of the CPU per
post of httpx (measured against the benchmark's webhook stub: 0.17 ms against 0.68 ms), and
the notifier's speed is its CPU per notification.

Nothing here logs or returns the webhook's URL (a secret) or the message (personal data):
an outcome's reason names the status or the error's class only.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Any, Literal

import aiohttp
import orjson

from compliance.notify.backoff import retry_after_s

Verdict = Literal["delivered", "retry", "permanent"]
RETRIED_STATUSES = frozenset({408, 425, 429})
HEADERS = {"content-type": "application/json; charset=utf-8"}
# A webhook's answer is a word ("ok") or a short JSON error: one declaring more than this is
# not read (its connection is closed instead of reused).
ANSWER_MAX_BYTES = 64 * 1024
# Failures of the connection or of the answer, never of our request: worth another try.
TRANSPORT_ERRORS = (
    aiohttp.ClientConnectionError,  # refused, reset, DNS, TLS, the server disconnecting
    aiohttp.ClientPayloadError,  # an answer cut short
    aiohttp.ClientResponseError,  # an answer that is not HTTP
)


@dataclass(frozen=True)
class Attempt:
    verdict: Verdict
    status: int | None  # the HTTP status, None when no answer came
    reason: str
    retry_after_s: float | None = None


def encode(message: dict[str, Any]) -> bytes:
    """The JSON body of a message (UTF-8)."""
    return orjson.dumps(message)


class Clients:
    """The HTTP client of one route: up to ``in_flight`` connections, kept alive and reused.
    Made on the loop that uses it (``async with``)."""

    def __init__(self, in_flight: int, timeout_s: float) -> None:
        connector = aiohttp.TCPConnector(
            limit=in_flight,
            limit_per_host=in_flight,
            ssl=ssl.create_default_context(),  # certificates verified
            ttl_dns_cache=300,
        )
        self.session = aiohttp.ClientSession(
            connector=connector,
            # The whole attempt is bounded by the caller (one timer, not aiohttp's several);
            # making a connection, here too.
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=min(timeout_s, 5.0)),
            cookie_jar=aiohttp.DummyCookieJar(),  # a webhook's cookies are not kept
            trust_env=False,
            raise_for_status=False,
        )

    async def __aenter__(self) -> Clients:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.session.close()


async def post(clients: Clients, url: str, body: bytes) -> Attempt:
    """POST ``body`` (JSON) to ``url`` once: what came of it. The caller bounds the whole
    attempt in time (``asyncio.timeout``)."""
    try:
        async with clients.session.post(
            url, data=body, headers=HEADERS, allow_redirects=False
        ) as response:
            if (response.content_length or 0) <= ANSWER_MAX_BYTES:
                await response.read()  # read to the end: the connection is reused
            return verdict_of(response.status, response.headers.get("retry-after"))
    except TimeoutError as exc:
        return Attempt("retry", None, f"no answer in time ({type(exc).__name__})")
    except TRANSPORT_ERRORS as exc:
        return Attempt("retry", None, f"connection failed ({type(exc).__name__})")


def verdict_of(status: int, retry_after: str | None) -> Attempt:
    if 200 <= status < 300:
        return Attempt("delivered", status, f"HTTP {status}")
    if status in RETRIED_STATUSES or status >= 500:
        return Attempt("retry", status, f"HTTP {status}", retry_after_s(retry_after))
    return Attempt("permanent", status, f"HTTP {status}: the webhook refused the message")
