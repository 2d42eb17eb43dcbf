"""One delivery attempt through the notifier's HTTP client, against the local webhook stand-in
(tests/support/webhook_stub.py, a real HTTP server on 127.0.0.1): what each answer, or no
answer, means."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import pytest

from compliance.notify import delivery
from tests.support.webhook_stub import Reply, WebhookStub, rate_limited

PATH = "/services/T1/B1/token"
MESSAGE = {"text": "Critical sanctions exception", "blocks": [{"type": "header"}], "n": "ø"}


@pytest.fixture
def stub() -> Iterator[WebhookStub]:
    with WebhookStub() as server:
        yield server


def attempt(url: str, timeout_s: float = 5.0) -> delivery.Attempt:
    async def once() -> delivery.Attempt:
        async with delivery.Clients(4, timeout_s) as http, asyncio.timeout(timeout_s):
            return await delivery.post(http, url, delivery.encode(MESSAGE))

    return asyncio.run(once())


def test_a_2xx_is_delivered_and_the_body_is_the_message_as_utf8_json(stub: WebhookStub) -> None:
    result = attempt(stub.url(PATH))
    assert (result.verdict, result.status) == ("delivered", 200)
    [received] = stub.requests(PATH)
    assert received.body == MESSAGE


def test_a_429_is_retried_after_the_webhooks_retry_after(stub: WebhookStub) -> None:
    stub.answer(PATH, rate_limited("7"))
    result = attempt(stub.url(PATH))
    assert (result.verdict, result.status, result.retry_after_s) == ("retry", 429, 7.0)


def test_a_4xx_other_than_429_is_permanent(stub: WebhookStub) -> None:
    stub.answer(PATH, Reply(403, b"invalid_token"))
    assert attempt(stub.url(PATH)).verdict == "permanent"


def test_a_connection_dropped_without_an_answer_is_retried(stub: WebhookStub) -> None:
    stub.answer(PATH, Reply(drop=True))
    result = attempt(stub.url(PATH))
    assert (result.verdict, result.status) == ("retry", None)
    assert result.reason.startswith("connection failed")


def test_a_refused_connection_is_retried_and_its_reason_does_not_name_the_url() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nobody listens once closed
    result = attempt(f"http://127.0.0.1:{port}{PATH}")
    assert (result.verdict, result.status) == ("retry", None)
    assert "token" not in result.reason and str(port) not in result.reason
