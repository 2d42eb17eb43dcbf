"""Job ``sla-sweep``: cases past their SLA due time marked breached, with an audited decision
each. The work belongs to case management (``compliance.cases``); this job only calls its
sweep, ``compliance.cases.sweep.sweep_sla_breaches(settings, engine, now) -> int`` (the cases
newly breached), and is ``skipped`` with the reason when case management, or its sweep, is
not installed. (A deployment can also point the job elsewhere with ``function:`` in the
schedule.)"""

from __future__ import annotations

import importlib

from compliance.scheduler.registry import JobContext, Outcome

CASES_PACKAGE = "compliance.cases"
SWEEP_MODULE = "compliance.cases.sweep"
SWEEP_FUNCTION = "sweep_sla_breaches"


def _missing(exc: ModuleNotFoundError, module: str) -> bool:
    """The import failed because ``module`` (or a package above it) does not exist, not
    because of a missing module inside it."""
    return exc.name is not None and module.startswith(exc.name)


def run(context: JobContext) -> Outcome:
    try:
        importlib.import_module(CASES_PACKAGE)
    except ModuleNotFoundError as exc:
        if not _missing(exc, CASES_PACKAGE):
            raise
        return Outcome.skipped(f"case management ({CASES_PACKAGE}) is not installed")
    try:
        sweep_module = importlib.import_module(SWEEP_MODULE)
    except ModuleNotFoundError as exc:
        if not _missing(exc, SWEEP_MODULE):
            raise
        sweep_module = None
    sweep = getattr(sweep_module, SWEEP_FUNCTION, None)
    if not callable(sweep):
        return Outcome.skipped(
            f"case management has no SLA sweep to call ({SWEEP_MODULE}.{SWEEP_FUNCTION})"
        )
    breached = sweep(context.settings, context.engine, context.scheduled_for)
    return Outcome.ok(f"{breached} case(s) newly past their SLA, flagged as breached")
