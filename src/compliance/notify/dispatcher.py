"""Delivery of the outbox: one worker per route, each with its own HTTP client, its own bound
on notifications in flight and its own pauses, so a webhook that keeps failing never holds up
another route.

A worker claims due rows of its route (as many as it has free slots), opens each notice (in
memory only), posts it, and hands the outcome to the recorder, which writes every outcome that
has come in since its last write in one transaction: under load the writes group themselves,
when idle each outcome is written at once. That write is all that separates a webhook's 200
from the row marked delivered: a kill in between (a few milliseconds, one database round trip
plus the outcomes ahead of it) is the only way a notification is posted twice, once the lease
of the dead process's claims has run out (or at once, when the same instance restarts).

A 429 pauses the whole route until its ``Retry-After``; 5xx and silence back off per row;
retries run out after ``max_attempts`` or ``max_age_s``; a failed row is then recorded on
``notifications.failed``. Everything runs on one asyncio loop in a thread of its own; the
database and Kafka calls run in worker threads, so the loop never waits on them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import Counter

from compliance import metrics
from compliance.errors import RetryableError
from compliance.notify import delivery
from compliance.notify.backoff import next_wait_s
from compliance.notify.notice import Notice, open_notice
from compliance.notify.routes import Route, Routes
from compliance.notify.slack import slack_message
from compliance.notify.store import DELIVERED, FAILED, PENDING, Claimed, Outbox, Outcome
from compliance.notify.teams import teams_message
from compliance.sealing import Keyring

log = logging.getLogger(__name__)
OUTAGE_BACKOFF_S = (0.5, 10.0)  # first and longest wait while the database is away
GAUGE_INTERVAL_S = 5.0
FAILURES_INTERVAL_S = 5.0
STOP_GRACE_S = 15.0


def message_for(route: Route, notice: Notice) -> dict[str, Any]:
    return slack_message(notice) if route.config.kind == "slack" else teams_message(notice)


def decide(route: Routes, claimed: Claimed, attempt: delivery.Attempt, now: datetime) -> Outcome:
    """What an attempt means for its row: delivered, failed, or due again at a time."""
    config = route.delivery
    if attempt.verdict == "delivered":
        return Outcome(claimed.exception_event_id, claimed.route, DELIVERED, attempt.status, None)
    attempts = claimed.attempts + 1
    if attempt.verdict == "permanent":
        return Outcome(
            claimed.exception_event_id, claimed.route, FAILED, attempt.status, attempt.reason
        )
    wait_s = next_wait_s(
        attempts,
        attempt.retry_after_s,
        initial_s=config.backoff_initial_s,
        max_s=config.backoff_max_s,
        retry_after_max_s=config.retry_after_max_s,
    )
    retry_at = now + timedelta(seconds=wait_s)
    age_s = (retry_at - claimed.created_at).total_seconds()
    if attempts >= config.max_attempts or age_s > config.max_age_s:
        why = (
            f"{attempt.reason}; gave up after {attempts} attempt(s) over "
            f"{(now - claimed.created_at).total_seconds():.0f} s"
        )
        return Outcome(claimed.exception_event_id, claimed.route, FAILED, attempt.status, why)
    return Outcome(
        claimed.exception_event_id, claimed.route, PENDING, attempt.status, attempt.reason, retry_at
    )


@dataclass(frozen=True)
class RouteCounters:
    """A route's counters, looked up once (a label lookup per post costs a lock and a hash)."""

    sent: Counter
    failed: Counter
    retried: Counter

    @classmethod
    def of(cls, route: str) -> RouteCounters:
        return cls(
            metrics.notifications_sent.labels(route),
            metrics.notifications_failed.labels(route),
            metrics.notifications_retried.labels(route),
        )


class Dispatcher:
    """The delivery side of the notifier, in a thread of its own (``start``/``join``)."""

    def __init__(
        self,
        routes: Routes,
        outbox: Outbox,
        keyring: Keyring,
        owner: str,
        record_failures: Callable[[], int],
    ) -> None:
        self.routes = routes
        self.outbox = outbox
        self.keyring = keyring
        self.owner = owner
        self.record_failures = record_failures
        self.error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wakeups: dict[str, asyncio.Event] = {}
        self._outcomes: asyncio.Queue[Outcome] | None = None
        self._failures_due: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._bug: BaseException | None = None

    # --- from other threads ------------------------------------------------------------

    def start(self, stop: threading.Event) -> None:
        self._thread = threading.Thread(
            target=self._run, args=(stop,), name="notifier-delivery", daemon=True
        )
        self._thread.start()
        self._ready.wait(10)

    def wake(self, routes: set[str]) -> None:
        """New rows for ``routes``: their workers look at once instead of at their next poll."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        for name in routes:
            event = self._wakeups.get(name)
            if event is not None:
                loop.call_soon_threadsafe(event.set)

    def join(self, timeout_s: float) -> bool:
        if self._thread is None:
            return True
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    def _run(self, stop: threading.Event) -> None:
        try:
            asyncio.run(self._main(stop))
        except BaseException as exc:  # a bug: the process stops, nothing is marked
            log.critical("notifier: delivery stopped by %s", type(exc).__name__, exc_info=True)
            self.error = exc
            stop.set()

    # --- on the loop -----------------------------------------------------------------------

    async def _main(self, stop: threading.Event) -> None:
        self._loop = asyncio.get_running_loop()
        self._outcomes = asyncio.Queue()
        self._failures_due = asyncio.Event()
        self._wakeups = {r.name: asyncio.Event() for r in self.routes.routes}
        self._ready.set()
        stopping, workers_done = asyncio.Event(), asyncio.Event()
        workers = [asyncio.create_task(self._route_worker(r, stopping)) for r in self.routes.routes]
        recorder = asyncio.create_task(self._recorder(workers_done))
        chores = asyncio.create_task(self._chores(stopping))
        watched = [*workers, recorder, chores]
        while not stop.is_set():
            done = [t for t in watched if t.done()]
            if done:  # a task ended by itself: a bug; its error stops the process
                done[0].result()
                raise RuntimeError("a delivery task ended without an error")
            if self._bug is not None:
                raise self._bug
            await asyncio.sleep(0.1)
        stopping.set()
        for event in self._wakeups.values():
            event.set()
        if workers:
            await asyncio.wait(workers, timeout=self.routes.delivery.attempt_timeout_s + 5)
        workers_done.set()  # what they delivered is recorded before the loop ends
        await asyncio.wait([recorder], timeout=STOP_GRACE_S)
        chores.cancel()
        for task in watched:
            if task.done() and not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]

    async def _route_worker(self, route: Route, stopping: asyncio.Event) -> None:
        config = self.routes.delivery
        limit = config.in_flight_per_route
        batch = max(1, limit // 4)
        wakeup = self._wakeups[route.name]
        in_flight: set[asyncio.Task[None]] = set()
        paused_until = [0.0]  # monotonic; a 429 sets it
        outage = OUTAGE_BACKOFF_S[0]
        metric = metrics.notifications_in_flight.labels(route.name)
        counters = RouteCounters.of(route.name)

        def finished(task: asyncio.Task[None]) -> None:
            in_flight.discard(task)
            metric.set(len(in_flight))
            wakeup.set()
            if not task.cancelled() and task.exception() is not None and self._bug is None:
                self._bug = task.exception()  # a bug in a post: the process stops (``_main``)

        async with delivery.Clients(limit, config.attempt_timeout_s) as http:
            while not stopping.is_set():
                pause = paused_until[0] - time.monotonic()
                free = limit - len(in_flight)
                if pause > 0 or (free < batch and in_flight):
                    await _wait(wakeup, max(0.01, pause) if pause > 0 else config.poll_interval_s)
                    continue
                try:
                    claimed = await asyncio.to_thread(self._claim, route, free)
                except RetryableError as exc:
                    log.warning("notifier: route %s cannot claim (%s); retrying", route.name, exc)
                    await _sleep(stopping, outage)
                    outage = min(outage * 2, OUTAGE_BACKOFF_S[1])
                    continue
                outage = OUTAGE_BACKOFF_S[0]
                for row, notice in claimed:
                    posting = self._deliver(route, http, row, notice, paused_until, counters)
                    task = asyncio.create_task(posting)
                    in_flight.add(task)
                    task.add_done_callback(finished)
                metric.set(len(in_flight))
                if not claimed:
                    await _wait(wakeup, config.poll_interval_s)
            if in_flight:
                await asyncio.wait(in_flight, timeout=config.attempt_timeout_s + 1)

    def _claim(self, route: Route, limit: int) -> list[tuple[Claimed, Notice]]:
        """Claim due rows and open their notices (in this worker thread: the keys may have to
        be read from the database)."""
        lease = self.routes.delivery.claim_lease_s
        rows = self.outbox.claim(route.name, self.owner, limit, lease)
        if any(field["sealed"] for row in rows for field in row.notice["fields"]):
            self.keyring.prefetch({row.subject_id for row in rows})  # one query for them all
        return [(row, open_notice(row.notice, self.keyring)) for row in rows]

    async def _deliver(
        self,
        route: Route,
        http: delivery.Clients,
        row: Claimed,
        notice: Notice,
        paused_until: list[float],
        counters: RouteCounters,
    ) -> None:
        timeout = self.routes.delivery.attempt_timeout_s
        url = route.url.get_secret_value()
        try:
            async with asyncio.timeout(timeout):  # the whole attempt, connect to answer
                attempt = await delivery.post(
                    http, url, delivery.encode(message_for(route, notice))
                )
        except TimeoutError:
            attempt = delivery.Attempt("retry", None, f"no answer within {timeout:g} s")
        outcome = decide(self.routes, row, attempt, datetime.now(UTC))
        if attempt.retry_after_s is not None:
            until = time.monotonic() + min(
                attempt.retry_after_s, self.routes.delivery.retry_after_max_s
            )
            paused_until[0] = max(paused_until[0], until)
        if outcome.status == DELIVERED:
            counters.sent.inc()
        elif outcome.status == FAILED:
            counters.failed.inc()
        else:
            counters.retried.inc()
            log.info(
                "notifier: route %s, exception %s: %s; trying again at %s",
                route.name,
                row.exception_event_id,
                attempt.reason,
                outcome.retry_at.isoformat(timespec="seconds") if outcome.retry_at else "?",
            )
        assert self._outcomes is not None
        self._outcomes.put_nowait(outcome)

    async def _recorder(self, workers_done: asyncio.Event) -> None:
        """Writes the outcomes: everything that came in since the last write, at once. While
        the database is away they wait here (and the claims they hold run out). Ends once
        the workers have and everything they handed over is written."""
        assert self._outcomes is not None and self._failures_due is not None
        queue = self._outcomes
        outage = OUTAGE_BACKOFF_S[0]
        pending: list[Outcome] = []
        while not (workers_done.is_set() and queue.empty() and not pending):
            if not pending:
                try:
                    pending.append(await asyncio.wait_for(queue.get(), 0.2))
                except TimeoutError:
                    continue
            while not queue.empty():
                pending.append(queue.get_nowait())
            try:
                await asyncio.to_thread(self.outbox.record, self.owner, pending)
            except RetryableError as exc:
                log.warning("notifier: outcomes not recorded yet (%s); retrying", exc)
                await asyncio.sleep(outage)
                outage = min(outage * 2, OUTAGE_BACKOFF_S[1])
                continue
            outage = OUTAGE_BACKOFF_S[0]
            if any(o.status == FAILED for o in pending):
                self._failures_due.set()
            pending = []

    async def _chores(self, stopping: asyncio.Event) -> None:
        """Records failed rows on notifications.failed (when told and every few seconds: rows
        a previous run left), keeps the pending gauge, and prunes delivered rows past their
        retention (at start and every ``prune_interval_s``)."""
        assert self._failures_due is not None
        config = self.routes.delivery
        last_gauge = 0.0
        last_prune: float | None = None
        while not stopping.is_set():
            try:
                await asyncio.to_thread(self.record_failures)
                if time.monotonic() - last_gauge >= GAUGE_INTERVAL_S:
                    pending = await asyncio.to_thread(self.outbox.pending_by_route)
                    for route in self.routes.routes:
                        metrics.notifications_pending.labels(route.name).set(
                            pending.get(route.name, 0)
                        )
                    last_gauge = time.monotonic()
                if last_prune is None or time.monotonic() - last_prune >= config.prune_interval_s:
                    retention_s = config.delivered_retention_days * 86400
                    pruned = await asyncio.to_thread(self.outbox.prune_delivered, retention_s)
                    last_prune = time.monotonic()
                    if pruned:
                        log.info("notifier: %d delivered notification(s) pruned", pruned)
            except RetryableError as exc:
                log.warning("notifier: %s; trying again", exc)
            await _wait(self._failures_due, FAILURES_INTERVAL_S)


async def _sleep(stopping: asyncio.Event, timeout_s: float) -> None:
    """``timeout_s``, or less when ``stopping`` is set (which stays set)."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopping.wait(), timeout_s)


async def _wait(event: asyncio.Event, timeout_s: float) -> None:
    """Until ``event`` is set or ``timeout_s`` has passed; the event is cleared."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), timeout_s)
    event.clear()
