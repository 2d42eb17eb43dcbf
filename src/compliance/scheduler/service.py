"""The scheduler process: APScheduler (3.x) fires each enabled job on its cron schedule, in
UTC, and every fire goes through the claim (``execution``), so copies of the scheduler run
each fire time once between them.

Misfires: a fire time the scheduler was too busy for is still run within ``misfire_grace_s``
(APScheduler's ``misfire_grace_time``), several at once coalesced into one run. A fire time
missed because no scheduler was running is caught up at start: the latest fire time of each
job within the grace time runs once, unless some copy has claimed it (the claims table is
the scheduler's memory; APScheduler keeps its jobs in memory only).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler

from compliance.errors import ComplianceError
from compliance.scheduler.execution import JobRunner
from compliance.scheduler.schedule import JobSchedule, Schedule, latest_fire_time

log = logging.getLogger(__name__)


def due_fire_time(job: JobSchedule, now: datetime, grace_s: float) -> datetime | None:
    """The fire time a run at ``now`` belongs to: the latest within the grace time."""
    return latest_fire_time(job.trigger(), now, timedelta(seconds=grace_s))


class SchedulerService:
    def __init__(self, schedule: Schedule, runner: JobRunner) -> None:
        self.schedule = schedule
        self.runner = runner
        self.scheduler = BackgroundScheduler(
            timezone=UTC,
            job_defaults={
                "coalesce": True,
                "misfire_grace_time": int(schedule.misfire_grace_s),
                "max_instances": 1,
            },
        )

    def fire(self, job: JobSchedule) -> None:
        """What APScheduler calls at a fire time (it does not pass the fire time: it is the
        latest of the job's cron within the grace time)."""
        scheduled_for = due_fire_time(job, self.runner.clock(), self.schedule.misfire_grace_s)
        if scheduled_for is None:
            log.warning("job %s fired with no fire time within the grace time", job.name)
            return
        self.run_once(job, scheduled_for)

    def run_once(self, job: JobSchedule, scheduled_for: datetime) -> None:
        try:
            self.runner.run(job, scheduled_for)
        except ComplianceError as exc:  # database or Kafka unavailable: this fire is lost
            log.error("job %s at %s not run: %s", job.name, scheduled_for.isoformat(), exc)

    def catch_up(self) -> list[tuple[JobSchedule, datetime]]:
        """The runs missed while no scheduler ran: per job, its latest fire time within the
        grace time (whether claimed or not; the claim decides)."""
        now = self.runner.clock()
        missed = []
        for job in self.schedule.enabled:
            due = due_fire_time(job, now, self.schedule.misfire_grace_s)
            if due is not None:
                missed.append((job, due))
        return missed

    def start(self) -> None:
        for job in self.schedule.enabled:
            self.scheduler.add_job(self.fire, job.trigger(), args=[job], id=job.name, name=job.name)
        for job, due in self.catch_up():
            # Runs at once in the scheduler's thread pool; a claimed fire time is a no-op.
            self.scheduler.add_job(
                self.run_once, args=[job, due], id=f"{job.name}@start", name=f"{job.name} (missed)"
            )
        self.scheduler.start()
        for job in self.schedule.enabled:
            log.info(
                "job %s scheduled (%s UTC), next at %s",
                job.name,
                job.cron,
                self.scheduler.get_job(job.name).next_run_time,
            )

    def stop(self) -> None:
        self.scheduler.shutdown(wait=True)
