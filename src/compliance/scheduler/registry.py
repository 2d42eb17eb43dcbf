"""Job functions by name. A job is ``fn(context) -> Outcome``: it does its work and says how
it went (``ok``, ``failed`` with the reason, ``skipped`` with why). Built-in jobs are imported
only when they run; any other job is named in the schedule as ``package.module:callable``
(``register`` adds one from code)."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Engine

from compliance.config import Settings
from compliance.errors import ConfigurationError

OutcomeName = Literal["ok", "failed", "skipped"]


@dataclass(frozen=True, slots=True)
class Outcome:
    outcome: OutcomeName
    detail: str

    @classmethod
    def ok(cls, detail: str) -> Outcome:
        return cls("ok", detail)

    @classmethod
    def failed(cls, detail: str) -> Outcome:
        return cls("failed", detail)

    @classmethod
    def skipped(cls, detail: str) -> Outcome:
        return cls("skipped", detail)


@dataclass(frozen=True)
class JobContext:
    """What a job gets: the settings, a database engine (the processors' role), the fire time
    it runs for, its options from the schedule and the instance running it."""

    settings: Settings
    engine: Engine
    scheduled_for: datetime
    instance_id: str
    options: Mapping[str, Any] = field(default_factory=dict)


JobFunction = Callable[[JobContext], Outcome]

BUILT_IN: dict[str, str] = {
    "daily-report": "compliance.scheduler.daily_report_job:run",
    "sanctions-refresh": "compliance.scheduler.sanctions_refresh:run",
    "sla-sweep": "compliance.scheduler.sla_sweep:run",
}
_registered: dict[str, JobFunction] = {}


def register(name: str, function: JobFunction) -> None:
    _registered[name] = function


def _import(reference: str) -> JobFunction:
    module_name, sep, attribute = reference.partition(":")
    if not sep:
        raise ConfigurationError(f"job function {reference!r}: write it as package.module:name")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigurationError(f"job function {reference!r}: {exc}") from None
    function = getattr(module, attribute, None)
    if not callable(function):
        raise ConfigurationError(f"job function {reference!r}: no callable {attribute!r}")
    return function  # type: ignore[no-any-return]


def job_function(name: str, reference: str | None = None) -> JobFunction:
    """The function of job ``name``: ``reference`` when the schedule names one, else a
    registered or built-in job."""
    if reference is not None:
        return _import(reference)
    if name in _registered:
        return _registered[name]
    if name in BUILT_IN:
        return _import(BUILT_IN[name])
    known = ", ".join(sorted({*BUILT_IN, *_registered}))
    raise ConfigurationError(f"unknown job {name!r}: one of {known}, or give its `function`")
