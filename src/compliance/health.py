"""Liveness and readiness of a processor, and the HTTP endpoint serving them with the
metrics: ``/metrics`` (Prometheus text), ``/healthz`` and ``/readyz``.

- ``/healthz`` answers 200 while the process's main loop has polled Kafka within
  COMPLIANCE_LIVENESS_TIMEOUT_S (a loop stuck in a call, or a process whose loop ended,
  answers 503: its supervisor restarts it);
- ``/readyz`` answers 200 when the process is alive, its Kafka client sees a broker up,
  partitions are assigned to it, it is not paused (waiting out an outage), and each
  dependency it registered (the database) answers; else 503 naming what is missing.

A process whose main loop is not a Kafka consumer (a web application, a scheduler) calls
``state.without_kafka_consumer()`` once and ``state.tick()`` from its loop: it is then ready
without partitions (its registered checks still count).

The main loop reports to one ``Readiness`` per process (``state``): ``polled`` every loop,
``paused`` around an outage, and the Kafka client's statistics (``KafkaStatistics``, a
callback librdkafka calls from within ``poll`` every COMPLIANCE_METRICS_STATS_INTERVAL_MS)
give the partitions assigned, whether a broker is up and the consumer lag per partition;
nothing of this runs per record.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from compliance import metrics

log = logging.getLogger(__name__)
# A dependency check's answer is reused this long, so a probe every second costs one query
# every few seconds.
CHECK_CACHE_S = 5.0


@dataclass
class _Check:
    call: Callable[[], bool]
    checked_at: float = -1e18
    ok: bool = False


@dataclass
class Readiness:
    """What the probes answer from; updated by the main loop, read by the HTTP threads."""

    liveness_timeout_s: float = 330.0
    processor: str = ""
    clock: Callable[[], float] = time.monotonic
    started: bool = False
    last_poll: float | None = None
    assigned: int = 0
    kafka_up: bool | None = None  # None: no statistics yet (then assignment vouches for it)
    paused: bool = False
    stopping: bool = False
    consumes_kafka: bool = True
    checks: dict[str, _Check] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self, processor: str, liveness_timeout_s: float) -> None:
        with self._lock:
            self.processor = processor
            self.liveness_timeout_s = liveness_timeout_s
            self.started = True
        # Asked when Prometheus scrapes (on the HTTP thread), not on the main loop.
        metrics.ready.labels(processor).set_function(lambda: 1.0 if self.ready()[0] else 0.0)

    def polled(self) -> None:
        """The main loop went round (called once per poll: a monotonic read and a store)."""
        self.last_poll = self.clock()

    # A process whose main loop is not a Kafka consumer (the review application, the
    # scheduler) says so once, and ticks its own loop: it is ready without partitions.
    tick = polled

    def without_kafka_consumer(self) -> None:
        self.consumes_kafka = False

    def set_assigned(self, partitions: int) -> None:
        self.assigned = partitions
        if self.processor:
            metrics.partitions_assigned.labels(self.processor).set(partitions)

    def set_paused(self, paused: bool) -> None:
        self.paused = paused

    def set_kafka_up(self, up: bool) -> None:
        self.kafka_up = up

    def set_stopping(self) -> None:
        self.stopping = True

    def add_check(self, name: str, call: Callable[[], bool]) -> None:
        """A dependency /readyz asks (at most every ``CHECK_CACHE_S``); ``call`` answers
        whether it is reachable, within its own bound."""
        with self._lock:
            self.checks[name] = _Check(call)

    def alive(self) -> tuple[bool, str]:
        if not self.started:
            return False, "the processor has not started"
        if self.last_poll is None:
            return True, "starting"  # joining the group, or reading what it needs first
        idle = self.clock() - self.last_poll
        if idle > self.liveness_timeout_s:
            return False, f"the main loop has not polled Kafka for {idle:.0f} s"
        return True, "ok"

    def ready(self) -> tuple[bool, list[str]]:
        missing: list[str] = []
        alive, why = self.alive()
        if not alive:
            missing.append(why)
        if self.stopping:
            missing.append("stopping")
        if self.last_poll is None:
            missing.append("not polling Kafka yet" if self.consumes_kafka else "not started yet")
        if self.kafka_up is False:
            missing.append("no Kafka broker is up")
        if self.assigned == 0 and self.consumes_kafka:
            missing.append("no partitions assigned")
        if self.paused:
            missing.append("paused while a dependency is down")
        missing += [f"{name} unreachable" for name in self._failing_checks()]
        return not missing, missing

    def _failing_checks(self) -> list[str]:
        failing = []
        with self._lock:
            checks = list(self.checks.items())
        for name, check in checks:
            now = self.clock()
            if now - check.checked_at >= CHECK_CACHE_S:
                try:
                    check.ok = bool(check.call())
                except Exception as exc:  # a probe reports, it never raises
                    log.info("readiness check %s failed: %s", name, type(exc).__name__)
                    check.ok = False
                check.checked_at = now
            if not check.ok:
                failing.append(name)
        return failing


state = Readiness()


class KafkaStatistics:
    """librdkafka's ``stats_cb``: from the client's statistics JSON, the consumer lag per
    partition (last stable offset minus the position; the committed offset or the log start
    before the first fetch), the partitions assigned (fetch state active) and whether a
    broker is up. librdkafka calls it from ``poll``/``consume`` on the main loop's thread,
    every ``statistics.interval.ms``."""

    def __init__(self, processor: str, readiness: Readiness | None = None) -> None:
        self.processor = processor
        self.readiness = readiness or state
        self._lagging: set[tuple[str, str]] = set()

    def config(self, interval_ms: int) -> dict[str, Any]:
        """The client settings that make librdkafka call this (none when disabled)."""
        if interval_ms <= 0 or not metrics.enabled():
            return {}
        return {"statistics.interval.ms": interval_ms, "stats_cb": self}

    def __call__(self, stats_json: str) -> None:
        try:
            self.read(json.loads(stats_json))
        except (ValueError, KeyError, TypeError) as exc:  # never let a report stop the loop
            log.info("unreadable Kafka client statistics: %s", exc)

    def read(self, stats: dict[str, Any]) -> None:
        self.readiness.polled()  # called from within poll: the main loop is going round
        metrics.last_poll.labels(self.processor).set_to_current_time()
        brokers = [b for b in stats.get("brokers", {}).values() if b.get("nodeid", -1) >= 0]
        if brokers:
            self.readiness.set_kafka_up(any(b.get("state") == "UP" for b in brokers))
        seen: set[tuple[str, str]] = set()
        for topic, about in stats.get("topics", {}).items():
            for number, partition in about.get("partitions", {}).items():
                if number == "-1" or partition.get("fetch_state") != "active":
                    continue
                seen.add((topic, number))
                lag = partition_lag(partition)
                if lag is not None:
                    metrics.consumer_lag.labels(self.processor, topic, number).set(lag)
        for topic, number in self._lagging - seen:  # revoked: no stale lag left behind
            with contextlib.suppress(KeyError):
                metrics.consumer_lag.remove(self.processor, topic, number)
        self._lagging = seen
        self.readiness.set_assigned(len(seen))


def partition_lag(partition: dict[str, Any]) -> int | None:
    """Records not yet read on one partition of librdkafka's statistics, or None when its
    end is not known yet. The end is the last stable offset (we read committed records only;
    transaction markers are skipped by the position as they are by the end)."""
    end = partition.get("ls_offset", -1)
    if end < 0:
        end = partition.get("hi_offset", -1)
    if end < 0:
        return None
    for start in ("app_offset", "committed_offset", "lo_offset"):
        offset = int(partition.get(start, -1))
        if offset >= 0:
            return max(0, int(end) - offset)
    return None


class _Handler(BaseHTTPRequestHandler):
    readiness: Readiness = state

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            self._answer(200, generate_latest(REGISTRY), CONTENT_TYPE_LATEST)
        elif path == "/healthz":
            alive, why = self.readiness.alive()
            self._answer(200 if alive else 503, (why + "\n").encode())
        elif path == "/readyz":
            ok, missing = self.readiness.ready()
            body = "ready\n" if ok else "not ready: " + "; ".join(missing) + "\n"
            self._answer(200 if ok else 503, body.encode())
        else:
            self._answer(404, b"not found: /metrics, /healthz, /readyz\n")

    def _answer(self, status: int, body: bytes, content_type: str = "text/plain") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # a probe every few seconds is noise in the log


def serve(host: str, port: int, readiness: Readiness | None = None) -> ThreadingHTTPServer:
    """Serve /metrics, /healthz and /readyz on ``host:port`` from a daemon thread."""
    handler = type("Handler", (_Handler,), {"readiness": readiness or state})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="metrics-http", daemon=True).start()
    log.info("metrics and probes on http://%s:%d/metrics, /healthz, /readyz", host, port)
    return server


def database_check(engine: Any) -> Callable[[], bool]:
    """A readiness check that the database answers ``SELECT 1`` (the engine's connect
    timeout bounds it)."""
    from sqlalchemy import text

    def check() -> bool:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return True

    return check
