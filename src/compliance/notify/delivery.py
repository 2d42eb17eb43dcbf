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

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
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


# Connections per HTTP client. httpcore's pool looks at every connection for every request, so
# one pool of hundreds of connections costs milliseconds of CPU per post; many small pools
# cost a fraction of that.
CONNECTIONS_PER_CLIENT = 16


class Clients:
    """The HTTP clients of one route: ``in_flight`` connections in pools of
    ``CONNECTIONS_PER_CLIENT``, each connection lent to one post at a time (``lend``)."""

    def __init__(self, in_flight: int, timeout_s: float) -> None:
        per = min(CONNECTIONS_PER_CLIENT, in_flight)
        tls = httpx2.create_ssl_context()  # one for all (each takes milliseconds to make)
        self.clients = [
            httpx2.AsyncClient(
                verify=tls,
                timeout=httpx2.Timeout(timeout_s, connect=min(timeout_s, 5.0)),
                limits=httpx2.Limits(max_connections=per, max_keepalive_connections=per),
                follow_redirects=False,
            )
            for _ in range(-(-in_flight // per))
        ]
        self._free: asyncio.Queue[httpx2.AsyncClient] = asyncio.Queue()
        for i in range(in_flight):
            self._free.put_nowait(self.clients[i // per])

    @contextlib.asynccontextmanager
    async def lend(self) -> AsyncIterator[httpx2.AsyncClient]:
        client = await self._free.get()
        try:
            yield client
        finally:
            self._free.put_nowait(client)

    async def __aenter__(self) -> Clients:
        return self

    async def __aexit__(self, *exc: object) -> None:
        for client in self.clients:
            await client.aclose()


async def post(clients: Clients, url: str, message: dict[str, Any]) -> Attempt:
    body = json.dumps(message, ensure_ascii=False).encode("utf-8")
    try:
        async with clients.lend() as http:
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
