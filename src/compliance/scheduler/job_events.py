"""``JobRun`` events: one when a claimed run starts, one when it ends. Their ids derive from
the deployment (its topic prefix), the job, its fire time and the phase, so the same run
always announces the same two events (and the idempotent audit sink records each once), and
deployments sharing an audit database never announce the same id."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from compliance.codec import Record
from compliance.events import envelope

EVENT_TYPE = "JobRun"
STAGE = "scheduler"
STARTED = "started"
FINISHED = "finished"


@dataclass(frozen=True, slots=True)
class RunMoment:
    job: str
    scheduled_for: datetime
    instance_id: str
    started_at: datetime
    finished_at: datetime | None = None
    outcome: str | None = None
    detail: str | None = None
    namespace: str = ""  # the deployment's topic prefix
    forced: bool = False  # run by hand for an instant off the job's schedule

    @property
    def run_key(self) -> str:
        """The job and its fire time: what identifies a run among every copy's."""
        return f"{self.job}@{self.scheduled_for.isoformat()}"


def job_run_event(run: RunMoment) -> Record:
    phase = STARTED if run.outcome is None else FINISHED
    return {
        "envelope": envelope(
            event_type=EVENT_TYPE,
            stage=STAGE,
            cause=f"{run.namespace}\x1f{run.run_key}",
            discriminator=phase,
            correlation_id=run.run_key,
            subject_id=run.job,
            causation_id=None,
            occurred_at=run.started_at if run.finished_at is None else run.finished_at,
        ),
        "job": run.job,
        "phase": phase,
        "scheduled_for": run.scheduled_for,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "outcome": run.outcome,
        "detail": run.detail,
        "instance_id": run.instance_id,
        "forced": run.forced,
    }
