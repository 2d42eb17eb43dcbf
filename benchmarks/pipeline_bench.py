"""Pipeline benchmark: documents per second from publication to the decision audited in
PostgreSQL, through the real broker and database, against the raw Kafka pass-through rate
measured in the same run (the ceiling no stage can pass).

Run from the project root, with `make services` up:  .venv/bin/python benchmarks/pipeline_bench.py
Options: --documents N (default 10,000), --customers C (default 2,000), --database-url URL
(default COMPLIANCE_DATABASE_URL: a database of the benchmark's own keeps other users' load
and schema versions out of the figures), --profile DIR (each stage's main thread under
cProfile, DIR/<stage>.prof; the figures are then printed, not written).
Writes benchmarks/results/pipeline.json.

1. The ceiling: N records (the size of the arrival events below) are produced to a topic of
   their own, then a plain confluent-kafka loop consumes them and produces each again to a
   second topic, doing no other work (no decoding, no transactions); timed from its first
   record consumed to the last produced and delivered.
2. The pipeline: `compliance run audit-sink`, `compliance run checker` and `compliance run
   classifier` (the local classifier: no API key) are started as processes on fresh topics.
   N text documents (the bundled text samples, each copy made distinct, travelling inline,
   C customers) are published; timed from the first publication to the moment the last
   document's check results are all rows of the audit trail. Every event of every topic is
   audited meanwhile (arrivals, classifications, results, exceptions).
3. Where the time goes: the CPU seconds each process used over the timed stretch of 2
   (``/proc/<pid>/stat``, every thread): each stage (and, within it, librdkafka's threads),
   the Kafka broker, and the PostgreSQL cluster (postmaster, every backend and helper, exited
   ones included; the stages' own backends also on their own: each stage connects with
   ``PGAPPNAME=<prefix><stage>``), per document. From their sum follows the bound this
   machine puts on the pipeline: cores / CPU per document, the documents per second it could
   do at best were every core busy with it and nothing else. The broker and the cluster are
   shared: on a busy machine their figures carry other users' work too; the total counted
   with the stages' own backends instead of the whole cluster is the figure that stays
   honest then (it leaves out the WAL writer and checkpointer).
The rows stay in the audit table (append-only) under the benchmark's topic prefix. The
machine's load average is recorded with the figures: the cores are shared.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from host import ROOT, machine, use_checkout, write_results
from process_cpu import (
    cpu_seconds,
    listening_pid,
    parent_of,
    threads_cpu_seconds,
    tree_cpu_seconds,
)

use_checkout(development_mode=True)

from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import NewTopic  # noqa: E402
from sqlalchemy import Engine, text  # noqa: E402

from compliance import kafka_io  # noqa: E402
from compliance.audit.store import connect, create_schema, require_database  # noqa: E402
from compliance.classification.choose import LocalClassifier  # noqa: E402
from compliance.codec import registry  # noqa: E402
from compliance.config import Settings  # noqa: E402
from compliance.publisher import arrival_event  # noqa: E402
from compliance.rules import load_ruleset  # noqa: E402
from compliance.topics import (  # noqa: E402
    COMPLIANCE_CHECKS,
    DOCUMENTS_ARRIVED,
    DOCUMENTS_CLASSIFIED,
)

RESULTS = ROOT / "benchmarks" / "results" / "pipeline.json"
SAMPLES = ROOT / "samples" / "documents"
TARGET_DOCS_PER_S = 2_000.0
Figures = dict[str, dict[str, Any]]
SHARED_CPUS = " shared by every process of the run (broker and database included)"


def figure(
    figures: Figures, name: str, value: float, unit: str, target: float | None = None
) -> None:
    figures[name] = {"value": round(value, 2), "unit": unit, "target": target}
    print(f"{name:52} {value:14,.2f} {unit}" + (f"   (target {target:,})" if target else ""))


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.1f} / {five:.1f} / {fifteen:.1f}"


def documents(folder: Path, count: int, customers: int) -> list[tuple[dict[str, Any], int]]:
    """``count`` distinct text documents as inline arrival events, each with the number of
    check results its type gets (what "decided" means for it)."""
    samples = sorted(SAMPLES.glob("*.txt"))
    ruleset = load_ruleset(ROOT / "rules")
    local = LocalClassifier()
    made = []
    for i in range(count):
        sample = samples[i % len(samples)]
        path = folder / f"{sample.stem}-{i}.txt"
        path.write_text(sample.read_text(encoding="utf-8") + f"\nReference: bench {i}\n")
        arrival = arrival_event(
            path,
            source_system=f"bench-{folder.name}",
            customer_id=f"C-{i % customers}",
            inline_max_bytes=1 << 20,
        )
        kind = local.classify(path.read_text(encoding="utf-8"), arrival["sha256"]).document_type
        made.append((arrival, len(ruleset.for_type(kind))))
    return made


def ceiling(settings: Settings, values: list[bytes], figures: Figures) -> None:
    """A consume-and-produce loop doing nothing else, over records of the same sizes."""
    source, target = settings.topic("bench.passthrough.in"), settings.topic("bench.passthrough.out")
    admin = kafka_io.admin(settings)
    futures = admin.create_topics(
        [NewTopic(t, num_partitions=6, replication_factor=-1) for t in (source, target)]
    )
    for future in futures.values():
        future.result()
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap, "linger.ms": 5})
    for i, value in enumerate(values):
        producer.produce(source, key=f"C-{i}".encode(), value=value)
        producer.poll(0)
    assert producer.flush(60) == 0
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap,
            "group.id": settings.group("bench.passthrough"),
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([source])
    forwarded, first = 0, None
    deadline = time.monotonic() + 300
    while forwarded < len(values) and time.monotonic() < deadline:
        for msg in consumer.consume(500, 0.5):
            if msg.error():
                continue
            if first is None:
                first = time.monotonic()
            producer.produce(target, key=msg.key(), value=msg.value())
            forwarded += 1
        producer.poll(0)
    assert producer.flush(60) == 0 and first is not None, "the pass-through loop stalled"
    seconds = time.monotonic() - first
    consumer.close()
    figure(figures, "ceiling: Kafka pass-through events/s", forwarded / seconds, "events/s")


def committed(consumer: Consumer, topic: str) -> int:
    """Records on ``topic`` (transaction markers included: an upper bound that is exact once
    every transaction's marker is counted, enough to time when a stage is done)."""
    parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    total = 0
    for p in parts:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
        total += high - low
    return total


def audited(engine: Engine, topic: str) -> int:
    with engine.connect() as conn:
        query = text("SELECT count(*) FROM audit_events WHERE topic = :t")
        return int(conn.execute(query, {"t": topic}).scalar_one())


STAGES = ("classifier", "checker", "audit-sink")


def settle(pids: list[int], deadline_s: float = 120.0) -> None:
    """Wait until none of ``pids`` uses more than 5 % of a core (their start-up done: imports,
    connections, group joins), so that start-up is not counted as the pipeline's CPU; at most
    ``deadline_s``, then go on (said)."""
    deadline = time.monotonic() + deadline_s
    before = [cpu_seconds(pid) for pid in pids]
    while time.monotonic() < deadline:
        time.sleep(1.0)
        now = [cpu_seconds(pid) for pid in pids]
        if all(b - a < 0.05 for a, b in zip(before, now, strict=True)):
            return
        before = now
    print(f"the stages were still busy starting after {deadline_s:.0f} s: timing anyway")


def backends(engine: Engine, prefix: str) -> dict[int, float]:
    """CPU seconds so far of the PostgreSQL backends serving the pipeline's processes (each
    connects with ``PGAPPNAME=<prefix><stage>``), by backend pid."""
    with engine.connect() as conn:
        query = text("SELECT pid FROM pg_stat_activity WHERE application_name LIKE :p")
        pids = conn.execute(query, {"p": prefix + "%"}).scalars().all()
    return {int(pid): cpu_seconds(int(pid)) for pid in pids}


class CpuMeter:
    """CPU seconds of every process the pipeline runs on, over the timed stretch: the three
    stages, the Kafka broker (the process listening on the bootstrap port) and the PostgreSQL
    cluster (its postmaster and every backend and helper, the exited ones included). The
    broker and the cluster are shared: whatever else uses them meanwhile is counted too."""

    def __init__(
        self, settings: Settings, engine: Engine, stages: dict[str, subprocess.Popen[bytes]]
    ) -> None:
        self.engine = engine
        self.prefix = settings.topic_prefix
        self.pids = {name: proc.pid for name, proc in stages.items()}
        port = int(settings.kafka_bootstrap.split(",")[0].rsplit(":", 1)[1])
        self.broker = listening_pid(port)
        with engine.connect() as conn:
            backend = int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())
        self.postmaster = parent_of(backend)

    def reading(self) -> dict[str, Any]:
        return {
            "stages": {name: cpu_seconds(pid) for name, pid in self.pids.items()},
            # librdkafka's own threads (rdk:main, rdk:broker<n> ...): the Kafka clients' share
            "kafka clients": {
                name: threads_cpu_seconds(pid, "rdk:") for name, pid in self.pids.items()
            },
            "broker": cpu_seconds(self.broker) if self.broker else None,
            "cluster": tree_cpu_seconds(self.postmaster) if self.postmaster else None,
            "backends": backends(self.engine, self.prefix),
        }

    def report(
        self,
        before: dict[str, Any],
        after: dict[str, Any],
        documents: int,
        seconds: float,
        figures: Figures,
    ) -> None:
        per_doc_ms = 1000.0 / documents
        total = 0.0
        for name in STAGES:
            used = after["stages"][name] - before["stages"][name]
            total += used
            label = name.replace("-", " ")
            figure(figures, f"CPU per document: {label} (ms)", used * per_doc_ms, "ms")
            client = after["kafka clients"][name] - before["kafka clients"][name]
            figure(
                figures,
                f"CPU per document: {label}, of which its Kafka client threads (ms)",
                client * per_doc_ms,
                "ms",
            )
        for what in ("broker", "cluster"):
            if after[what] is None:
                print(f"the {what}'s processes were not found (or not readable): not counted")
        if after["broker"] is not None:
            used = after["broker"] - before["broker"]
            total += used
            figure(figures, "CPU per document: Kafka broker (ms)", used * per_doc_ms, "ms")
        if after["cluster"] is not None:
            used = after["cluster"] - before["cluster"]
            total += used
            figure(
                figures, "CPU per document: PostgreSQL, whole cluster (ms)", used * per_doc_ms, "ms"
            )
        own = sum(cpu - before["backends"].get(pid, 0.0) for pid, cpu in after["backends"].items())
        figure(
            figures,
            "CPU per document: PostgreSQL, the stages' own backends (ms)",
            own * per_doc_ms,
            "ms",
        )
        figure(figures, "CPU per document: all processes (ms)", total * per_doc_ms, "ms")
        cores = os.cpu_count() or 1
        figure(figures, "CPU busy during the run: all processes (cores)", total / seconds, "cores")
        figure(
            figures,
            f"machine bound: documents/s with all {cores} cores busy (cores / CPU per document)",
            cores * documents / total if total else 0.0,
            "documents/s",
        )
        if after["cluster"] is not None:  # the cluster's share by the stages' backends alone
            total += own - (after["cluster"] - before["cluster"])
            figure(
                figures,
                "CPU per document: all processes, PostgreSQL by the stages' own backends (ms)",
                total * per_doc_ms,
                "ms",
            )
            figure(
                figures,
                f"machine bound, PostgreSQL by the stages' own backends: documents/s with all "
                f"{cores} cores busy",
                cores * documents / total if total else 0.0,
                "documents/s",
            )


def pipeline(
    settings: Settings,
    engine: Engine,
    docs: list[tuple[dict[str, Any], int]],
    figures: Figures,
    profiles: Path | None = None,
) -> None:
    env = os.environ | {
        "COMPLIANCE_DATABASE_URL": settings.database_dsn,
        "COMPLIANCE_TOPIC_PREFIX": settings.topic_prefix,
        "COMPLIANCE_INSTANCE_ID": settings.instance_id,
        "COMPLIANCE_LOG_LEVEL": "WARNING",
        "COMPLIANCE_DOCUMENT_ROOTS": json.dumps([str(ROOT)]),
    }
    env.pop("COMPLIANCE_ANTHROPIC_API_KEY", None)  # the local classifier
    env.pop("COMPLIANCE_AUDIT_DATABASE_URL", None)  # the sink writes where the others do
    log_dir = ROOT / ".services" / "bench-logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    processes: dict[str, subprocess.Popen[bytes]] = {}
    for name in ("audit-sink", "checker", "classifier"):
        log = (log_dir / f"{settings.topic_prefix}{name}.log").open("ab")
        # with --profile, each stage's main thread runs under cProfile (written when it stops)
        profiler = ["-m", "cProfile", "-o", str(profiles / f"{name}.prof")] if profiles else []
        processes[name] = subprocess.Popen(
            [sys.executable, *profiler, "-m", "compliance", "run", name],
            # the backends serving each stage are named after it (CpuMeter)
            env=env | {"PGAPPNAME": f"{settings.topic_prefix}{name}"},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    checks_topic = settings.topic(COMPLIANCE_CHECKS)
    classified_topic = settings.topic(DOCUMENTS_CLASSIFIED)
    watermarks = Consumer(
        {"bootstrap.servers": settings.kafka_bootstrap, "group.id": settings.group("bench")}
    )
    expected = sum(results for _, results in docs)
    try:
        time.sleep(5)  # the processes' start-up (imports, group joins) is not the pipeline's
        settle([proc.pid for proc in processes.values()])
        meter = CpuMeter(settings, engine, processes)
        codec = registry()
        producer = Producer({"bootstrap.servers": settings.kafka_bootstrap, "linger.ms": 5})
        load_before = load()
        cpu_before = meter.reading()
        started = time.monotonic()
        for arrival, _ in docs:
            producer.produce(
                settings.topic(DOCUMENTS_ARRIVED),
                key=(arrival["customer_id"] or arrival["document_id"]).encode(),
                value=codec.encode("DocumentArrived", arrival),
            )
            producer.poll(0)
        assert producer.flush(60) == 0
        published = time.monotonic()
        deadline = started + 1800
        done = 0
        classified_at = checked_at = None
        while time.monotonic() < deadline:
            for proc in processes.values():
                assert proc.poll() is None, f"a processor exited with {proc.returncode}"
            if classified_at is None and audited(engine, classified_topic) >= len(docs):
                classified_at = time.monotonic()
            if checked_at is None and committed(watermarks, checks_topic) >= expected:
                checked_at = time.monotonic()
            done = audited(engine, checks_topic)
            if done >= expected:
                break
            time.sleep(0.5)
        finished = time.monotonic()
        cpu_after = meter.reading()
        load_after = load()
    finally:
        for proc in processes.values():
            proc.send_signal(signal.SIGTERM)
        for proc in processes.values():
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
    assert done >= expected, f"only {done} of {expected} check results audited"
    seconds = finished - started
    figure(
        figures, "end to end: documents/s", len(docs) / seconds, "documents/s", TARGET_DOCS_PER_S
    )
    figure(figures, "end to end: check results audited/s", expected / seconds, "results/s")
    figure(figures, "end to end: documents", len(docs), "documents")
    figure(figures, "end to end: seconds, first publication to last decision audited", seconds, "s")
    figure(figures, "publishing: documents/s", len(docs) / (published - started), "documents/s")
    if checked_at is not None:
        figure(
            figures,
            "checked on Kafka: documents/s (first publication to last check result committed)",
            len(docs) / (checked_at - started),
            "documents/s",
        )
    if classified_at is not None:
        figure(
            figures,
            "classified and audited: documents/s (first publication to last classification)",
            len(docs) / (classified_at - started),
            "documents/s",
        )
    meter.report(cpu_before, cpu_after, len(docs), seconds, figures)
    figures["load average (1/5/15 min) before / after the pipeline run"] = {
        "value": f"{load_before} | {load_after}",
        "unit": "runnable processes",
        "target": None,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--documents", type=int, default=10_000)
    parser.add_argument("--customers", type=int, default=2_000)
    parser.add_argument("--database-url", default=None)
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        help="a folder: run each stage under cProfile and write <stage>.prof there "
        "(the figures are then not written to the results: profiling slows the stages)",
    )
    args = parser.parse_args()
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    prefix = f"pbench{uuid.uuid4().hex[:8]}."
    overrides = {"database_url": args.database_url} if args.database_url else {}
    settings = Settings(topic_prefix=prefix, instance_id=f"bench-{prefix}", **overrides)
    kafka_io.require_broker(settings)
    engine = connect(settings.database_dsn)
    require_database(engine)
    create_schema(engine)
    kafka_io.create_topics(settings)
    folder = ROOT / ".services" / "bench-documents" / prefix.rstrip(".")
    folder.mkdir(parents=True, exist_ok=True)
    figures: Figures = {}
    started = time.monotonic()
    try:
        docs = documents(folder, args.documents, args.customers)
        codec = registry()
        ceiling(settings, [codec.encode("DocumentArrived", a) for a, _ in docs], figures)
        pipeline(settings, engine, docs, figures, args.profile)
    finally:
        admin = kafka_io.admin(settings)
        topics = [t for t in admin.list_topics(timeout=10).topics if t.startswith(prefix)]
        for future in admin.delete_topics(topics, operation_timeout=30).values():
            future.result()
        for path in folder.glob("*"):
            path.unlink()
        folder.rmdir()
    figure(figures, "benchmark wall time", time.monotonic() - started, "s")
    command = (
        ".venv/bin/python benchmarks/pipeline_bench.py "
        f"--documents {args.documents} --customers {args.customers}"
        + (" --database-url <a PostgreSQL 15 cluster of its own>" if args.database_url else "")
    )
    if args.profile is None:
        write_results(RESULTS, command, machine(SHARED_CPUS), figures)
    else:
        print(json.dumps(figures, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
