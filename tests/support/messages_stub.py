"""A local stand-in for the Claude Messages API, for tests and benchmarks: the real
``anthropic`` SDK is pointed at it with ``base_url``. Standard library only.

By default it answers like Claude would with tool use: it reads the document between the
prompt's fence markers, classifies it with the local classifier, and calls the matching
``record_*`` tool with the fields. A test replaces ``plan`` to script other answers (rate
limits with ``retry-after``, server errors, slow replies, malformed tool calls, account
errors such as ``low_credit_reply``, and replies that are not a message at all:
``raw_reply`` sends any bytes, e.g. an HTML page or JSON cut short) and reads ``requests`` to
see what the SDK sent and how often.

Run alone (benchmarks), from the project root:
``python -m tests.support.messages_stub PORT DELAY_S``.
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from compliance.classification import local

_FENCE = re.compile(r"<document-(\w+)>\n(.*)\n</document-\1>", re.S)


@dataclass
class Reply:
    status: int = 200
    body: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    raw: bytes | None = None  # sent instead of ``body`` as JSON
    content_type: str = "application/json"


def document_text(request: dict[str, Any]) -> str:
    content = request["messages"][0]["content"]
    match = _FENCE.search(content if isinstance(content, str) else content[0]["text"])
    return match.group(2) if match else ""


def tool_reply(model: str, tool: str, tool_input: dict[str, Any], tokens: int = 800) -> Reply:
    return Reply(
        body={
            "id": "msg_stub",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [
                {"type": "tool_use", "id": "toolu_stub", "name": tool, "input": tool_input}
            ],
            "stop_reason": "tool_use",
            "stop_sequence": None,
            "usage": {"input_tokens": tokens, "output_tokens": 120},
        }
    )


def error_reply(status: int, kind: str, headers: dict[str, str] | None = None) -> Reply:
    body = {"type": "error", "error": {"type": kind, "message": f"stub {kind}"}}
    return Reply(status, body, headers or {})


def low_credit_reply() -> Reply:
    """What the API answers when the account has run out of credit."""
    message = (
        "Your credit balance is too low to access the Anthropic API. "
        "Please go to Plans & Billing to upgrade or purchase credits."
    )
    return Reply(
        400, {"type": "error", "error": {"type": "invalid_request_error", "message": message}}
    )


def raw_reply(payload: bytes, content_type: str = "application/json", status: int = 200) -> Reply:
    """A reply of exactly these bytes (a proxy's HTML page, JSON cut short, ...)."""
    return Reply(status, raw=payload, content_type=content_type)


def answer_like_claude(request: dict[str, Any]) -> Reply:
    """What a faithful model would record: the local classifier's reading of the document."""
    text = document_text(request)
    result = local.classify(text)
    allowed = {t["name"]: t for t in request.get("tools", [])}
    tool = "record_" + result.document_type
    properties = allowed[tool]["input_schema"]["properties"]["fields"]["properties"]
    fields = {
        f.name: {"value": f.value, "confidence": f.confidence}
        for f in result.fields
        if f.name in properties and f.value is not None
    }
    tool_input = {"document_confidence": result.confidence, "fields": fields}
    return tool_reply(request["model"], tool, tool_input, tokens=len(text) // 4 + 900)


class MessagesStub:
    """The server, on 127.0.0.1 and a free port, in a daemon thread."""

    def __init__(self, plan: Callable[[dict[str, Any]], Reply] = answer_like_claude) -> None:
        self.plan = plan
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                request = json.loads(self.rfile.read(length))
                with stub._lock:
                    stub.requests.append(request)
                reply = stub.plan(request)
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                payload = reply.raw if reply.raw is not None else json.dumps(reply.body).encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("content-type", reply.content_type)
                    self.send_header("content-length", str(len(payload)))
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout): nothing to answer

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.request_queue_size = 1024
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def count(self, predicate: Callable[[dict[str, Any]], bool] = lambda _r: True) -> int:
        with self._lock:
            return sum(1 for r in self.requests if predicate(r))

    def __enter__(self) -> MessagesStub:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def _serve(port: int, delay_s: float) -> None:
    def slow(request: dict[str, Any]) -> Reply:
        reply = answer_like_claude(request)
        reply.delay_s = delay_s
        return reply

    stub = MessagesStub(slow)
    stub.server.server_close()
    stub.server = ThreadingHTTPServer(("127.0.0.1", port), stub.server.RequestHandlerClass)
    stub.server.daemon_threads = True
    stub.server.request_queue_size = 1024
    print(f"listening on {stub.base_url}", flush=True)
    stub.server.serve_forever()


if __name__ == "__main__":
    _serve(int(sys.argv[1]), float(sys.argv[2]))
