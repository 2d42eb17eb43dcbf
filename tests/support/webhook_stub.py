"""A local stand-in for Slack and Microsoft Teams incoming webhooks, for tests and benchmarks.
Standard library only.

Every POST is recorded (path, JSON body, when it arrived, what was answered). What a path
answers is scripted per path with ``answer(path, *replies, then=...)``: the replies in order,
then ``then`` for every request after them (by default 200 ``ok``, as Slack answers). A reply
may be a 500, a 429 with ``Retry-After``, a 200 after a delay, or a connection dropped without
an answer.

Run alone (benchmarks), from the project root:
``python -m tests.support.webhook_stub PORT DELAY_S`` answers 200 to every POST after
``DELAY_S`` seconds, on asyncio (hundreds of connections at once cost no thread each; it
records nothing).
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    drop: bool = False  # close the connection without answering


OK = Reply()


def server_error() -> Reply:
    return Reply(500, b"internal_error")


def rate_limited(retry_after: str) -> Reply:
    return Reply(429, b"rate_limited", {"Retry-After": retry_after})


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # the listen backlog: hundreds of posts connect at once


@dataclass(frozen=True)
class Received:
    path: str
    body: Any  # the decoded JSON (None when it was not JSON)
    at: float  # time.monotonic() when the request had been read
    status: int  # what was answered (0: dropped)


class WebhookStub:
    """The server, on 127.0.0.1 and a free port (or ``port``), in a daemon thread."""

    def __init__(self, port: int = 0, default: Reply = OK) -> None:
        self.default = default
        self.received: list[Received] = []
        self._scripts: dict[str, tuple[deque[Reply], Reply]] = {}
        self._lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                raw = self.rfile.read(length)
                arrived = time.monotonic()
                reply = stub._next_reply(self.path)
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = None
                with stub._lock:
                    stub.received.append(
                        Received(self.path, body, arrived, 0 if reply.drop else reply.status)
                    )
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                if reply.drop:
                    self.close_connection = True
                    return
                try:
                    self.send_response(reply.status)
                    self.send_header("content-type", "text/plain")
                    self.send_header("content-length", str(len(reply.body)))
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(reply.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (its timeout)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = _Server(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def url(self, path: str) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}{path}"

    def answer(self, path: str, *replies: Reply, then: Reply | None = None) -> None:
        """``path`` answers ``replies`` in order, then ``then`` (default: the stub's default)."""
        with self._lock:
            self._scripts[path] = (deque(replies), then or self.default)

    def _next_reply(self, path: str) -> Reply:
        with self._lock:
            script = self._scripts.get(path)
            if script is None:
                return self.default
            queue, then = script
            return queue.popleft() if queue else then

    def requests(self, path: str | None = None) -> list[Received]:
        with self._lock:
            return [r for r in self.received if path is None or r.path == path]

    def count(self, path: str | None = None, status: int | None = None) -> int:
        return sum(1 for r in self.requests(path) if status is None or r.status == status)

    def __enter__(self) -> WebhookStub:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


async def _answer_after(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay_s: float
) -> None:
    """One keep-alive connection of the benchmark's stub: every POST answered 200 ``ok`` after
    ``delay_s``."""
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            await reader.readexactly(length)
            await asyncio.sleep(delay_s)
            writer.write(
                b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n\r\nok"
            )
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def _serve_many(port: int, delay_s: float) -> None:
    """The benchmark's stub: asyncio, so hundreds of connections cost no thread each."""
    server = await asyncio.start_server(
        lambda r, w: _answer_after(r, w, delay_s), "127.0.0.1", port, backlog=4096
    )
    print(f"listening on http://127.0.0.1:{port}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(_serve_many(int(sys.argv[1]), float(sys.argv[2])))
