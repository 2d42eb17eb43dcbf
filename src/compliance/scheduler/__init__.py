"""Scheduled jobs, run by one scheduler process (``compliance run scheduler``) or one-shot
(``compliance jobs run <job>``, for cron or a Kubernetes CronJob).

- ``schedule``: the jobs, their cron schedules and options (``config/scheduler.yaml``);
- ``claims``: the ``scheduler_runs`` table: a run (job, scheduled fire time) is claimed once,
  whichever scheduler copy inserts it first runs it;
- ``job_events``: the ``JobRun`` events on ``scheduler.runs`` (at start and at end);
- ``registry``: the job functions by name; ``jobs_*`` modules hold the jobs themselves;
- ``execution``: claim, announce, run, record, announce, for one fire time;
- ``service``: the APScheduler wiring and the catch-up of a missed run at start.
"""
