"""Decision times stay ordered when a partition moves between processes: the last time of a
partition travels with its committed offsets, and a new owner dates nothing before it, even
when its own clock is behind."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from compliance.codec import registry
from compliance.config import Settings
from compliance.input_order_clock import InputOrderClock, clock_metadata, clock_of_metadata
from compliance.publisher import arrival_event
from compliance.runner import Outgoing, TransactionalRunner

from .conftest import SAMPLES
from .runner_fakes import FakeConsumer, FakeMessage, FakeProducer

MS = timedelta(milliseconds=1)
PREVIOUS_OWNER_LAST = datetime(2026, 11, 3, 9, 0, 5, 250_000, tzinfo=UTC)
BEHIND = datetime(2026, 11, 3, 9, 0, 0, tzinfo=UTC)  # the new owner's clock: 5 s behind


def test_the_last_time_round_trips_through_offset_metadata_to_the_millisecond() -> None:
    assert clock_of_metadata(clock_metadata(PREVIOUS_OWNER_LAST)) == PREVIOUS_OWNER_LAST
    assert clock_metadata(None) is None
    for foreign in (None, "", "something else", "occurred_at_ms=x"):
        assert clock_of_metadata(foreign) is None


def test_a_new_owner_with_a_clock_behind_dates_after_the_previous_owners_last_decision() -> None:
    clock = InputOrderClock(lambda: BEHIND)
    msg: Any = FakeMessage("t", 0, 1, b"", b"")
    assert clock.unknown([msg]) == [("t", 0)]
    clock.floor(("t", 0), PREVIOUS_OWNER_LAST)
    assert clock.unknown([msg]) == []
    assert clock.stamps([msg, msg]) == [PREVIOUS_OWNER_LAST + MS, PREVIOUS_OWNER_LAST + 2 * MS]


def test_a_partition_given_away_is_read_again_when_it_comes_back() -> None:
    clock = InputOrderClock(lambda: BEHIND)
    msg: Any = FakeMessage("t", 0, 1, b"", b"")
    clock.floor(("t", 0), None)
    clock.stamps([msg])
    clock.forget([("t", 0)])
    assert clock.unknown([msg]) == [("t", 0)]


def _arrivals(partition: int, offsets: range) -> list[Any]:
    arrival = arrival_event(SAMPLES / "passport_halvorsen.txt", source_system="t")
    value = registry().encode("DocumentArrived", arrival)
    return [FakeMessage("documents.arrived", partition, o, value, b"k") for o in offsets]


def test_the_runner_reads_the_floor_before_dating_and_commits_its_last_time_with_the_offsets(
    settings: Settings,
) -> None:
    def echo(event_type: str, record: Any) -> list[Outgoing]:
        return [Outgoing("documents.arrived", event_type, record)]

    runner: Any = TransactionalRunner(
        "test", settings, ["documents.arrived"], echo, stamp_in_input_order=True
    )
    runner.clock = InputOrderClock(lambda: BEHIND)
    consumer = FakeConsumer({("documents.arrived", 3): (40, clock_metadata(PREVIOUS_OWNER_LAST))})
    producer = FakeProducer()
    stopped = threading.Event()
    stopped.set()
    runner._process_or_rewind(consumer, producer, _arrivals(3, range(40, 43)), stopped)

    times = [registry().decode(v)[1]["envelope"]["occurred_at"] for v in producer.produced]
    assert times == [PREVIOUS_OWNER_LAST + n * MS for n in (1, 2, 3)]
    [offset] = producer.offsets
    assert (offset.partition, offset.offset) == (3, 43)
    assert clock_of_metadata(offset.metadata) == PREVIOUS_OWNER_LAST + 3 * MS

    runner._process_or_rewind(consumer, producer, _arrivals(3, range(43, 44)), stopped)
    assert consumer.committed_asked == [("documents.arrived", 3)]  # read once, while ours
