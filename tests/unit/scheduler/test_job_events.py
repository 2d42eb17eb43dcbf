"""JobRun events: deterministic ids per job, fire time and phase, and valid against the
schema the audit sink decodes with."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from compliance.codec import registry
from compliance.scheduler.execution import fire_time
from compliance.scheduler.job_events import RunMoment, job_run_event
from compliance.topics import SCHEDULER_RUNS, every_topic

FIRE = datetime(2026, 3, 10, 1, 15, tzinfo=UTC)


def _moment(
    instance: str = "a",
    *,
    finished_at: datetime | None = None,
    outcome: str | None = None,
    detail: str | None = None,
    namespace: str = "",
) -> RunMoment:
    started = FIRE + timedelta(seconds=2)
    return RunMoment(
        "daily-report", FIRE, instance, started, finished_at, outcome, detail, namespace
    )


def test_the_same_run_has_the_same_event_ids_on_every_scheduler_copy() -> None:
    started_a = job_run_event(_moment("a"))
    started_b = job_run_event(_moment("b"))
    assert started_a["envelope"]["event_id"] == started_b["envelope"]["event_id"]
    finished = job_run_event(_moment("a", finished_at=FIRE + HOURS, outcome="ok", detail="done"))
    assert finished["envelope"]["event_id"] != started_a["envelope"]["event_id"]
    other_day = job_run_event(
        RunMoment("daily-report", FIRE + timedelta(days=1), "a", FIRE + timedelta(days=1))
    )
    assert other_day["envelope"]["event_id"] != started_a["envelope"]["event_id"]


HOURS = timedelta(hours=1)


def test_job_run_events_round_trip_through_the_codec() -> None:
    codec = registry()
    for moment in (_moment(), _moment(finished_at=FIRE + HOURS, outcome="failed", detail="x")):
        record = job_run_event(moment)
        event_type, decoded = codec.decode(codec.encode("JobRun", record))
        assert event_type == "JobRun"
        assert decoded["job"] == "daily-report"
        assert decoded["scheduled_for"] == FIRE
        assert decoded["phase"] == ("started" if moment.outcome is None else "finished")
        assert decoded["outcome"] == moment.outcome
        assert decoded["envelope"]["subject_id"] == "daily-report"


def test_the_runs_topic_is_among_the_topics_the_audit_sink_consumes() -> None:
    assert SCHEDULER_RUNS in every_topic()


def test_fire_times_are_kept_to_the_millisecond_in_utc() -> None:
    local = datetime(2026, 3, 10, 2, 15, 0, 123456, tzinfo=UTC).astimezone()
    assert fire_time(local) == datetime(2026, 3, 10, 2, 15, 0, 123000, tzinfo=UTC)


def test_deployments_sharing_an_audit_trail_announce_different_event_ids() -> None:
    ours = job_run_event(_moment(namespace="eu."))
    theirs = job_run_event(_moment(namespace="us."))
    assert ours["envelope"]["event_id"] != theirs["envelope"]["event_id"]
