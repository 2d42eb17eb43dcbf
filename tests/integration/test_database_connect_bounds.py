"""A database that accepts TCP connections and then says nothing (a hung server, a proxy with
no backend) must not hold a processor's start-up or its first query without end: a new
connection that is not completed in time is an outage, reported in one sentence."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from compliance.audit.store import connect, require_database
from compliance.errors import ConfigurationError

pytestmark = pytest.mark.integration


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port on 127.0.0.1 that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    accepted: list[socket.socket] = []
    done = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not done.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        done.set()
        thread.join(5)
        for conn in accepted:
            conn.close()
        listener.close()


def test_a_server_that_never_answers_is_reported_within_the_connect_timeout(
    silent_server: int,
) -> None:
    engine = connect(
        f"postgresql+psycopg2://compliance_app:x@127.0.0.1:{silent_server}/compliance",
        connect_timeout_s=2,
    )
    started = time.monotonic()
    with pytest.raises(ConfigurationError, match="cannot reach PostgreSQL"):
        require_database(engine)
    assert time.monotonic() - started < 15  # the connect timeout, with pre-ping retries
