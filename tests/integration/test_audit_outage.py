"""The audit sink across a PostgreSQL outage, against the real broker and PostgreSQL.

The shared PostgreSQL must not be stopped (other tests use it), so the sink reaches it through
a TCP relay this test owns: cutting the relay drops the sink's connections and refuses new
ones, which is what the sink sees when the server goes down. While it is cut, the sink's
writer thread fails with batches in hand; the sink must pause, retry, write nothing twice and
commit no offset early, then carry on by itself once the database answers again.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from urllib.parse import urlsplit, urlunsplit

import pytest
from sqlalchemy import Engine, func, select

from compliance.audit.checkpoints import signing_key
from compliance.audit.tables import audit_events
from compliance.audit.verify import verify
from compliance.config import Settings
from tests import audit_synthetic as synthetic

from .conftest import LOG_DIR, Processes, wait_for

pytestmark = pytest.mark.integration


class Relay:
    """Forwards local TCP connections to ``upstream`` until cut; refuses them while cut."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.cut = threading.Event()
        self.open: list[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # closed
            if self.cut.is_set():
                client.close()
                continue
            server = socket.create_connection(self.upstream)
            with self.lock:
                self.open += [client, server]
            for source, target in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, target):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)

    def cut_off(self) -> None:
        self.cut.set()
        with self.lock:
            for end in self.open:
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)
            self.open.clear()

    def restore(self) -> None:
        self.cut.clear()

    def close(self) -> None:
        self.cut_off()
        self.listener.close()


def recorded(engine: Engine, settings: Settings) -> tuple[int, int]:
    """(rows, distinct event ids) under this test's topic prefix."""
    query = select(func.count(), func.count(audit_events.c.event_id.distinct())).where(
        audit_events.c.topic.startswith(settings.topic_prefix)
    )
    with engine.connect() as conn:
        rows, distinct = conn.execute(query).one()
    return int(rows), int(distinct)


def test_sink_pauses_while_postgresql_is_unreachable_and_resumes_losing_nothing(
    settings: Settings, processes: Processes, engine: Engine
) -> None:
    url = urlsplit(settings.database_dsn)
    relay = Relay((url.hostname or "127.0.0.1", url.port or 5432))
    relayed = urlunsplit(
        url._replace(netloc=f"{url.username}:{url.password}@127.0.0.1:{relay.port}")
    )
    try:
        before = synthetic.produce(settings, settings.topic_prefix + "a", documents=300)
        processes.start("audit-sink", COMPLIANCE_DATABASE_URL=relayed)
        wait_for(
            lambda: recorded(engine, settings)[0] == len(before), 60, "first events", processes
        )

        relay.cut_off()
        during = synthetic.produce(settings, settings.topic_prefix + "b", documents=300)
        time.sleep(4)  # the sink consumes, prepares and fails to write: paused, retrying
        assert recorded(engine, settings)[0] == len(before)
        processes.assert_alive()

        relay.restore()
        total = len(before) + len(during)
        wait_for(lambda: recorded(engine, settings)[0] >= total, 90, "events after", processes)
        time.sleep(1)  # anything written twice would show now
        assert recorded(engine, settings) == (total, total)
        report = verify(engine, signing_key(settings), settings.topic_prefix)
        assert report.intact, [str(f) for f in report.findings]
        assert report.rows == total
        log = (LOG_DIR / f"{settings.topic_prefix}audit-sink.log").read_text()
        assert "pausing, retry" in log
        processes.assert_alive()
    finally:
        processes.stop_all()
        relay.close()
