"""The screener's edge guard: what each kind of error raised by the stage leads to."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

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
        if timeout is None:  # the screener's threads that wait for the stop itself
            return super().wait()
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


class _QuixApp:
    """Quix's application as the guard leaves it: ``run`` calls the stage (which the guard
    stops), then Quix's way out either succeeds (the guard's error propagates) or fails
    too, as aborting the transaction did on a loaded broker (INVALID_TXN_STATE)."""

    def __init__(self, stage: Callable[[], None], way_out_fails: bool) -> None:
        self.stage = stage
        self.way_out_fails = way_out_fails

    def run(self) -> None:
        from confluent_kafka import KafkaError, KafkaException

        try:
            self.stage()
        except Exception:
            if self.way_out_fails:
                raise KafkaException(
                    KafkaError(KafkaError._STATE, "invalid transaction state")
                ) from None
            raise

    def stop(self) -> None:
        pass


def _screener_app(settings: Settings, edge: EdgeGuard, app: _QuixApp) -> object:
    from compliance.transactions.stream import ScreenerApp
    from compliance.watchdog import Watchdog

    screener = ScreenerApp.__new__(ScreenerApp)
    screener.name = "transaction-screener"
    screener.guard = edge
    screener.watchdog = Watchdog(screener.name)
    screener.input_name = "transactions.submitted"
    screener.app = app  # type: ignore[assignment]
    return screener


def _too_many_dead_letters(edge: EdgeGuard) -> Callable[[], None]:
    def stage() -> None:
        for offset in range(10_000):
            edge.dead_letter_allowed(f"t[0]@{offset}", "t.dlq")

    return stage


def _database_down(edge: EdgeGuard) -> Callable[[], None]:
    def stage() -> None:
        def lookup() -> None:
            raise RetryableError("postgres down")

        edge.waiting_out_outages("t[0]@0", lookup)

    return stage


@pytest.mark.parametrize("way_out_fails", [False, True])
def test_the_reason_the_guard_stopped_the_screener_is_its_exit_even_if_the_way_out_fails(
    settings: Settings, way_out_fails: bool, caplog: pytest.LogCaptureFixture
) -> None:
    edge, stop = guard(settings)
    app = _QuixApp(_too_many_dead_letters(edge), way_out_fails)
    with caplog.at_level(logging.WARNING), pytest.raises(DeadLetterRateExceeded):
        _screener_app(settings, edge, app).run(stop)  # type: ignore[attr-defined]
    stop.set()
    # the way out is said to have failed only when it did
    assert ("the way out after the stop failed too" in caplog.text) is way_out_fails


def test_an_outage_that_outlasts_the_wait_exits_as_an_outage_even_if_the_way_out_fails(
    settings: Settings,
) -> None:
    from compliance.transactions.stream import EXIT_INFRASTRUCTURE

    edge, stop = guard(settings)
    app = _QuixApp(_database_down(edge), way_out_fails=True)
    with pytest.raises(SystemExit) as exited:
        _screener_app(settings, edge, app).run(stop)  # type: ignore[attr-defined]
    stop.set()
    assert exited.value.code == EXIT_INFRASTRUCTURE
