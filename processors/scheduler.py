"""The scheduler: runs the periodic jobs of ``COMPLIANCE_SCHEDULER_FILE`` (the daily report,
the sanctions list refresh, the SLA sweep, ...) on their cron schedules until SIGTERM.

Several copies may run (for availability): each fire time of each job is claimed in
PostgreSQL (``scheduler_runs``) and run by the copy that claimed it; every run is announced
as two ``JobRun`` events on ``scheduler.runs`` (started, finished with its outcome), which
the audit sink records. See ``compliance.scheduler``.
"""

from __future__ import annotations

import logging
import threading

from compliance import health, kafka_io
from compliance.audit.store import connect, require_database
from compliance.config import Settings
from compliance.scheduler.execution import JobRunner
from compliance.scheduler.registry import job_function
from compliance.scheduler.schedule import load_schedule
from compliance.scheduler.service import SchedulerService
from compliance.screening.sending import EventSender

NAME = "scheduler"
log = logging.getLogger(__name__)


def main(settings: Settings, stop: threading.Event) -> None:
    schedule = load_schedule(settings.scheduler_file)
    for job in schedule.enabled:
        job_function(job.name, job.function)  # an unknown job stops the start, not a run
    engine = connect(settings.database_dsn)
    require_database(engine)
    kafka_io.require_broker(settings)
    runner = JobRunner(settings, engine, EventSender(settings))
    service = SchedulerService(schedule, runner)
    log.info(
        "%s %s: %d job(s) from %s, misfire grace %g s",
        NAME,
        runner.instance_id,
        len(schedule.enabled),
        settings.scheduler_file,
        schedule.misfire_grace_s,
    )
    # Not a Kafka consumer: /readyz asks that its loop goes round and the database answers.
    health.state.without_kafka_consumer()
    health.state.add_check("database", health.database_check(engine))
    service.start()
    try:
        while not stop.wait(1.0):
            health.state.tick()
    finally:
        health.state.set_stopping()
        service.stop()
        runner.sender.flush()
