"""The jobs the scheduler runs and when: ``config/scheduler.yaml`` (``COMPLIANCE_SCHEDULER_FILE``).

Every job has a cron schedule (five fields, UTC), may be disabled, and carries options its job
function reads (``compliance.scheduler.registry``). A job whose name is not a built-in job
names its function as ``function: package.module:callable``. ``misfire_grace_s``: a fire time
missed while no scheduler ran (or while the scheduler was busy) is still run, once, if the
scheduler notices within that many seconds; older ones are let go (coalesced: of several
missed fire times only the latest runs).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from apscheduler.triggers.cron import CronTrigger
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from compliance.errors import ConfigurationError

# Bounds the walk over fire times inside the grace window (a cron of every minute over a day
# is 1,440 steps).
_MAX_STEPS = 100_000


class JobSchedule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, pattern=r"^[a-z0-9][a-z0-9-]*$")
    cron: str = Field(description="Five cron fields (minute hour day month weekday), UTC.")
    enabled: bool = True
    function: str | None = Field(
        None, description="package.module:callable of a job that is not built in."
    )
    options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        try:
            CronTrigger.from_crontab(value, timezone=UTC)
        except ValueError as exc:
            raise ValueError(f"not a cron schedule ({exc})") from None
        return value

    def trigger(self) -> CronTrigger:
        return CronTrigger.from_crontab(self.cron, timezone=UTC)


class Schedule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    misfire_grace_s: float = Field(3600.0, gt=0)
    jobs: tuple[JobSchedule, ...] = ()

    @field_validator("jobs")
    @classmethod
    def _unique_names(cls, jobs: tuple[JobSchedule, ...]) -> tuple[JobSchedule, ...]:
        names = [job.name for job in jobs]
        if twice := sorted({n for n in names if names.count(n) > 1}):
            raise ValueError(f"job {twice[0]!r} is configured twice")
        return jobs

    @property
    def enabled(self) -> tuple[JobSchedule, ...]:
        return tuple(job for job in self.jobs if job.enabled)

    def job(self, name: str) -> JobSchedule:
        for job in self.jobs:
            if job.name == name:
                return job
        known = ", ".join(j.name for j in self.jobs) or "none"
        raise ConfigurationError(f"no job {name!r} in the schedule (configured: {known})")


def parse_schedule(data: Any, where: str = "the schedule") -> Schedule:
    if not isinstance(data, dict):
        raise ConfigurationError(f"{where}: expected a mapping with `jobs`")
    jobs = data.get("jobs") or {}
    if not isinstance(jobs, dict):
        raise ConfigurationError(f"{where}: `jobs` maps job names to their settings")
    try:
        return Schedule(
            misfire_grace_s=data.get("misfire_grace_s", 3600.0),
            jobs=tuple(JobSchedule(name=name, **(spec or {})) for name, spec in jobs.items()),
        )
    except (ValidationError, TypeError) as exc:
        raise ConfigurationError(f"{where}: {exc}") from None


def load_schedule(path: Path) -> Schedule:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigurationError(f"cannot read the schedule {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"{path} is not valid YAML: {exc}") from None
    return parse_schedule(data, str(path))


def is_fire_time(trigger: CronTrigger, at: datetime) -> bool:
    """Whether ``at`` is one of the trigger's fire times (to the second)."""
    at = at.astimezone(UTC)
    if at.microsecond:
        return False
    fire: datetime | None = trigger.get_next_fire_time(None, at)
    return fire == at


def latest_fire_time(trigger: CronTrigger, now: datetime, grace: timedelta) -> datetime | None:
    """The latest fire time of ``trigger`` in (``now`` - ``grace``, ``now``], else None: the
    run that is due now (or was missed, within the grace time)."""
    fire = trigger.get_next_fire_time(None, now - grace)
    latest = None
    for _ in range(_MAX_STEPS):
        if fire is None or fire > now:
            return latest
        latest = fire
        fire = trigger.get_next_fire_time(fire, fire + timedelta(seconds=1))
    return latest
