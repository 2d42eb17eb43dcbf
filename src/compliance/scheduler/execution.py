"""One run of one job at one fire time: claim it, announce it, run it, record how it went,
announce that. Only the copy whose claim wins runs the job and announces the run.

A job that raises is a failed run (logged with its traceback, its class and message the
run's detail); the scheduler goes on with its other jobs and the next fire time. When the
start of a claimed run cannot be announced (Kafka unavailable), the job does not run and the
run is recorded as failed in ``scheduler_runs``.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import Engine

from compliance import metrics
from compliance.config import Settings
from compliance.errors import ComplianceError
from compliance.scheduler.claims import RunClaims
from compliance.scheduler.job_events import EVENT_TYPE, RunMoment, job_run_event
from compliance.scheduler.registry import JobContext, Outcome, job_function
from compliance.scheduler.schedule import JobSchedule
from compliance.screening.sending import EventSender
from compliance.topics import SCHEDULER_RUNS

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
_MAX_DETAIL = 2000


def _utc_now() -> datetime:
    return datetime.now(UTC)


def fire_time(value: datetime) -> datetime:
    """A fire time as stored and announced: UTC, whole milliseconds (Avro's precision)."""
    value = value.astimezone(UTC)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


class JobRunner:
    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        sender: EventSender,
        *,
        instance_id: str | None = None,
        clock: Clock = _utc_now,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.sender = sender
        self.instance_id = instance_id or settings.instance_id
        self.claims = RunClaims(engine, settings.topic_prefix)
        self.clock = clock

    def run(
        self, job: JobSchedule, scheduled_for: datetime, *, forced: bool = False
    ) -> Outcome | None:
        """Run ``job`` for ``scheduled_for`` if this copy claims it; None when another has.
        ``forced``: an instant off the job's schedule, run by hand and recorded as forced."""
        scheduled_for = fire_time(scheduled_for)
        if not self.claims.claim(job.name, scheduled_for, self.instance_id, forced=forced):
            log.info("job %s at %s: already claimed", job.name, scheduled_for.isoformat())
            return None
        moment = RunMoment(
            job.name,
            scheduled_for,
            self.instance_id,
            fire_time(self.clock()),
            namespace=self.settings.topic_prefix,
            forced=forced,
        )
        try:
            self._announce(moment)
        except ComplianceError as exc:
            self._record(moment, Outcome.failed(f"not started: {exc}"))
            raise
        log.info("job %s at %s: started", job.name, scheduled_for.isoformat())
        outcome = self._execute(job, scheduled_for)
        self._announce(self._record(moment, outcome))
        log.info(
            "job %s at %s: %s (%s)",
            job.name,
            scheduled_for.isoformat(),
            outcome.outcome,
            outcome.detail,
        )
        return outcome

    def _execute(self, job: JobSchedule, scheduled_for: datetime) -> Outcome:
        context = JobContext(
            self.settings, self.engine, scheduled_for, self.instance_id, job.options
        )
        try:
            return job_function(job.name, job.function)(context)
        except ComplianceError as exc:
            return Outcome.failed(str(exc))
        except Exception as exc:  # a bug in the job: visible in the log and the run's outcome
            log.exception("job %s failed with an unexpected error", job.name)
            return Outcome.failed(f"{type(exc).__name__}: {exc}")

    def _record(self, moment: RunMoment, outcome: Outcome) -> RunMoment:
        finished = dataclasses.replace(
            moment,
            finished_at=fire_time(self.clock()),
            outcome=outcome.outcome,
            detail=outcome.detail[:_MAX_DETAIL],
        )
        assert finished.finished_at is not None and finished.detail is not None
        self.claims.finish(
            moment.job,
            moment.scheduled_for,
            outcome.outcome,
            finished.detail,
            finished.finished_at,
        )
        metrics.scheduled_runs.labels(job=moment.job, outcome=outcome.outcome).inc()
        return finished

    def _announce(self, moment: RunMoment) -> None:
        self.sender.send(SCHEDULER_RUNS, EVENT_TYPE, job_run_event(moment))
        self.sender.flush()
