"""The screener's edge guard: what each kind of error raised by the stage leads to."""

from __future__ import annotations

import logging
import threading

import pytest

from compliance.config import Settings
from compliance.errors import DeadLetterRateExceeded, PoisonMessage, RetryableError, StageFailed
from compliance.transactions.guard import (
    EdgeGuard,
    InfrastructureDown,
    StoppedWhileWaiting,
    wait_bound_s,
)

SECRET = "Erika Mustermann, DE89370400440532013000"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class TickingStop(threading.Event):
    """A stop event whose waits advance the test clock instead of sleeping."""

    def __init__(self, clock: Clock) -> None:
        super().__init__()
        self.clock = clock
        self.waits: list[float] = []

    def wait(self, timeout: float | None = None) -> bool:
        assert timeout is not None
        self.waits.append(timeout)
        self.clock.now += timeout
        return self.is_set()


def guard(settings: Settings, **overrides: object) -> tuple[EdgeGuard, TickingStop]:
    clock = Clock()
    stop = TickingStop(clock)
    return EdgeGuard(
        "transaction-screener",
        settings.model_copy(update=overrides),
        stop,
        wait_bound=30.0,
        monotonic=clock,
    ), stop


def test_a_database_outage_makes_the_record_wait_and_it_is_screened_when_the_database_is_back(
    settings: Settings,
) -> None:
    edge, stop = guard(settings)
    calls = []

    def stage() -> str:
        calls.append(1)
        if len(calls) < 4:
            raise RetryableError("the screening database unavailable: OperationalError")
        return "screened"

    assert edge.waiting_out_outages("transactions.submitted[0]@7", stage) == "screened"
    assert len(calls) == 4
    assert stop.waits == [0.5, 1.0, 2.0]  # backing off, never dead-lettered


def test_an_outage_longer_than_the_bound_stops_as_infrastructure_not_as_a_bug(
    settings: Settings,
) -> None:
    edge, stop = guard(settings)

    def stage() -> str:
        raise RetryableError("the screening database unavailable: OperationalError")

    with pytest.raises(InfrastructureDown, match="screening database unavailable"):
        edge.waiting_out_outages("transactions.submitted[0]@7", stage)
    assert sum(stop.waits) <= 30.0
    assert len(stop.waits) >= 4


def test_a_stop_request_ends_the_wait_without_screening_the_record(settings: Settings) -> None:
    edge, stop = guard(settings)
    stop.set()

    def stage() -> str:
        raise RetryableError("the screening database unavailable")

    with pytest.raises(StoppedWhileWaiting):
        edge.waiting_out_outages("transactions.submitted[0]@7", stage)
    assert stop.waits == [0.5]


def test_content_errors_and_bugs_are_not_retried(settings: Settings) -> None:
    edge, stop = guard(settings)
    for error in (PoisonMessage("not our Avro"), ZeroDivisionError("x")):

        def stage(error: Exception = error) -> str:
            raise error

        with pytest.raises(type(error)):
            edge.waiting_out_outages("transactions.submitted[0]@7", stage)
    assert stop.waits == []


def test_a_bug_is_logged_with_its_type_record_and_origin_but_never_its_message(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    edge, _ = guard(settings)
    try:
        raise ValueError(f"cannot convert the amount of {SECRET}")
    except ValueError as exc:
        with caplog.at_level(logging.DEBUG):
            stopping = edge.stopping("transactions.submitted[2]@41", exc)
    assert isinstance(stopping, StageFailed)
    assert SECRET not in str(stopping)
    assert SECRET not in caplog.text
    [line] = caplog.records
    text = line.getMessage()
    assert "ValueError" in text
    assert "transactions.submitted[2]@41" in text
    assert "test_screener_edge_guard.py:" in text


def test_the_dead_letter_breaker_stops_the_screener_past_the_limit(settings: Settings) -> None:
    edge, _ = guard(settings, dead_letter_limit=3, dead_letter_window_s=60.0)
    for offset in range(3):
        edge.dead_letter_allowed(f"transactions.submitted[0]@{offset}", "x.dlq")
    with pytest.raises(DeadLetterRateExceeded):
        edge.dead_letter_allowed("transactions.submitted[0]@3", "x.dlq")


def test_a_record_waits_at_most_half_the_kafka_transaction_timeout_and_never_over_a_minute(
    settings: Settings,
) -> None:
    assert wait_bound_s(settings.model_copy(update={"transaction_timeout_ms": 15_000})) == 7.5
    assert wait_bound_s(settings.model_copy(update={"transaction_timeout_ms": 300_000})) == 60.0


class _FailingOnTheWayOut:
    """Quix's application as the dead-letter breaker leaves it on a loaded broker: dead
    letters come until the guard stops the screener, and then aborting the transaction on
    the way out fails too."""

    def __init__(self, guard: EdgeGuard) -> None:
        self.guard = guard

    def run(self) -> None:
        from confluent_kafka import KafkaError, KafkaException

        with pytest.raises(DeadLetterRateExceeded):
            for offset in range(10_000):
                self.guard.dead_letter_allowed(f"t[0]@{offset}", "t.dlq")
        raise KafkaException(KafkaError(KafkaError._STATE, "invalid transaction state"))

    def stop(self) -> None:
        pass


def test_the_reason_the_guard_stopped_the_screener_is_its_exit_even_if_the_way_out_fails(
    settings: Settings,
) -> None:
    from compliance.transactions.stream import ScreenerApp
    from compliance.watchdog import Watchdog

    app = ScreenerApp.__new__(ScreenerApp)
    app.name = "transaction-screener"
    app.guard = EdgeGuard(app.name, settings, threading.Event())
    app.watchdog = Watchdog(app.name)
    app.input_name = "transactions.submitted"
    app.app = _FailingOnTheWayOut(app.guard)  # type: ignore[assignment]
    stop = threading.Event()
    with pytest.raises(DeadLetterRateExceeded):
        app.run(stop)
    stop.set()
