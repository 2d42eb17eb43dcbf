"""The probes' logic: /healthz follows the main loop's polls, /readyz wants a broker up,
partitions assigned, no pause and every registered dependency; the Kafka client's statistics
give the lag per partition and the assignment; the HTTP endpoint serves all three."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from compliance import health, metrics


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def readiness(clock: Clock) -> health.Readiness:
    state = health.Readiness(clock=clock)
    state.start("probe-test", liveness_timeout_s=60)
    return state


def serving(state: health.Readiness) -> health.Readiness:
    state.polled()
    state.set_kafka_up(True)
    state.set_assigned(3)
    return state


def test_a_process_not_started_is_not_alive() -> None:
    assert health.Readiness().alive() == (False, "the processor has not started")


def test_alive_while_the_loop_polls_and_dead_once_it_stops_polling(
    readiness: health.Readiness, clock: Clock
) -> None:
    assert readiness.alive()[0]  # starting: joining its group
    readiness.polled()
    clock.now += 59
    assert readiness.alive() == (True, "ok")
    clock.now += 2
    alive, why = readiness.alive()
    assert not alive
    assert "has not polled Kafka for 61 s" in why


def test_ready_only_with_a_broker_up_partitions_assigned_and_not_paused(
    readiness: health.Readiness,
) -> None:
    ok, missing = readiness.ready()
    assert not ok
    assert "not polling Kafka yet" in missing
    assert "no partitions assigned" in missing
    serving(readiness)
    assert readiness.ready() == (True, [])
    readiness.set_paused(True)
    assert readiness.ready() == (False, ["paused while a dependency is down"])
    readiness.set_paused(False)
    readiness.set_kafka_up(False)
    assert readiness.ready() == (False, ["no Kafka broker is up"])
    readiness.set_kafka_up(True)
    readiness.set_assigned(0)
    assert readiness.ready() == (False, ["no partitions assigned"])


def test_not_ready_when_stopping_or_when_the_loop_is_stuck(
    readiness: health.Readiness, clock: Clock
) -> None:
    serving(readiness)
    clock.now += 61
    ok, missing = readiness.ready()
    assert not ok and any("has not polled" in m for m in missing)
    readiness.polled()
    readiness.set_stopping()
    assert readiness.ready() == (False, ["stopping"])


def test_a_dependency_check_is_asked_at_most_every_few_seconds_and_may_fail_by_raising(
    readiness: health.Readiness, clock: Clock
) -> None:
    serving(readiness)
    answers = iter([True, False])
    calls = []

    def database() -> bool:
        calls.append(clock.now)
        try:
            return next(answers)
        except StopIteration:
            raise ConnectionError("refused") from None

    readiness.add_check("database", database)
    assert readiness.ready() == (True, [])
    clock.now += 1
    assert readiness.ready() == (True, [])  # the cached answer
    clock.now += health.CHECK_CACHE_S
    assert readiness.ready() == (False, ["database unreachable"])
    clock.now += health.CHECK_CACHE_S
    assert readiness.ready() == (False, ["database unreachable"])  # raised: unreachable
    assert len(calls) == 3


def partition(**offsets: Any) -> dict[str, Any]:
    defaults = {
        "fetch_state": "active",
        "hi_offset": -1001,
        "ls_offset": -1001,
        "lo_offset": -1001,
        "app_offset": -1001,
        "committed_offset": -1001,
    }
    return defaults | offsets


def stats(partitions: dict[str, dict[str, Any]], broker_state: str = "UP") -> str:
    return json.dumps(
        {
            "brokers": {
                "127.0.0.1:9092/1": {"nodeid": 1, "state": broker_state},
                "GroupCoordinator": {"nodeid": -1, "state": "UP"},
            },
            "topics": {"t.documents.classified": {"partitions": partitions}},
        }
    )


def lag(processor: str) -> dict[str, float]:
    family = next(
        f
        for f in text_string_to_metric_families(metrics_text())
        if f.name == "compliance_consumer_lag"
    )
    return {
        s.labels["partition"]: s.value for s in family.samples if s.labels["processor"] == processor
    }


def metrics_text() -> str:
    from prometheus_client import REGISTRY, generate_latest

    return generate_latest(REGISTRY).decode()


def test_lag_is_the_last_stable_offset_minus_the_position_per_assigned_partition(
    readiness: health.Readiness,
) -> None:
    statistics = health.KafkaStatistics("lag-test", readiness)
    statistics(
        stats(
            {
                "-1": partition(),  # librdkafka's unassigned-messages partition
                "0": partition(ls_offset=120, hi_offset=125, app_offset=100),
                "1": partition(ls_offset=50, lo_offset=0),  # nothing read or committed yet
                "2": partition(ls_offset=80, committed_offset=80),
                "3": partition(fetch_state="none", ls_offset=9, app_offset=0),  # not ours
            }
        )
    )
    assert lag("lag-test") == {"0": 20.0, "1": 50.0, "2": 0.0}
    assert readiness.assigned == 3
    assert readiness.kafka_up is True
    assert readiness.last_poll is not None  # called from within poll


def test_a_revoked_partition_leaves_no_stale_lag_and_a_broker_down_is_seen(
    readiness: health.Readiness,
) -> None:
    statistics = health.KafkaStatistics("revoke-test", readiness)
    statistics(stats({"0": partition(ls_offset=10, app_offset=5), "1": partition(ls_offset=3)}))
    assert set(lag("revoke-test")) == {"0"}  # partition 1's end known, its start not yet
    statistics(stats({"1": partition(ls_offset=3, lo_offset=0)}, broker_state="DOWN"))
    assert lag("revoke-test") == {"1": 3.0}
    assert readiness.assigned == 1
    assert readiness.kafka_up is False


def test_statistics_are_asked_for_only_when_metrics_are_on() -> None:
    statistics = health.KafkaStatistics("config-test")
    assert statistics.config(500) == {"statistics.interval.ms": 500, "stats_cb": statistics}
    assert statistics.config(0) == {}
    metrics.set_enabled(False)
    try:
        assert statistics.config(500) == {}
        assert metrics.bind(metrics.processed, "config-test") is metrics.NOTHING
    finally:
        metrics.set_enabled(True)


def test_unreadable_statistics_are_ignored(readiness: health.Readiness) -> None:
    health.KafkaStatistics("bad-stats", readiness)("{not json")
    assert readiness.assigned == 0


@pytest.fixture
def endpoint(readiness: health.Readiness) -> Iterator[str]:
    server = health.serve("127.0.0.1", 0, readiness)
    host, port = server.server_address[:2]
    yield f"http://{host!s}:{port}"
    server.shutdown()
    server.server_close()


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_the_endpoint_serves_metrics_and_both_probes(
    endpoint: str, readiness: health.Readiness
) -> None:
    metrics.bind(metrics.records_in, "endpoint-test", "t.in").inc(7)
    status, text = get(endpoint + "/metrics")
    assert status == 200
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    key = (
        "compliance_records_in_total",
        (("processor", "endpoint-test"), ("topic", "t.in")),
    )
    assert samples[key] == 7
    assert get(endpoint + "/healthz") == (200, "starting\n")
    status, body = get(endpoint + "/readyz")
    assert status == 503 and "no partitions assigned" in body
    serving(readiness)
    assert get(endpoint + "/readyz") == (200, "ready\n")
    assert get(endpoint + "/nothing")[0] == 404


def test_the_per_record_histogram_counts_each_observation_in_its_bucket_cumulatively() -> None:
    timing = metrics.observer(metrics.stage_seconds, "timings-test")
    for seconds in (0.00005, 0.0001, 0.003, 100.0):
        timing.observe(seconds)
    family = next(
        f
        for f in text_string_to_metric_families(metrics_text())
        if f.name == "compliance_stage_seconds"
    )
    assert family.type == "histogram"
    mine = {
        (s.name, s.labels.get("le")): s.value
        for s in family.samples
        if s.labels["processor"] == "timings-test"
    }
    assert mine[("compliance_stage_seconds_bucket", "0.0001")] == 2  # a bound is inclusive
    assert mine[("compliance_stage_seconds_bucket", "0.0025")] == 2
    assert mine[("compliance_stage_seconds_bucket", "0.005")] == 3
    assert mine[("compliance_stage_seconds_bucket", "30.0")] == 3
    assert mine[("compliance_stage_seconds_bucket", "+Inf")] == 4
    assert mine[("compliance_stage_seconds_count", None)] == 4
    assert mine[("compliance_stage_seconds_sum", None)] == pytest.approx(100.00315)


def test_rule_outcomes_are_counted_per_rule_and_outcome() -> None:
    for outcome in ("pass", "pass", "fail"):
        metrics.rule_outcome("tally-test", "kyc.passport-expiry", outcome)
    family = next(
        f
        for f in text_string_to_metric_families(metrics_text())
        if f.name == "compliance_rule_outcomes"
    )
    mine = {
        s.labels["outcome"]: s.value
        for s in family.samples
        if s.labels["processor"] == "tally-test"
    }
    assert mine == {"pass": 2, "fail": 1}


def test_the_ready_gauge_answers_what_readyz_would_when_scraped(
    readiness: health.Readiness,
) -> None:
    def gauge() -> float:
        family = next(
            f
            for f in text_string_to_metric_families(metrics_text())
            if f.name == "compliance_ready"
        )
        [value] = [s.value for s in family.samples if s.labels["processor"] == "probe-test"]
        return value

    assert gauge() == 0
    serving(readiness)
    assert gauge() == 1


def test_a_process_that_consumes_no_kafka_is_ready_once_its_loop_ticks(
    readiness: health.Readiness, clock: Clock
) -> None:
    readiness.without_kafka_consumer()
    assert readiness.ready() == (False, ["not started yet"])
    readiness.tick()
    assert readiness.ready() == (True, [])
    readiness.add_check("database", lambda: False)
    assert readiness.ready() == (False, ["database unreachable"])
    clock.now += 61
    assert not readiness.alive()[0]


def test_a_batch_stage_records_each_record_of_the_batch_in_the_per_record_histogram() -> None:
    metrics.timings(metrics.stage_seconds, "many-test").observe_many(0.002, 40)
    family = next(
        f
        for f in text_string_to_metric_families(metrics_text())
        if f.name == "compliance_stage_seconds"
    )
    mine = {
        (s.name, s.labels.get("le")): s.value
        for s in family.samples
        if s.labels["processor"] == "many-test"
    }
    assert mine[("compliance_stage_seconds_bucket", "0.001")] == 0
    assert mine[("compliance_stage_seconds_bucket", "0.0025")] == 40
    assert mine[("compliance_stage_seconds_count", None)] == 40
    assert mine[("compliance_stage_seconds_sum", None)] == pytest.approx(0.08)
