"""Audit sink benchmark: events per second through the real broker into PostgreSQL, against
the raw COPY rate of the same rows into the same database (the ceiling), in the same run.

Run from the project root, with `make services` up:  .venv/bin/python benchmarks/audit_bench.py
Options: --events N (default 100,000); --parallel K (default 2, 0 to skip): also run K sink
processes (one consumer group, partitions shared out by the broker) on N fresh events, reported
under figures named "K sink processes" next to the single-process ones; --prepare-processes P
(default 1, 0 to skip): also run one sink with P preparing processes of its own
(``audit_prepare_processes``) on N fresh events, for reference. Writes
benchmarks/results/audit.json, with the machine's load average before and after the run.

1. N synthetic events (six per document, realistic sizes: personal fields that get sealed,
   rule results, exceptions) are produced to fresh topics with a prefix of their own.
2. `compliance run audit-sink` is started as a process, as in production. Two rates: from
   its start until the last of the N rows is in ``audit_events`` (start-up included: imports,
   the preparing process, migrations check, group join), and the steady rate from the first
   rows seen to the last, which is the one held to the targets (a sink runs for months; its
   start-up is paid once).
3. The ceiling: the rows the sink wrote are read back and COPYed, as stored, into
   ``audit_events`` itself in a transaction that is rolled back (the same rows into the same
   table, indexes and partition), timed, in the binary COPY format the sink writes with (the
   server's fastest). For reference, also in the text format, and into an empty scratch table
   shaped like it (same columns, indexes, monthly partition), dropped afterwards.
4. Where the time goes, as CPU per event (less swayed by other work on a shared machine than
   rates), from the first row to the last: the sink's process (with any preparing processes
   of its own), the PostgreSQL backends serving its connections, PostgreSQL's WAL writer,
   checkpointer and background writer, and the Kafka broker (the last two serve everyone on
   the machine: on a busy one they overstate the sink's share). Their sum sets a ceiling that
   no design of the sink's threads can pass: the machine's cores divided by it.
The N rows stay in the audit table (it is append-only), under the benchmark's topic prefix.
"""

from __future__ import annotations

import argparse
import io
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable
from pathlib import Path

from host import ROOT, load_average, machine, use_checkout, write_results

# the synthetic traffic lives with the tests that use it too
use_checkout(development_mode=True, tests=True)

from sqlalchemy import Engine, text  # noqa: E402

from compliance import kafka_io  # noqa: E402
from compliance.audit.partitions import month_of, next_month  # noqa: E402
from compliance.audit.store import connect, create_schema, require_database  # noqa: E402
from compliance.audit.writer import COLUMNS  # noqa: E402
from compliance.config import Settings  # noqa: E402
from tests import audit_synthetic as synthetic  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "audit.json"
TARGET_EVENTS_PER_S = 30_000.0
TARGET_SHARE_OF_COPY = 0.4

Figures = dict[str, dict[str, object]]


def figure(figures: Figures, name: str, value: float, unit: str, target: float | None = None):
    figures[name] = {"value": round(value, 4), "unit": unit, "target": target}
    print(f"{name:48} {value:14,.2f} {unit}" + (f"   (target {target:,})" if target else ""))


def rows_written(engine: Engine, prefix: str) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                text("SELECT count(*) FROM audit_events WHERE topic LIKE :p"), {"p": prefix + "%"}
            ).scalar_one()
        )


def _proc_stats() -> dict[int, list[str]]:
    stats: dict[int, list[str]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stats[int(entry.name)] = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
    return stats


def cpu_seconds(pids: list[int]) -> float:
    """CPU time used so far by the processes ``pids`` and their children (the sink's
    preparing processes), from /proc (0.0 where it cannot be read)."""
    stats = _proc_stats()
    family = set(pids) | {pid for pid, fields in stats.items() if int(fields[1]) in pids}
    return sum(int(stats[p][11]) + int(stats[p][12]) for p in family if p in stats) / _TICK


_TICK = os.sysconf("SC_CLK_TCK")
# PostgreSQL's own background processes (WAL writer, checkpointer, background writer): the
# sink's commits make their work, but they serve every client of the server.
_PG_AUX = (b"postgres: walwriter", b"postgres: checkpointer", b"postgres: background writer")


def _cmdline_pids(prefixes: tuple[bytes, ...]) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "cmdline").read_bytes().startswith(prefixes):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def _listening_pids(port: int) -> list[int]:
    """The processes holding a socket that listens on TCP ``port`` (the broker the sink reads
    from, not other brokers the machine may run), from /proc."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(f"socket:[{fields[9]}]")
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if any(os.readlink(fd) in inodes for fd in (entry / "fd").iterdir()):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


class CpuMeter:
    """CPU seconds, read from /proc, of each party to an audited event: the sink's processes,
    the PostgreSQL backends serving its connections (found by the application name the
    benchmark gives the sink, ``PGAPPNAME``), PostgreSQL's background processes, and the
    Kafka broker (found by its main class). The last two are shared with anything else the
    machine runs: on a busy machine they overstate the sink's share."""

    def __init__(
        self, settings: Settings, engine: Engine, application_name: str, sinks: list[int]
    ) -> None:
        self.engine = engine
        self.application_name = application_name
        self.sinks = sinks
        self.backends: set[int] = set()
        postmaster = set(_listening_pids(engine.url.port or 5432))
        stats = _proc_stats()
        self.aux = [
            p for p in _cmdline_pids(_PG_AUX) if p in stats and int(stats[p][1]) in postmaster
        ]
        port = int(settings.kafka_bootstrap.split(",")[0].rsplit(":", 1)[1])
        self.broker = _listening_pids(port)

    def read(self) -> dict[str, float]:
        with self.engine.connect() as conn:
            self.backends |= set(
                conn.execute(
                    text("SELECT pid FROM pg_stat_activity WHERE application_name = :a"),
                    {"a": self.application_name},
                ).scalars()
            )
        stats = _proc_stats()

        def used(pids: Iterable[int]) -> float:
            return sum(int(stats[p][11]) + int(stats[p][12]) for p in pids if p in stats) / _TICK

        return {
            "sink": cpu_seconds(self.sinks),
            "postgres backends": used(self.backends),
            "postgres background": used(self.aux),
            "kafka broker": used(self.broker),
        }


def run_sink(
    settings: Settings,
    engine: Engine,
    expected: int,
    processes: int = 1,
    environment: dict[str, str] | None = None,
) -> tuple[float, float, dict[str, float]]:
    """Start the sink (``processes`` copies of it, with ``environment`` added to their
    settings), wait for every row; return (seconds from start, steady rate: rows written
    after the first were seen, per second until the last, CPU microseconds per row over the
    same span of each party: ``CpuMeter``)."""
    application_name = f"audit-bench-{settings.topic_prefix}"
    env = os.environ | {
        "COMPLIANCE_TOPIC_PREFIX": settings.topic_prefix,
        "COMPLIANCE_INSTANCE_ID": settings.instance_id,
        "COMPLIANCE_LOG_LEVEL": "WARNING",
        "PGAPPNAME": application_name,  # libpq names the sink's connections with it
        **(environment or {}),
    }
    log = (ROOT / ".services" / "audit-bench-sink.log").open("ab")
    started = time.perf_counter()
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "compliance", "run", "audit-sink"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        for _ in range(processes)
    ]
    meter = CpuMeter(settings, engine, application_name, [proc.pid for proc in procs])
    first, first_count, first_cpu = started, 0, meter.read()
    try:
        while True:
            count = rows_written(engine, settings.topic_prefix)
            stamp = time.perf_counter()
            if count and not first_count:
                first, first_count, first_cpu = stamp, count, meter.read()
            if count >= expected:
                rows = max(count - first_count, 1)
                cpu_us = {k: (v - first_cpu[k]) * 1e6 / rows for k, v in meter.read().items()}
                steady = (count - first_count) / max(stamp - first, 1e-9)
                return stamp - started, steady, cpu_us
            for proc in procs:
                if proc.poll() is not None:
                    raise RuntimeError(f"the audit sink exited with {proc.returncode}")
            if stamp - started > 600:
                raise TimeoutError(f"only {count} of {expected} rows after 600 s")
            time.sleep(0.1)
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(30)


def raw_copy_seconds(engine: Engine, prefix: str) -> tuple[int, float, float, float]:
    """COPY the rows the sink wrote, as stored, (1) into ``audit_events`` itself in a
    transaction rolled back afterwards: the same rows into the same table, indexes and
    partition the sink wrote them to, in the binary format the sink writes (the ceiling the
    sink is held to); (2) the same in the text format; (3) in binary into an empty scratch
    table shaped like it (same columns, indexes, monthly partition), dropped after.
    Returns (rows, seconds for each of the three)."""
    scratch = f"audit_bench_copy_{uuid.uuid4().hex[:8]}"
    select = f"SELECT {COLUMNS} FROM audit_events WHERE topic LIKE '{prefix}%'"
    data = {"binary": io.BytesIO(), "text": io.BytesIO()}
    with engine.begin() as conn:
        cur = conn.connection.dbapi_connection.cursor()
        cur.copy_expert(f"COPY ({select}) TO STDOUT BINARY", data["binary"])
        cur.copy_expert(f"COPY ({select}) TO STDOUT", data["text"])
        cur.execute(
            "SELECT min(occurred_at), max(occurred_at) FROM audit_events WHERE topic LIKE %s",
            (prefix + "%",),
        )
        low, high = cur.fetchone()
    rows = data["text"].getvalue().count(b"\n")

    def timed_copy(table: str, form: str, keep: bool) -> float:
        data[form].seek(0)
        conn = engine.raw_connection()
        try:
            cur = conn.cursor()
            started = time.perf_counter()
            cur.copy_expert(
                f"COPY {table} ({COLUMNS}) FROM STDIN" + (" BINARY" if form == "binary" else ""),
                data[form],
                size=1 << 20,
            )
            if keep:
                conn.commit()
            elapsed = time.perf_counter() - started
            if not keep:
                conn.rollback()
            return elapsed
        finally:
            conn.close()

    into_audit_events = timed_copy("audit_events", "binary", keep=False)
    as_text = timed_copy("audit_events", "text", keep=False)
    try:
        with engine.begin() as conn:
            cur = conn.connection.dbapi_connection.cursor()
            cur.execute(
                f"CREATE TABLE {scratch} (LIKE audit_events INCLUDING ALL) "
                "PARTITION BY RANGE (occurred_at)"
            )
            month = month_of(low)
            while month <= high:
                cur.execute(
                    f"CREATE TABLE {scratch}_{month:%Y%m} PARTITION OF {scratch} "
                    "FOR VALUES FROM (%s) TO (%s)",
                    (month, next_month(month)),
                )
                month = next_month(month)
        return rows, into_audit_events, as_text, timed_copy(scratch, "binary", keep=True)
    finally:
        with engine.begin() as conn:
            conn.execute(text(f"DROP TABLE IF EXISTS {scratch}"))


def parallel_run(
    engine: Engine, events: int, processes: int, environment: dict[str, str] | None = None
) -> tuple[int, float, float, dict[str, float]]:
    """``processes`` sinks on ``events`` fresh events: (events, seconds from start, steady
    rate, CPU per event of each party)."""
    prefix = f"bench{uuid.uuid4().hex[:8]}."
    settings = Settings(topic_prefix=prefix, instance_id=f"bench-{prefix}")
    kafka_io.create_topics(settings)
    try:
        ids = synthetic.produce(settings, prefix, -(-events // synthetic.EVENTS_PER_DOCUMENT))
        total_s, steady_rate, cpu_us = run_sink(settings, engine, len(ids), processes, environment)
        return len(ids), total_s, steady_rate, cpu_us
    finally:
        delete_topics(settings, prefix)


def delete_topics(settings: Settings, prefix: str) -> None:
    admin = kafka_io.admin(settings)
    topics = [t for t in admin.list_topics(timeout=10).topics if t.startswith(prefix)]
    for future in admin.delete_topics(topics, operation_timeout=30).values():
        future.result()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument(
        "--prepare-processes",
        type=int,
        default=1,
        help="also run one sink with this many preparing processes (0 to skip)",
    )
    args = parser.parse_args()
    documents = -(-args.events // synthetic.EVENTS_PER_DOCUMENT)
    prefix = f"bench{uuid.uuid4().hex[:8]}."
    settings = Settings(topic_prefix=prefix, instance_id=f"bench-{prefix}")
    engine = connect(settings.admin_database_dsn)  # the owner: COPY and scratch tables
    require_database(engine)
    kafka_io.require_broker(settings)
    create_schema(engine)
    kafka_io.create_topics(settings)
    figures: Figures = {}
    load_before = load_average()
    with engine.connect() as conn:
        # The claim's unique index takes random ids: its cost grows once it outgrows the
        # database's buffers, so the table's size is part of the conditions of the run.
        claimed, claim_bytes, buffers = conn.execute(
            text(
                "SELECT (SELECT reltuples::bigint FROM pg_class WHERE relname = 'audit_event_ids'),"
                " pg_total_relation_size('audit_event_ids'),"
                " (SELECT setting::bigint * 8192 FROM pg_settings WHERE name = 'shared_buffers')"
            )
        ).one()
    figure(figures, "claimed event ids already in the table (estimate)", max(claimed, 0), "ids")
    figure(figures, "claim table and index size / shared_buffers", claim_bytes / buffers, "ratio")
    try:
        started = time.perf_counter()
        ids = synthetic.produce(settings, prefix, documents)
        figure(figures, "events produced", len(ids), "events")
        figure(
            figures,
            "produce rate (setup, not a target)",
            len(ids) / (time.perf_counter() - started),
            "events/s",
        )

        total_s, steady_rate, cpu_us = run_sink(settings, engine, len(ids))
        figure(figures, "sink: seconds from process start to last row", total_s, "s")
        figure(figures, "sink: events/s from process start", len(ids) / total_s, "events/s")
        figure(
            figures,
            "sink: events/s first row to last (steady)",
            steady_rate,
            "events/s",
            TARGET_EVENTS_PER_S,
        )

        figure(
            figures,
            "sink: CPU microseconds per event, first row to last (its processes)",
            cpu_us["sink"],
            "us/event",
        )
        figure(
            figures,
            "PostgreSQL: CPU microseconds per event, its backends serving the sink",
            cpu_us["postgres backends"],
            "us/event",
        )
        figure(
            figures,
            "PostgreSQL: CPU microseconds per event, WAL writer, checkpointer, bg writer (shared)",
            cpu_us["postgres background"],
            "us/event",
        )
        figure(
            figures,
            "Kafka broker: CPU microseconds per event (shared)",
            cpu_us["kafka broker"],
            "us/event",
        )
        total_us = sum(cpu_us.values())
        figure(figures, "all parties: CPU microseconds per event", total_us, "us/event")
        figure(
            figures,
            f"ceiling set by CPU alone: {os.cpu_count()} cores / all parties' CPU per event",
            (os.cpu_count() or 1) * 1e6 / max(total_us, 1e-9),
            "events/s",
        )
        rows, copy_s, text_copy_s, empty_copy_s = raw_copy_seconds(engine, prefix)
        copy_rate = rows / copy_s
        figure(
            figures,
            "raw COPY of the same rows into audit_events: events/s (ceiling)",
            copy_rate,
            "events/s",
        )
        figure(
            figures,
            "raw COPY in the text format, same rows and table: events/s",
            rows / text_copy_s,
            "events/s",
        )
        figure(
            figures,
            "raw COPY of the same rows into an empty table: events/s",
            rows / empty_copy_s,
            "events/s",
        )
        figure(
            figures,
            "sink steady rate / raw COPY rate",
            steady_rate / copy_rate,
            "ratio",
            TARGET_SHARE_OF_COPY,
        )
        figure(
            figures,
            "sink steady rate / raw text COPY rate (reference)",
            steady_rate * text_copy_s / rows,
            "ratio",
        )
    finally:
        delete_topics(settings, prefix)
    if args.parallel > 1:
        k = args.parallel
        events, total_s, steady_rate, _ = parallel_run(engine, args.events, k)
        figure(
            figures,
            f"{k} sink processes: events/s from first start",
            events / total_s,
            "events/s",
        )
        figure(figures, f"{k} sink processes: events/s first row to last", steady_rate, "events/s")
    if args.prepare_processes > 0:
        # The same sink with step 2 (decode, seal, serialize) in processes of its own: the
        # interpreter lock no longer holds it to one core, at the cost of shipping batches.
        n = args.prepare_processes
        _, _, steady_rate, cpu_us = parallel_run(
            engine, args.events, 1, {"COMPLIANCE_AUDIT_PREPARE_PROCESSES": str(n)}
        )
        figure(
            figures,
            f"sink with {n} preparing process(es): events/s first row to last (reference)",
            steady_rate,
            "events/s",
        )
        figure(
            figures,
            f"sink with {n} preparing process(es): CPU microseconds per event (its processes)",
            cpu_us["sink"],
            "us/event",
        )
    command = (
        ".venv/bin/python benchmarks/audit_bench.py "
        f"--events {args.events} --parallel {args.parallel} "
        f"--prepare-processes {args.prepare_processes}"
    )
    host = machine(
        " shared with Kafka and PostgreSQL",
        f"; load average (1 min) {load_before} before the run, {load_average()} after",
    )
    write_results(RESULTS, command, host, figures)


if __name__ == "__main__":
    main()
