"""Cases benchmark: exceptions per second turned into cases (rows of the case tables) by
`compliance run cases`, through the real broker and database, against the raw Kafka
pass-through rate measured in the same run (the ceiling no stage can pass).

Run from the project root, with `make services` up:  .venv/bin/python benchmarks/cases_bench.py
Options: --exceptions N (default 20,000), --customers C (default 2,000), --database-url URL
(default COMPLIANCE_DATABASE_URL). Writes its figures into benchmarks/results/cases.json,
keeping the figures other benchmarks wrote there (read, merge, write).

1. The ceiling: N records of the size of the exception events below, consumed and produced
   again by a plain confluent-kafka loop (``pipeline_bench.ceiling``).
2. Cases: `compliance run cases` is started on fresh topics; N exceptions (C customers, five
   categories, severities mixed, reason and details sealed as the processors write them) are
   encoded first, then published; timed from the first publication to the moment every
   exception is a row of a case (``case_exceptions``), its decision committed on
   cases.decisions before that.
3. Cases and notifications (``exceptions/s to cases and notifications``): on fresh topics
   again, `compliance run cases` and `compliance run notifier` run side by side on the same N
   exceptions, the notifier with one Slack route taking every exception and showing its masked
   reason, posting to tests/support/webhook_stub.py (a process of its own) answering every post
   after ``--webhook-delay-s`` (200 ms); timed from the first publication until both have
   finished: every exception in a case and every notification marked delivered in the outbox.
   Each one's own rate (publication to its last) and CPU per exception come from the same run,
   and so does the webhook side's ceiling: a bare HTTP client posting to the stub with as many
   posts in flight as the notifier may have, before the processors start.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

from host import ROOT, machine, use_checkout, write_results
from notifier_bench import routes_file
from pipeline_bench import SHARED_CPUS, Figures, ceiling, figure, load

use_checkout(development_mode=True)

from confluent_kafka import Producer  # noqa: E402
from sqlalchemy import Engine, func, select  # noqa: E402

from compliance import kafka_io  # noqa: E402
from compliance.audit.store import connect, create_schema, require_database  # noqa: E402
from compliance.cases.samples import sample_exception  # noqa: E402
from compliance.cases.tables import case_exceptions, cases, create_cases_schema  # noqa: E402
from compliance.config import Settings  # noqa: E402
from compliance.notify.store import DELIVERED, create_outbox_table, outbox  # noqa: E402
from compliance.subject_keyring import sealing_codec  # noqa: E402
from compliance.topics import COMPLIANCE_EXCEPTIONS  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "cases.json"
TARGET_EXCEPTIONS_PER_S = 1_000.0
COMBINED = "exceptions/s to cases and notifications"
CEILING = "cases: ceiling, Kafka pass-through events/s (same run)"
CATEGORIES = (
    ("kyc", "identity.name-present"),
    ("sanctions", "aml.sanctions-name-screen"),
    ("transaction_monitoring", "tx.structuring"),
    ("gdpr", "gdpr.consent-present"),
    ("document_quality", None),
)
SEVERITIES = ("low", "medium", "medium", "high", "critical")


def exceptions(
    settings: Settings, engine: Engine, count: int, customers: int
) -> list[tuple[bytes, bytes]]:
    """``count`` exception events as (key, value), sealed as the processors write them."""
    codec = sealing_codec(engine)
    codec.prefetch_keys(f"BC-{settings.topic_prefix}{i}" for i in range(customers))
    made = []
    for i in range(count):
        customer = f"BC-{settings.topic_prefix}{i % customers}"
        category, rule = CATEGORIES[(i // customers) % len(CATEGORIES)]
        out = sample_exception(
            customer,
            category=category,
            rule_id=rule,
            kind="rule_failed" if rule else "document_unreadable",
            severity=SEVERITIES[i % len(SEVERITIES)],
            reason=f"benchmark exception {i}: the rule failed for this document",
            details={"field": "full_name", "value": f"Person {i}"},
        )
        made.append((customer.encode(), codec.encode(out.event_type, out.record)))
    return made


def in_cases(engine: Engine, scope: str) -> int:
    ids = select(cases.c.case_id).where(cases.c.scope == scope)
    query = select(func.count()).where(case_exceptions.c.case_id.in_(ids))
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def cases_run(
    settings: Settings, engine: Engine, events: list[tuple[bytes, bytes]], figures: Figures
) -> None:
    env = os.environ | {
        "COMPLIANCE_DATABASE_URL": settings.database_dsn,
        "COMPLIANCE_TOPIC_PREFIX": settings.topic_prefix,
        "COMPLIANCE_INSTANCE_ID": settings.instance_id,
        "COMPLIANCE_LOG_LEVEL": "INFO",  # the line saying it consumes: it is ready
    }
    log_dir = ROOT / ".services" / "bench-logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{settings.topic_prefix}cases.log"
    log = log_path.open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "compliance", "run", "cases"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        # The process's start-up (imports, the projection read, the group join) is not
        # the figure: publishing starts once it consumes.
        ready = time.monotonic() + 120
        while "cases consuming" not in log_path.read_text(errors="replace"):
            assert proc.poll() is None and time.monotonic() < ready, "cases did not start"
            time.sleep(0.2)
        time.sleep(2)  # the group join
        producer = Producer({"bootstrap.servers": settings.kafka_bootstrap, "linger.ms": 5})
        topic = settings.topic(COMPLIANCE_EXCEPTIONS)
        load_before = load()
        started = time.monotonic()
        for key, value in events:
            producer.produce(topic, key=key, value=value)
            producer.poll(0)
        assert producer.flush(60) == 0
        published = time.monotonic()
        deadline = started + 1800
        done = 0
        while time.monotonic() < deadline:
            assert proc.poll() is None, f"the cases processor exited with {proc.returncode}"
            done = in_cases(engine, settings.topic_prefix)
            if done >= len(events):
                break
            time.sleep(0.25)
        finished = time.monotonic()
        load_after = load()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
    assert done >= len(events), f"only {done} of {len(events)} exceptions in cases"
    with engine.connect() as conn:
        opened = conn.execute(
            select(func.count()).where(cases.c.scope == settings.topic_prefix)
        ).scalar_one()
    seconds = finished - started
    figure(
        figures,
        "exceptions/s to cases",
        len(events) / seconds,
        "exceptions/s",
        TARGET_EXCEPTIONS_PER_S,
    )
    figure(figures, "cases: exceptions", len(events), "exceptions")
    figure(figures, "cases: cases opened", opened, "cases")
    figure(
        figures, "cases: seconds, first publication to the last exception in a case", seconds, "s"
    )
    figure(
        figures,
        "cases: publishing exceptions/s",
        len(events) / (published - started),
        "exceptions/s",
    )
    figures["cases: load average (1/5/15 min) before / after"] = {
        "value": f"{load_before} | {load_after}",
        "unit": "runnable processes",
        "target": None,
    }


def delivered(engine: Engine, scope: str) -> int:
    query = select(func.count()).where(outbox.c.scope == scope, outbox.c.status == DELIVERED)
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def cpu_s(pid: int) -> float:
    """CPU seconds (user and system) a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def webhook_ceiling(url: str, posts: int, in_flight: int) -> tuple[float, float]:
    """Posts/s and CPU ms per post of a bare HTTP client (aiohttp, as the notifier's) posting
    a Slack-sized body to the stub with ``in_flight`` posts at once: what no notifier can pass
    on this machine at this moment."""
    import asyncio

    import aiohttp

    body = json.dumps({"text": "x" * 80, "blocks": [{"type": "section", "text": "y" * 600}]})

    async def run() -> tuple[float, float]:
        async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=in_flight),
            timeout=aiohttp.ClientTimeout(total=30),
        ) as session:
            slots = asyncio.Semaphore(in_flight)

            async def one() -> None:
                async with slots, session.post(url, data=body) as response:
                    await response.read()
                    assert response.status == 200

            await asyncio.gather(*(one() for _ in range(in_flight)))  # connections made
            cpu, started = time.process_time(), time.monotonic()
            await asyncio.gather(*(one() for _ in range(posts)))
            return posts / (time.monotonic() - started), (time.process_time() - cpu) / posts

    return asyncio.run(run())


def wait_for_line(proc: subprocess.Popen[bytes], log_path: Path, line: str, what: str) -> None:
    ready = time.monotonic() + 120
    while line not in log_path.read_text(errors="replace"):
        assert proc.poll() is None and time.monotonic() < ready, f"{what} did not start"
        time.sleep(0.2)


def combined_run(
    settings: Settings,
    engine: Engine,
    events: list[tuple[bytes, bytes]],
    figures: Figures,
    delay_s: float,
    in_flight: int,
) -> None:
    """`compliance run cases` and `compliance run notifier` side by side on the same
    exceptions, the webhook answering after ``delay_s``."""
    prefix = settings.topic_prefix
    log_dir = ROOT / ".services" / "bench-logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    stub = subprocess.Popen(
        [sys.executable, "-m", "tests.support.webhook_stub", str(port), str(delay_s)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    env = os.environ | {
        "COMPLIANCE_DATABASE_URL": settings.database_dsn,
        "COMPLIANCE_TOPIC_PREFIX": prefix,
        "COMPLIANCE_LOG_LEVEL": "INFO",  # the line saying it consumes: it is ready
        # The stub answers plain http on 127.0.0.1: only a development machine may post there.
        "COMPLIANCE_DEVELOPMENT_MODE": "true",
        "COMPLIANCE_NOTIFIER_ROUTES_FILE": str(routes_file(log_dir, in_flight)),
        "COMPLIANCE_NOTIFIER_REVIEW_BASE_URL": "https://review.example",
        "BENCH_SLACK_URL": f"http://127.0.0.1:{port}/services/bench",
    }
    procs: dict[str, subprocess.Popen[bytes]] = {}
    logs: dict[str, Path] = {}
    finished: dict[str, float] = {}
    try:
        time.sleep(1)  # the stub listens
        load_ceiling = load()
        ceiling_rate, ceiling_cpu = webhook_ceiling(
            env["BENCH_SLACK_URL"], min(len(events), 10_000), in_flight
        )
        figure(
            figures,
            "cases and notifications: ceiling, bare HTTP client posts/s to the stub (same run)",
            ceiling_rate,
            "posts/s",
        )
        figure(
            figures,
            "cases and notifications: ceiling's CPU ms per post (bare HTTP client)",
            1000 * ceiling_cpu,
            "ms",
        )
        figures["cases and notifications: ceiling's load average (1/5/15 min) before"] = {
            "value": load_ceiling,
            "unit": "runnable processes",
            "target": None,
        }
        for name in ("cases", "notifier"):
            logs[name] = log_dir / f"{prefix}{name}.log"
            procs[name] = subprocess.Popen(
                [sys.executable, "-m", "compliance", "run", name],
                env=env | {"COMPLIANCE_INSTANCE_ID": f"{settings.instance_id}-{name}"},
                stdout=logs[name].open("ab"),
                stderr=subprocess.STDOUT,
            )
        wait_for_line(procs["cases"], logs["cases"], "cases consuming", "cases")
        wait_for_line(procs["notifier"], logs["notifier"], "notifier consuming", "the notifier")
        time.sleep(2)  # the group joins
        producer = Producer({"bootstrap.servers": settings.kafka_bootstrap, "linger.ms": 5})
        topic = settings.topic(COMPLIANCE_EXCEPTIONS)
        load_before = load()
        cpu_before = {name: cpu_s(p.pid) for name, p in procs.items()}
        started = time.monotonic()
        for key, value in events:
            producer.produce(topic, key=key, value=value)
            producer.poll(0)
        assert producer.flush(60) == 0
        deadline = started + 1800
        counts = {"cases": 0, "notifier": 0}
        while len(finished) < 2 and time.monotonic() < deadline:
            for name, proc in procs.items():
                assert proc.poll() is None, f"{name} exited with {proc.returncode}"
            for name, count in (
                ("cases", lambda: in_cases(engine, prefix)),
                ("notifier", lambda: delivered(engine, prefix)),
            ):
                if name not in finished:
                    counts[name] = count()
                    if counts[name] >= len(events):
                        finished[name] = time.monotonic()
            time.sleep(0.2)
        cpu_used = {name: cpu_s(p.pid) - cpu_before[name] for name, p in procs.items()}
        load_after = load()
    finally:
        for proc in procs.values():
            proc.send_signal(signal.SIGTERM)
        for proc in procs.values():
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
        stub.send_signal(signal.SIGTERM)
        stub.wait(10)
    assert len(finished) == 2, f"not finished in time: {counts} of {len(events)}"
    n = len(events)
    both = max(finished.values()) - started
    figure(figures, COMBINED, n / both, "exceptions/s", TARGET_EXCEPTIONS_PER_S)
    figure(figures, "cases and notifications: exceptions (one notification each)", n, "exceptions")
    figure(figures, "cases and notifications: seconds, first publication to both done", both, "s")
    figure(
        figures,
        "cases and notifications: the cases processor's own exceptions/s (same run)",
        n / (finished["cases"] - started),
        "exceptions/s",
    )
    figure(
        figures,
        "cases and notifications: the notifier's own notifications/s (same run)",
        n / (finished["notifier"] - started),
        "notifications/s",
    )
    figure(
        figures,
        "cases and notifications: webhook answer delay",
        delay_s * 1000,
        "ms",
    )
    figure(figures, "cases and notifications: notifier posts in flight (bound)", in_flight, "posts")
    figure(
        figures,
        "cases and notifications: cases CPU ms per exception",
        1000 * cpu_used["cases"] / n,
        "ms",
    )
    figure(
        figures,
        "cases and notifications: notifier CPU ms per notification",
        1000 * cpu_used["notifier"] / n,
        "ms",
    )
    figures["cases and notifications: load average (1/5/15 min) before / after"] = {
        "value": f"{load_before} | {load_after}",
        "unit": "runnable processes",
        "target": None,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--exceptions", type=int, default=20_000)
    parser.add_argument("--customers", type=int, default=2_000)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--webhook-delay-s", type=float, default=0.2)
    parser.add_argument("--notifier-in-flight", type=int, default=512)
    parser.add_argument(
        "--only-combined", action="store_true", help="the ceiling and section 3 only"
    )
    args = parser.parse_args()
    prefix = f"cbench{uuid.uuid4().hex[:8]}."
    overrides = {"database_url": args.database_url} if args.database_url else {}
    settings = Settings(topic_prefix=prefix, instance_id=f"bench-{prefix}", **overrides)
    both = Settings(topic_prefix=f"n{prefix}", instance_id=f"bench-n{prefix}", **overrides)
    kafka_io.require_broker(settings)
    engine = connect(settings.database_dsn)
    require_database(engine)
    create_schema(engine)
    create_cases_schema(engine)
    create_outbox_table(engine)
    kafka_io.create_topics(settings)
    kafka_io.create_topics(both)
    figures: Figures = {}
    started = time.monotonic()
    try:
        events = exceptions(settings, engine, args.exceptions, args.customers)
        ceiling(settings, [value for _, value in events], figures)
        # named for this benchmark: another one writes its own ceiling into cases.json
        figures[CEILING] = figures.pop("ceiling: Kafka pass-through events/s")
        if not args.only_combined:
            cases_run(settings, engine, events, figures)
        # Exceptions of their own (event ids and customers): those above are in cases already.
        fresh = exceptions(both, engine, args.exceptions, args.customers)
        combined_run(both, engine, fresh, figures, args.webhook_delay_s, args.notifier_in_flight)
    finally:
        admin = kafka_io.admin(settings)
        topics = [
            t
            for t in admin.list_topics(timeout=10).topics
            if t.startswith((prefix, both.topic_prefix))
        ]
        for future in admin.delete_topics(topics, operation_timeout=30).values():
            future.result()
    figure(figures, "cases: benchmark wall time", time.monotonic() - started, "s")
    command = (
        ".venv/bin/python benchmarks/cases_bench.py "
        f"--exceptions {args.exceptions} --customers {args.customers} "
        f"--webhook-delay-s {args.webhook_delay_s:g} "
        f"--notifier-in-flight {args.notifier_in_flight}"
        + (" --only-combined" if args.only_combined else "")
        + (" --database-url <a PostgreSQL 15 cluster of its own>" if args.database_url else "")
    )
    write_results(RESULTS, command, machine(SHARED_CPUS), figures, keep_others=True)


if __name__ == "__main__":
    main()
