"""A concurrent batch that fails leaves nothing running: records not started are cancelled as
soon as one fails (even behind a slow call), and the ones running finish before the error
reaches the retry loop.

Fixtures: ``arrivals``, a batch of forty arrival records (customers C-0 to C-39, so a stage
tells them apart), and ``four_workers``, which makes a runner of a stage with four workers
(its pool shut down after the test)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from compliance.codec import Record, registry
from compliance.config import Settings
from compliance.errors import RetryableError
from compliance.publisher import arrival_event
from compliance.runner import Outgoing, Stage, TransactionalRunner

from .conftest import SAMPLES
from .runner_fakes import FakeMessage

BATCH = 40
WORKERS = 4


@pytest.fixture
def arrivals() -> list[FakeMessage]:
    batch = []
    for offset in range(BATCH):
        arrival = arrival_event(
            SAMPLES / "passport_halvorsen.txt", source_system="t", customer_id=f"C-{offset}"
        )
        value = registry().encode("DocumentArrived", arrival)
        batch.append(FakeMessage("documents.arrived", 0, offset, value, b"k"))
    return batch


@pytest.fixture
def four_workers(clean_env: Any) -> Iterator[Callable[[Stage], TransactionalRunner]]:
    made: list[TransactionalRunner] = []

    def runner_of(stage: Stage) -> TransactionalRunner:
        runner = TransactionalRunner(
            "test",
            Settings(document_roots=[SAMPLES]),
            ["documents.arrived"],
            stage,
            concurrency=WORKERS,
        )
        made.append(runner)
        return runner

    yield runner_of
    for runner in made:
        if runner._pool is not None:
            runner._pool.shutdown(wait=False, cancel_futures=True)


class OutageBehindASlowCall:
    """The first record is a slow call; the eleventh finds the service down at once; the
    rest are quick. A failure must stop the batch without waiting for the slow call first."""

    def __init__(self) -> None:
        self.started: list[int] = []
        self.running = 0
        self.lock = threading.Lock()

    def __call__(self, event_type: str, record: Record) -> list[Outgoing]:
        index = int(record["customer_id"].removeprefix("C-"))
        with self.lock:
            self.started.append(index)
            self.running += 1
        try:
            if index == FAILING:
                raise RetryableError("service unavailable")
            time.sleep(1.5 if index == 0 else 0.05)
            return []
        finally:
            with self.lock:
                self.running -= 1


FAILING = 10


def test_a_failed_concurrent_batch_cancels_what_has_not_started_and_waits_for_the_rest(
    arrivals: list[FakeMessage], four_workers: Callable[[Stage], TransactionalRunner]
) -> None:
    stage = OutageBehindASlowCall()
    runner = four_workers(stage)

    with pytest.raises(RetryableError):
        runner._outputs_of_batch(arrivals)  # type: ignore[arg-type]
    assert stage.running == 0  # nothing of the failed batch is still calling out
    started = len(stage.started)
    # The pool's queue is first in, first out: once tasks queued after the batch have run,
    # every record of the batch has been started or cancelled; none may start afterwards.
    for marker in [runner._pool.submit(lambda: None) for _ in range(WORKERS)]:  # type: ignore[union-attr]
        marker.result(timeout=30)
    assert len(stage.started) == started
    # Cancelled as soon as the eleventh failed, not once the slow first call was done (by
    # then the three other threads would have run the whole batch, 40 records).
    assert started < 20, started


class CountingCalls:
    """Records each record it is called with and how many calls run at once."""

    def __init__(self) -> None:
        self.seen: list[int] = []
        self.running = 0
        self.most_at_once = 0
        self.lock = threading.Lock()

    def __call__(self, event_type: str, record: Record) -> list[Outgoing]:
        index = int(record["customer_id"].removeprefix("C-"))
        with self.lock:
            self.seen.append(index)
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        time.sleep(0.002)
        with self.lock:
            self.running -= 1
        return [Outgoing("documents.classified", "DocumentArrived", record)]


def test_a_concurrent_batch_runs_each_record_once_in_as_many_tasks_as_workers(
    arrivals: list[FakeMessage], four_workers: Callable[[Stage], TransactionalRunner]
) -> None:
    stage = CountingCalls()
    runner = four_workers(stage)
    submitted = []
    pool_submit = runner._pool.submit  # type: ignore[union-attr]
    runner._pool.submit = lambda *a, **k: submitted.append(a) or pool_submit(*a, **k)  # type: ignore[union-attr, method-assign]

    outputs = runner._outputs_of_batch(arrivals)  # type: ignore[arg-type]

    assert sorted(stage.seen) == list(range(BATCH))  # every record once
    assert [out.record["customer_id"] for out in outputs] == [f"C-{i}" for i in range(BATCH)]
    assert 1 < stage.most_at_once <= WORKERS
    # One task per worker, not one per record: a quick stage would pay more for its task
    # and future than for its own work.
    assert len(submitted) == WORKERS
