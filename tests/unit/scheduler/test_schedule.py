"""The schedule configuration and the fire-time arithmetic every run's claim depends on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest

from compliance.config import PROJECT_ROOT, Settings
from compliance.errors import ConfigurationError
from compliance.scheduler.execution import JobRunner
from compliance.scheduler.registry import BUILT_IN, job_function
from compliance.scheduler.schedule import latest_fire_time, load_schedule, parse_schedule
from compliance.scheduler.service import SchedulerService, due_fire_time

HOUR = timedelta(hours=1)


def test_the_bundled_schedule_loads_and_names_only_known_jobs() -> None:
    schedule = load_schedule(PROJECT_ROOT / "config" / "scheduler.yaml")
    assert {job.name for job in schedule.jobs} == set(BUILT_IN)
    for job in schedule.jobs:
        assert callable(job_function(job.name, job.function))
    assert schedule.misfire_grace_s == 3600


def test_a_job_takes_its_cron_enabled_flag_and_options() -> None:
    schedule = parse_schedule(
        {
            "misfire_grace_s": 120,
            "jobs": {
                "daily-report": {"cron": "15 1 * * *", "options": {"out": "/tmp/r"}},
                "sla-sweep": {"cron": "*/5 * * * *", "enabled": False},
            },
        }
    )
    assert schedule.misfire_grace_s == 120
    assert [job.name for job in schedule.enabled] == ["daily-report"]
    assert schedule.job("daily-report").options == {"out": "/tmp/r"}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"jobs": {"daily-report": {"cron": "61 * * * *"}}}, "not a cron schedule"),
        ({"jobs": {"daily-report": {"cron": "* * *"}}}, "not a cron schedule"),
        ({"jobs": {"daily-report": {"cron": "0 1 * * *", "when": "x"}}}, "when"),
        ({"jobs": {"Daily Report": {"cron": "0 1 * * *"}}}, "pattern"),
        ({"misfire_grace_s": 0, "jobs": {}}, "greater than 0"),
        ({"jobs": ["daily-report"]}, "maps job names"),
    ],
)
def test_a_bad_schedule_stops_with_the_reason(data: object, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        parse_schedule(data)


def test_a_missing_or_broken_schedule_file_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read"):
        load_schedule(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("jobs: [unclosed\n")
    with pytest.raises(ConfigurationError, match="not valid YAML"):
        load_schedule(broken)


def test_an_unknown_job_without_a_function_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="unknown job 'tidy-up'"):
        job_function("tidy-up")
    with pytest.raises(ConfigurationError, match=r"package\.module:name"):
        job_function("tidy-up", "compliance.scheduler")
    with pytest.raises(ConfigurationError, match="no callable"):
        job_function("tidy-up", "compliance.scheduler.registry:nothing_here")


def test_the_fire_time_due_is_the_latest_within_the_grace_time() -> None:
    job = parse_schedule({"jobs": {"daily-report": {"cron": "15 1 * * *"}}}).jobs[0]
    fire = datetime(2026, 3, 10, 1, 15, tzinfo=UTC)
    assert due_fire_time(job, fire, 3600) == fire
    assert due_fire_time(job, fire + timedelta(minutes=59), 3600) == fire
    assert due_fire_time(job, fire + timedelta(minutes=61), 3600) is None  # missed too long ago
    assert due_fire_time(job, fire - timedelta(seconds=1), 3600) is None  # not yet


def test_of_several_missed_fire_times_only_the_latest_is_due() -> None:
    trigger = parse_schedule({"jobs": {"sla-sweep": {"cron": "*/5 * * * *"}}}).jobs[0].trigger()
    now = datetime(2026, 3, 10, 12, 7, 30, tzinfo=UTC)
    assert latest_fire_time(trigger, now, HOUR) == datetime(2026, 3, 10, 12, 5, tzinfo=UTC)


def test_fire_times_are_in_utc_whatever_the_local_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "America/New_York")
    trigger = parse_schedule({"jobs": {"daily-report": {"cron": "0 2 * * *"}}}).jobs[0].trigger()
    fire = latest_fire_time(trigger, datetime(2026, 7, 1, 3, 0, tzinfo=UTC), HOUR)
    assert fire == datetime(2026, 7, 1, 2, 0, tzinfo=UTC)


def test_at_start_each_enabled_job_catches_up_its_latest_missed_fire_time_within_grace(
    settings: Settings,
) -> None:
    schedule = parse_schedule(
        {
            "misfire_grace_s": 3600,
            "jobs": {
                "daily-report": {"cron": "15 1 * * *"},  # missed 30 minutes ago
                "sanctions-refresh": {"cron": "0 */6 * * *", "enabled": False},
                "sla-sweep": {"cron": "0 23 * * *"},  # last fired hours ago: let go
            },
        }
    )
    now = datetime(2026, 3, 10, 1, 45, tzinfo=UTC)
    # Working out what was missed needs only the clock: no database, no broker.
    nothing = cast(Any, None)
    runner = JobRunner(settings, nothing, nothing, instance_id="a", clock=lambda: now)
    missed = SchedulerService(schedule, runner).catch_up()
    assert [(job.name, due) for job, due in missed] == [
        ("daily-report", datetime(2026, 3, 10, 1, 15, tzinfo=UTC))
    ]
