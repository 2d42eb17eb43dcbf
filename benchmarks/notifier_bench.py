"""Notifier benchmark: exceptions per second turned into delivered notifications, through the
real broker and database, with the webhook answering every post in 200 ms.

Run from the project root, with `make services` up:
  .venv/bin/python benchmarks/notifier_bench.py [--exceptions N] [--delay-s 0.2] [--in-flight K]
Writes the figure ``notifications/s with the webhook answering in 200 ms`` (target 1,000) into
benchmarks/results/cases.json, read-modify-write: the case management benchmark writes there too.

`compliance run notifier` runs as ``--notifiers`` processes (copies sharing the partitions
and the outbox, as deployed at scale), with one Slack route taking every
exception and showing its masked reason (opened and sealed again per exception), against
tests/support/webhook_stub.py in a process of its own answering 200 after ``--delay-s``.
Once the notifier has started, N exception events (sealed as the checker seals them, encoded
beforehand) are published; timed from the first publication to the moment the last outbox row
is marked delivered. Every figure is end to end: Kafka, the outbox insert, the post, the
outcome written back.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from host import ROOT, machine, use_checkout, write_results

use_checkout(development_mode=True, tests=True)

from confluent_kafka import Producer  # noqa: E402
from sqlalchemy import Engine, func, select  # noqa: E402

from compliance import kafka_io  # noqa: E402
from compliance.audit.store import connect, require_database  # noqa: E402
from compliance.codec import registry  # noqa: E402
from compliance.config import Settings  # noqa: E402
from compliance.db_setup import initialise  # noqa: E402
from compliance.events import subject_key  # noqa: E402
from compliance.notify.store import DELIVERED, outbox  # noqa: E402
from compliance.subject_keyring import DatabaseKeyring  # noqa: E402
from compliance.topics import COMPLIANCE_EXCEPTIONS  # noqa: E402
from tests.support.exception_events import rule_exception  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "cases.json"
FIGURE = "notifications/s with the webhook answering in 200 ms"
TARGET = 1_000.0
Figures = dict[str, dict[str, Any]]
SHARED_CPUS = " shared by every process of the run (broker, database and webhook stub included)"


def figure(figures: Figures, name: str, value: float, unit: str, target: float | None = None):
    figures[name] = {"value": round(value, 2), "unit": unit, "target": target}
    print(f"{name:60} {value:12,.2f} {unit}" + (f"   (target {target:,})" if target else ""))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_s(pid: int) -> float:
    """CPU seconds (user and system) a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def delivered(engine: Engine, scope: str) -> int:
    query = select(func.count()).where(outbox.c.scope == scope, outbox.c.status == DELIVERED)
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def routes_file(folder: Path, in_flight: int) -> Path:
    path = folder / "notifier-bench.yaml"
    path.write_text(
        f"""
delivery:
  attempt_timeout_s: 10
  in_flight_per_route: {in_flight}
routes:
  - name: bench-slack
    kind: slack
    webhook_url_env: BENCH_SLACK_URL
    show: [severity, category, rule_id, customer_id, document_id, sla_due_at, reason]
""",
        encoding="utf-8",
    )
    return path


def run(args: argparse.Namespace, figures: Figures) -> None:
    prefix = f"nbench{uuid.uuid4().hex[:8]}."
    settings = Settings(topic_prefix=prefix, instance_id=f"bench-{prefix}")
    kafka_io.require_broker(settings)
    admin_engine = connect(settings.admin_database_dsn)
    require_database(admin_engine, "COMPLIANCE_ADMIN_DATABASE_URL")
    initialise(admin_engine, settings)  # the outbox made, the processors' role granted
    kafka_io.create_topics(settings)
    folder = ROOT / ".services" / "bench-logs"
    folder.mkdir(parents=True, exist_ok=True)
    codec = registry().with_keyring(DatabaseKeyring(admin_engine))
    records = [rule_exception(f"C-{i % 5000}") for i in range(args.exceptions)]
    codec.prefetch_keys(r["envelope"]["subject_id"] for r in records)
    encoded = [(subject_key(r), codec.encode("ComplianceException", r)) for r in records]

    port = free_port()
    stub = subprocess.Popen(
        [sys.executable, "-m", "tests.support.webhook_stub", str(port), str(args.delay_s)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    env = os.environ | {
        "COMPLIANCE_TOPIC_PREFIX": prefix,
        "COMPLIANCE_INSTANCE_ID": settings.instance_id,
        "COMPLIANCE_LOG_LEVEL": "WARNING",
        "COMPLIANCE_NOTIFIER_ROUTES_FILE": str(routes_file(folder, args.in_flight)),
        "COMPLIANCE_NOTIFIER_REVIEW_BASE_URL": "https://review.example",
        "BENCH_SLACK_URL": f"http://127.0.0.1:{port}/services/bench",
    }
    notifiers = []
    for copy in range(args.notifiers):  # copies share the partitions and the outbox
        log = (folder / f"{prefix}notifier-{copy}.log").open("ab")
        notifiers.append(
            subprocess.Popen(
                [sys.executable, "-m", "compliance", "run", "notifier"],
                env=env | {"COMPLIANCE_INSTANCE_ID": f"{settings.instance_id}-{copy}"},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
    try:
        time.sleep(5)  # start-up (imports, group join) is not the notifier's speed
        producer = Producer({"bootstrap.servers": settings.kafka_bootstrap, "linger.ms": 5})
        cpu_before = sum(cpu_s(n.pid) for n in notifiers), cpu_s(stub.pid)
        started = time.monotonic()
        for key, value in encoded:
            producer.produce(settings.topic(COMPLIANCE_EXCEPTIONS), key=key, value=value)
            producer.poll(0)
        assert producer.flush(60) == 0
        published = time.monotonic()
        deadline = started + 600
        done = 0
        while time.monotonic() < deadline:
            for notifier in notifiers:
                assert notifier.poll() is None, f"a notifier exited with {notifier.returncode}"
            done = delivered(admin_engine, prefix)
            if done >= len(encoded):
                break
            time.sleep(0.2)
        finished = time.monotonic()
        cpu_used = (
            sum(cpu_s(n.pid) for n in notifiers) - cpu_before[0],
            cpu_s(stub.pid) - cpu_before[1],
        )
    finally:
        for notifier in notifiers:
            notifier.send_signal(signal.SIGTERM)
        for notifier in notifiers:
            try:
                notifier.wait(60)
            except subprocess.TimeoutExpired:
                notifier.kill()
        stub.send_signal(signal.SIGTERM)
        stub.wait(10)
        client = kafka_io.admin(settings)
        topics = [t for t in client.list_topics(timeout=10).topics if t.startswith(prefix)]
        for future in client.delete_topics(topics, operation_timeout=30).values():
            future.result()
    assert done >= len(encoded), f"only {done} of {len(encoded)} notifications delivered"
    seconds = finished - started
    label = f"with the webhook answering in {args.delay_s * 1000:g} ms"
    name = FIGURE if args.delay_s == 0.2 else f"notifications/s {label}"
    figure(figures, name, len(encoded) / seconds, "notifications/s", TARGET)
    figure(figures, "notifier: notifications in the run", len(encoded), "notifications")
    figure(
        figures,
        "notifier: seconds, first exception published to last notification delivered",
        seconds,
        "s",
    )
    figure(figures, "notifier: publishing exceptions/s", len(encoded) / (published - started), "/s")
    figure(figures, "notifier: posts in flight per route (bound)", args.in_flight, "posts")
    figure(figures, "notifier: processes (copies sharing the work)", args.notifiers, "processes")
    per_note = 1000 * cpu_used[0] / len(encoded)
    figure(
        figures, "notifier: CPU ms per notification (consume, store, post, record)", per_note, "ms"
    )
    figure(figures, "webhook stub: CPU ms per post", 1000 * cpu_used[1] / len(encoded), "ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--exceptions", type=int, default=20_000)
    parser.add_argument("--delay-s", type=float, default=0.2)
    parser.add_argument("--in-flight", type=int, default=256)
    parser.add_argument("--notifiers", type=int, default=1)
    args = parser.parse_args()
    figures: Figures = {}
    one, five, fifteen = os.getloadavg()
    run(args, figures)
    after = os.getloadavg()
    figures["notifier: load average (1/5/15 min) before / after"] = {
        "value": f"{one:.1f} / {five:.1f} / {fifteen:.1f} -> "
        f"{after[0]:.1f} / {after[1]:.1f} / {after[2]:.1f}",
        "unit": "processes",
        "target": None,
    }
    command = (
        ".venv/bin/python benchmarks/notifier_bench.py "
        f"--exceptions {args.exceptions} --delay-s {args.delay_s:g} --in-flight {args.in_flight} "
        f"--notifiers {args.notifiers}"
    )
    write_results(RESULTS, command, machine(SHARED_CPUS), figures, keep_others=True)


if __name__ == "__main__":
    main()
