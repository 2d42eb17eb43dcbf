"""``compliance jobs ...``: the scheduled jobs outside the scheduler process.

``compliance jobs run <job>`` runs one job once, for its fire time due now (the latest of its
cron within the misfire grace time; ``--at`` names another fire time of its cron: an instant
off the schedule is refused unless ``--force`` is given, and a forced run is recorded as
forced in ``scheduler_runs`` and its ``JobRun`` events), through the same claim as the
scheduler: run from cron or a Kubernetes CronJob, it never runs a fire time the scheduler
(or another CronJob pod) has run. Exit status: 0 ok or skipped or already run, 1 failed,
2 error. ``compliance jobs list`` shows the schedule, ``compliance jobs runs`` the latest runs.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from compliance.config import Settings
from compliance.errors import ComplianceError

FAILED_EXIT = 1


def _instant(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date/time: {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _engine(settings: Settings) -> Any:
    from compliance.audit.store import connect, require_database

    engine = connect(settings.database_dsn)
    require_database(engine)
    return engine


def cmd_jobs_run(settings: Settings, args: argparse.Namespace) -> int:
    from compliance import kafka_io
    from compliance.scheduler.execution import JobRunner
    from compliance.scheduler.registry import job_function
    from compliance.scheduler.schedule import is_fire_time, load_schedule
    from compliance.scheduler.service import due_fire_time
    from compliance.screening.sending import EventSender

    schedule = load_schedule(settings.scheduler_file)
    job = schedule.job(args.job)
    job_function(job.name, job.function)
    now = datetime.now(UTC)
    scheduled_for = args.at or due_fire_time(job, now, schedule.misfire_grace_s)
    if scheduled_for is None:
        raise ComplianceError(
            f"job {job.name} ({job.cron} UTC) has no fire time within the last "
            f"{schedule.misfire_grace_s:g} s: give the fire time to run with --at"
        )
    forced = args.at is not None and not is_fire_time(job.trigger(), scheduled_for)
    if forced and not args.force:
        upcoming = job.trigger().get_next_fire_time(None, scheduled_for)
        after = f"; the next one is {upcoming.isoformat()}" if upcoming else ""
        raise ComplianceError(
            f"{scheduled_for.isoformat()} is not a fire time of job {job.name} "
            f"({job.cron} UTC){after}: give one of its fire times, or add --force to run it "
            "for this instant anyway (recorded as a forced run)"
        )
    engine = _engine(settings)
    kafka_io.require_broker(settings)
    runner = JobRunner(settings, engine, EventSender(settings))
    outcome = runner.run(job, scheduled_for, forced=forced)
    what = f"{job.name} at {scheduled_for.isoformat()}" + (" (forced)" if forced else "")
    if outcome is None:
        print(f"{what}: already claimed by another run")
        return 0
    print(f"{what}: {outcome.outcome}: {outcome.detail}")
    return FAILED_EXIT if outcome.outcome == "failed" else 0


def cmd_jobs_list(settings: Settings, _: argparse.Namespace) -> int:
    from compliance.scheduler.schedule import load_schedule

    schedule = load_schedule(settings.scheduler_file)
    now = datetime.now(UTC)
    for job in schedule.jobs:
        upcoming = job.trigger().get_next_fire_time(None, now)
        state = f"next {upcoming:%Y-%m-%d %H:%M} UTC" if job.enabled and upcoming else "disabled"
        print(f"{job.name:20} {job.cron:18} {state}")
    print(f"misfire grace {schedule.misfire_grace_s:g} s ({settings.scheduler_file})")
    return 0


def cmd_jobs_runs(settings: Settings, args: argparse.Namespace) -> int:
    from compliance.scheduler.claims import RunClaims

    runs = RunClaims(_engine(settings), settings.topic_prefix).runs(args.job, args.limit)
    for run in runs:
        print(
            f"{run.scheduled_for:%Y-%m-%d %H:%M:%S} {run.job:20} {run.outcome or 'running':8} "
            f"{run.instance_id}{' forced' if run.forced else ''}: {run.detail or ''}"
        )
    return 0


def register(sub: Any) -> None:
    jobs = sub.add_parser("jobs", help="scheduled jobs: run one now, the schedule, the runs")
    actions = jobs.add_subparsers(dest="action", required=True)
    run = actions.add_parser("run", help="run a job once through the scheduler's claim")
    run.add_argument("job", help="daily-report, sanctions-refresh, sla-sweep, ...")
    run.add_argument("--at", type=_instant, help="the fire time to run (default: the one due now)")
    run.add_argument(
        "--force",
        action="store_true",
        help="run for --at even when it is not one of the job's fire times (recorded as forced)",
    )
    run.set_defaults(func=cmd_jobs_run)
    actions.add_parser("list", help="the jobs and their next fire time").set_defaults(
        func=cmd_jobs_list
    )
    runs = actions.add_parser("runs", help="the latest runs and their outcome")
    runs.add_argument("--job")
    runs.add_argument("--limit", type=int, default=20)
    runs.set_defaults(func=cmd_jobs_runs)
