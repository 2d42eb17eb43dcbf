"""Scheduled jobs against the real PostgreSQL and broker: two scheduler copies firing the same
job at the same time run it once and announce one JobRun pair; the sanctions refresh keeps the
version in force on a bad file and puts a changed valid file in force; JobRun events reach the
audit trail; the scheduler process catches up a missed fire time at start, and a one-shot
``compliance jobs run`` of that fire time finds it claimed.

Fire times are given (an injected clock, or the claim+run of one fire time called directly):
no test waits for a real cron time."""

from __future__ import annotations

import http.server
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import Engine, func, select

from compliance.audit.tables import audit_event_conflicts
from compliance.codec import registry
from compliance.config import Settings
from compliance.scheduler import registry as job_registry
from compliance.scheduler.claims import RunClaims, scheduler_runs
from compliance.scheduler.execution import JobRunner
from compliance.scheduler.registry import JobContext, Outcome
from compliance.scheduler.schedule import JobSchedule, parse_schedule
from compliance.scheduler.service import SchedulerService
from compliance.screening.list_store import ListStore
from compliance.screening.sending import EventSender
from compliance.topics import DOCUMENTS_CLASSIFIED, SCHEDULER_RUNS

from .conftest import Processes, compliance_cli, processor_env, read_topic, wait_for
from .test_screening_support import audited, classified_passport, write_sdn

FIRE = datetime(2026, 3, 10, 1, 15, tzinfo=UTC)


def _job_runs(settings: Settings) -> list[dict[str, Any]]:
    codec = registry()
    decoded = [codec.decode(value) for value in read_topic(settings, SCHEDULER_RUNS.name)]
    return [record for event_type, record in decoded if event_type == "JobRun"]


def _runner(settings: Settings, engine: Engine, instance: str, at: datetime) -> JobRunner:
    return JobRunner(
        settings, engine, EventSender(settings), instance_id=instance, clock=lambda: at
    )


@pytest.fixture
def counted_job() -> Iterator[tuple[str, list[str]]]:
    """A job of this test's own whose body records each run's instance."""
    name = f"count-{uuid.uuid4().hex[:8]}"
    bodies: list[str] = []
    lock = threading.Lock()

    def body(context: JobContext) -> Outcome:
        with lock:
            bodies.append(context.instance_id)
        time.sleep(0.3)  # the other copy's claim lands while this one runs
        return Outcome.ok("counted")

    job_registry.register(name, body)
    yield name, bodies
    job_registry._registered.pop(name, None)


def test_two_scheduler_copies_firing_together_run_the_job_once_and_announce_one_pair(
    settings: Settings, engine: Engine, counted_job: tuple[str, list[str]]
) -> None:
    name, bodies = counted_job
    schedule = parse_schedule({"jobs": {name: {"cron": "15 1 * * *"}}})
    # Two copies whose clocks differ by a second, both just after the fire time.
    copies = [
        SchedulerService(
            schedule, _runner(settings, engine, f"copy-{n}", FIRE + timedelta(seconds=n))
        )
        for n in (1, 2)
    ]
    start = threading.Barrier(2)

    def fire(service: SchedulerService) -> None:
        start.wait(10)
        service.fire(schedule.jobs[0])

    threads = [threading.Thread(target=fire, args=(copy,)) for copy in copies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(bodies) == 1
    runs = _job_runs(settings)
    assert [(r["job"], r["phase"], r["scheduled_for"]) for r in runs] == [
        (name, "started", FIRE),
        (name, "finished", FIRE),
    ]
    assert runs[1]["outcome"] == "ok" and runs[1]["instance_id"] == bodies[0]
    [row] = RunClaims(engine, settings.topic_prefix).runs(name)
    assert (row.scheduled_for, row.outcome, row.instance_id) == (FIRE, "ok", bodies[0])


def test_a_fire_time_claimed_once_is_not_run_again_by_a_later_attempt(
    settings: Settings, engine: Engine, counted_job: tuple[str, list[str]]
) -> None:
    name, bodies = counted_job
    job = JobSchedule(name=name, cron="15 1 * * *")
    assert _runner(settings, engine, "a", FIRE).run(job, FIRE) is not None
    assert _runner(settings, engine, "b", FIRE + timedelta(minutes=5)).run(job, FIRE) is None
    assert _runner(settings, engine, "b", FIRE).run(job, FIRE + timedelta(days=1)) is not None
    assert bodies == ["a", "b"]


def _refresh(settings: Settings, engine: Engine, at: datetime, **options: Any) -> Outcome:
    job = JobSchedule(name="sanctions-refresh", cron="0 */6 * * *", options=options)
    outcome = _runner(settings, engine, "refresher", at).run(job, at)
    assert outcome is not None
    return outcome


def test_the_sanctions_refresh_keeps_the_old_version_on_a_bad_file_and_loads_a_changed_one(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    source = tmp_path / "published"
    write_sdn(source, [(901, "BLIXQUENT, Zarathustra"), (902, "DOE, Placeholder")])
    options = {"sources": [str(source)], "rescreen": False}
    store = ListStore(engine, settings.topic_prefix)

    first = _refresh(settings, engine, FIRE, **options)
    assert first.outcome == "ok", first.detail
    in_force = store.current()
    assert in_force is not None and in_force.loaded_by == "scheduler:sanctions-refresh"

    unchanged = _refresh(settings, engine, FIRE + timedelta(hours=6), **options)
    assert unchanged.outcome == "ok" and "unchanged" in unchanged.detail
    assert store.current() == in_force

    sdn = write_sdn(source, [(901, "BLIXQUENT, Zarathustra"), (903, "ROE, Other")]) / "sdn.csv"
    sdn.write_bytes(sdn.read_bytes()[:-25])  # cut mid-row, as a failed download would be
    bad = _refresh(settings, engine, FIRE + timedelta(hours=12), **options)
    assert bad.outcome == "failed"
    assert "sdn.csv" in bad.detail and f"{in_force.version} stays in force" in bad.detail
    assert store.current() == in_force

    write_sdn(source, [(901, "BLIXQUENT, Zarathustra"), (903, "ROE, Other")])
    changed = _refresh(settings, engine, FIRE + timedelta(hours=18), **options)
    assert changed.outcome == "ok", changed.detail
    now_in_force = store.current()
    assert now_in_force is not None and now_in_force.previous_version == in_force.version
    assert now_in_force.version in changed.detail

    finished = [r for r in _job_runs(settings) if r["phase"] == "finished"]
    assert [r["outcome"] for r in finished] == ["ok", "ok", "failed", "ok"]
    assert "stays in force" in finished[2]["detail"]


def test_a_refresh_rescreens_customers_and_job_runs_reach_the_audit_trail(
    settings: Settings, engine: Engine, processes: Processes, tmp_path: Path
) -> None:
    customer = f"C-{uuid.uuid4().hex[:8]}"
    sender = EventSender(settings)
    sender.send(
        DOCUMENTS_CLASSIFIED,
        "DocumentClassified",
        classified_passport(customer, "Zarathustra Blixquent", "1971-03-12", "IS"),
    )
    sender.flush()
    processes.start("audit-sink")
    wait_for(
        lambda: len(audited(engine, settings, "DocumentClassified")) == 1,
        60, "the customer's document audited", processes,
    )  # fmt: skip
    source = write_sdn(tmp_path / "published", [(901, "BLIXQUENT, Zarathustra")])
    outcome = _refresh(settings, engine, FIRE, sources=[str(source)])
    assert outcome.outcome == "ok", outcome.detail
    assert "re-screened 1 customer(s): 1 new hit(s) raised" in outcome.detail
    wait_for(
        lambda: len(audited(engine, settings, "JobRun")) == 2,
        60, "the run's two JobRun events audited", processes,
    )  # fmt: skip
    phases = sorted(
        str(payload["phase"]) for payload in audited(engine, settings, "JobRun").values()
    )
    assert phases == ["finished", "started"]
    conflicts = select(func.count()).where(
        audit_event_conflicts.c.topic == settings.topic(SCHEDULER_RUNS)
    )
    with engine.connect() as conn:
        assert conn.execute(conflicts).scalar_one() == 0  # two distinct events, each once
    wait_for(
        lambda: len(audited(engine, settings, "ComplianceException")) == 1,
        60, "the new hit audited as an exception", processes,
    )  # fmt: skip


def test_the_scheduler_process_catches_up_a_missed_run_that_a_cron_job_then_finds_claimed(
    settings: Settings, engine: Engine, processes: Processes, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    schedule = tmp_path / "scheduler.yaml"
    # Every minute with an hour's grace: the fire time of this minute was "missed" before start.
    schedule.write_text('misfire_grace_s: 3600\njobs:\n  sla-sweep:\n    cron: "* * * * *"\n')
    processes.start("scheduler", COMPLIANCE_SCHEDULER_FILE=str(schedule))
    claims = RunClaims(engine, settings.topic_prefix)
    wait_for(
        lambda: any(run.outcome for run in claims.runs("sla-sweep")),
        60, "the missed sla-sweep run caught up at start", processes,
    )  # fmt: skip
    run = next(run for run in claims.runs("sla-sweep") if run.outcome)
    assert run.outcome == "ok", run.detail  # the cases' SLA sweep ran
    assert "case(s) newly past their SLA" in (run.detail or "")
    processes.stop_all()

    monkeypatch.setenv("COMPLIANCE_SCHEDULER_FILE", str(schedule))
    again = compliance_cli(
        settings, "jobs", "run", "sla-sweep", "--at", run.scheduled_for.isoformat()
    )
    assert again.returncode == 0, again.stderr
    assert "already claimed" in again.stdout
    query = select(scheduler_runs.c.job).where(
        scheduler_runs.c.namespace == settings.topic_prefix,
        scheduler_runs.c.scheduled_for == run.scheduled_for,
    )
    with engine.connect() as conn:
        assert len(conn.execute(query).all()) == 1

    once = compliance_cli(settings, "jobs", "run", "sla-sweep", "--at", "2026-03-10T01:15:00Z")
    assert once.returncode == 0, once.stderr
    assert "sla-sweep at 2026-03-10T01:15:00+00:00: ok" in once.stdout


def test_the_sla_sweep_job_flags_each_overdue_case_once_with_an_audited_decision(
    settings: Settings, engine: Engine, processes: Processes
) -> None:
    from compliance.cases.queries import queue
    from compliance.cases.samples import sample_exception
    from compliance.subject_keyring import sealing_codec
    from compliance.topics import CASES_DECISIONS, COMPLIANCE_EXCEPTIONS

    late, on_time = f"C-{uuid.uuid4().hex[:10]}", f"C-{uuid.uuid4().hex[:10]}"
    at = datetime.now(UTC).replace(second=0, microsecond=0)
    sender = EventSender(settings, codec=sealing_codec(engine))
    for who, due in ((late, at - timedelta(minutes=5)), (on_time, at + timedelta(hours=5))):
        out = sample_exception(who, sla_due_at=due)
        sender.send(COMPLIANCE_EXCEPTIONS, out.event_type, out.record)
    sender.flush()
    # The processor's own sweep is an hour away: only the job flags the case here.
    processes.start("cases", COMPLIANCE_CASES_SWEEP_INTERVAL_S="3600")

    def scoped() -> dict[str, bool]:
        found = queue(engine, scope=settings.topic_prefix, statuses=None)
        return {c.customer_id: c.sla_breached for c in found}

    wait_for(lambda: len(scoped()) == 2, 60, "the two cases opened", processes)
    job = JobSchedule(name="sla-sweep", cron="* * * * *")
    runs_ok = REGISTRY.get_sample_value(
        "compliance_scheduled_runs_total", {"job": "sla-sweep", "outcome": "ok"}
    )
    first = _runner(settings, engine, "a", at).run(job, at)
    assert first == Outcome.ok("1 case(s) newly past their SLA, flagged as breached")
    assert scoped() == {late: True, on_time: False}
    later = at + timedelta(minutes=1)
    second = _runner(settings, engine, "a", later).run(job, later)
    # flagged once
    assert second == Outcome.ok("0 case(s) newly past their SLA, flagged as breached")
    runs_ok_after = REGISTRY.get_sample_value(
        "compliance_scheduled_runs_total", {"job": "sla-sweep", "outcome": "ok"}
    )
    assert (runs_ok_after or 0) - (runs_ok or 0) == 2  # each finished run counted once
    codec = registry()
    decisions = [codec.decode(v)[1] for v in read_topic(settings, CASES_DECISIONS.name)]
    breached = [d for d in decisions if d["action"] == "sla_breached"]
    assert [d["customer_id"] for d in breached] == [late]


def test_the_daily_report_job_writes_the_previous_utc_days_report(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    job = JobSchedule(name="daily-report", cron="15 1 * * *", options={"out": str(tmp_path)})
    outcome = _runner(settings, engine, "reporter", FIRE).run(job, FIRE)
    assert outcome is not None and outcome.outcome == "ok", outcome
    written = sorted(p.name for p in tmp_path.iterdir())
    assert len(written) == 3 and all("2026-03-09" in name for name in written)
    assert {Path(name).suffix for name in written} == {".csv", ".html", ".pdf"}


def test_two_scheduler_processes_started_together_run_each_fire_time_once(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    schedule = tmp_path / "scheduler.yaml"
    schedule.write_text('misfire_grace_s: 3600\njobs:\n  sla-sweep:\n    cron: "* * * * *"\n')
    logs = [tmp_path / f"scheduler-{n}.log" for n in (1, 2)]
    copies = []
    for n, log in enumerate(logs, start=1):
        env = processor_env(settings) | {
            "COMPLIANCE_SCHEDULER_FILE": str(schedule),
            "COMPLIANCE_INSTANCE_ID": f"scheduler-{n}",
        }
        copies.append(
            subprocess.Popen(
                [sys.executable, "-m", "compliance", "run", "scheduler"],
                stdout=log.open("wb"),
                stderr=subprocess.STDOUT,
                env=env,
            )
        )
    try:
        # Both copies tried the same fire time (the catch-up at start, or, if they started
        # either side of a minute, the next one): one ran it, the other found it claimed.
        def both_tried() -> bool:
            texts = [log.read_text() for log in logs]
            tried = all(
                re.search(r"job sla-sweep at \S+: (started|already claimed)", t) for t in texts
            )
            return tried and any("already claimed" in t for t in texts)

        wait_for(both_tried, 90, "both scheduler copies trying the same fire time")
    finally:
        for proc in copies:
            proc.send_signal(signal.SIGTERM)
        for proc in copies:
            assert proc.wait(30) == 0
    runs = _job_runs(settings)
    pairs: dict[datetime, list[str]] = {}
    for run in runs:
        pairs.setdefault(run["scheduled_for"], []).append(run["phase"])
    assert pairs and all(sorted(phases) == ["finished", "started"] for phases in pairs.values())


class _PublishedLists(http.server.BaseHTTPRequestHandler):
    """Serves /sdn.csv from ``folder``; answers 503 while ``down``."""

    folder = Path()
    down = False

    def do_GET(self) -> None:
        if self.down:
            self.send_error(503)
            return
        body = (self.folder / Path(self.path).name).read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


def test_the_sanctions_refresh_over_http_keeps_the_version_in_force_while_the_source_fails(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    _PublishedLists.folder = write_sdn(tmp_path / "site", [(901, "BLIXQUENT, Zarathustra")])
    _PublishedLists.down = False
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _PublishedLists)
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/ofac/sdn.csv"
    store = ListStore(engine, settings.topic_prefix)
    try:
        loaded = _refresh(settings, engine, FIRE, sources=[url], rescreen=False)
        assert loaded.outcome == "ok", loaded.detail
        in_force = store.current()
        assert in_force is not None and [f.name for f in in_force.files] == ["sdn.csv"]

        _PublishedLists.down = True
        write_sdn(tmp_path / "site", [(901, "BLIXQUENT, Zarathustra"), (903, "ROE, Other")])
        failed = _refresh(settings, engine, FIRE + timedelta(hours=6), sources=[url])
        assert failed.outcome == "failed"
        assert "HTTP 503" in failed.detail and "stays in force" in failed.detail
        assert store.current() == in_force

        _PublishedLists.down = False
        changed = _refresh(settings, engine, FIRE + timedelta(hours=12), sources=[url])
        assert changed.outcome == "ok", changed.detail
        assert store.current() != in_force
    finally:
        server.shutdown()
        server.server_close()
        serving.join(5)


def test_a_run_by_hand_for_an_instant_off_the_schedule_is_refused_unless_forced(
    settings: Settings, engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    schedule = tmp_path / "scheduler.yaml"
    schedule.write_text('misfire_grace_s: 3600\njobs:\n  sla-sweep:\n    cron: "15 1 * * *"\n')
    monkeypatch.setenv("COMPLIANCE_SCHEDULER_FILE", str(schedule))
    claims = RunClaims(engine, settings.topic_prefix)

    off = compliance_cli(settings, "jobs", "run", "sla-sweep", "--at", "2026-03-10T01:16:00Z")
    assert off.returncode == 2
    assert "not a fire time of job sla-sweep" in off.stderr
    assert "2026-03-11T01:15:00+00:00" in off.stderr  # the next one, to help
    assert claims.runs("sla-sweep") == []  # nothing claimed, nothing run

    on = compliance_cli(settings, "jobs", "run", "sla-sweep", "--at", "2026-03-10T01:15:00Z")
    assert on.returncode == 0, on.stderr
    forced = compliance_cli(
        settings, "jobs", "run", "sla-sweep", "--at", "2026-03-10T01:16:00Z", "--force"
    )
    assert forced.returncode == 0, forced.stderr
    assert "(forced)" in forced.stdout

    runs = {run.scheduled_for: run for run in claims.runs("sla-sweep")}
    assert runs[datetime(2026, 3, 10, 1, 15, tzinfo=UTC)].forced is False
    assert runs[datetime(2026, 3, 10, 1, 16, tzinfo=UTC)].forced is True
    announced = {
        (r["scheduled_for"], r["phase"]): r["forced"]
        for r in _job_runs(settings)
        if r["job"] == "sla-sweep"
    }
    assert announced == {
        (datetime(2026, 3, 10, 1, 15, tzinfo=UTC), "started"): False,
        (datetime(2026, 3, 10, 1, 15, tzinfo=UTC), "finished"): False,
        (datetime(2026, 3, 10, 1, 16, tzinfo=UTC), "started"): True,
        (datetime(2026, 3, 10, 1, 16, tzinfo=UTC), "finished"): True,
    }
    listed = compliance_cli(settings, "jobs", "runs", "--job", "sla-sweep")
    assert listed.returncode == 0 and " forced:" in listed.stdout
