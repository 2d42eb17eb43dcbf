"""Scale-out benchmark: throughput with one and with two copies of each processor, and what
metrics cost on the hot path.

Throughput (section ``throughput``; Kafka and PostgreSQL as `make services` starts them, the
database initialised by `compliance db init`), one and two copies measured in the same run,
each on topics of its own (deleted afterwards; the audit rows stay, append-only):

- `end to end: documents/s, N copies`: N copies each of `compliance run classifier` (the local
  classifier: no API key), `checker` and `audit-sink` in their consumer groups; once every
  copy owns partitions, text documents (benchmarks/pipeline_bench.py's, inline, distinct) are
  published; timed from the first publication to the last document's check results all being
  rows of the audit trail.
- `transactions/s, N copies`: N copies of `compliance run transaction-screener`; once every
  copy owns partitions, payments (benchmarks/transactions_bench.py's synthetic ones) are
  published; timed from the first publication to the last check result readable
  (read_committed).

Two copies on this machine's two cores share them with the broker and the database: the
figures say what adding a copy gives here, not what it gives where copies get cores of their
own. The load average before and after each run is recorded with the figures.

`metrics overhead %` (section ``metrics``): the checker's rules through the runner's batch
path (decode each record, call the batch stage, encode every output, count the committed
batch; the checker's database round trips left out) on the same documents, with
the metric updates on and off (COMPLIANCE_METRICS_ENABLED), each batch run both ways back to
back in alternating order in one run; the figure is the median of the paired ratios of CPU
time, less one, as a percentage. Kafka's own calls are left out: they would only dilute the figure.

    COMPLIANCE_DEVELOPMENT_MODE=true .venv/bin/python benchmarks/scaleout_bench.py \
        --e2e-documents 3000 --transactions 30000 --documents 2000 --rounds 15

Writes benchmarks/results/scaleout.json (figures of sections not run are kept).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pipeline_bench
import transactions_bench
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient
from host import machine, write_results
from sqlalchemy import Engine

from compliance import kafka_io, metrics
from compliance.audit.store import connect, create_schema, require_database
from compliance.codec import Record, registry
from compliance.config import Settings
from compliance.events import envelope
from compliance.outgoing import Outgoing
from compliance.processors.checker import check_document
from compliance.rules import load_ruleset
from compliance.runner import TransactionalRunner
from compliance.topics import COMPLIANCE_CHECKS, DOCUMENTS_ARRIVED, TRANSACTIONS_SUBMITTED

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results" / "scaleout.json"
TARGET_OVERHEAD_PCT = 3.0
DOCUMENT_STAGES = ("audit-sink", "checker", "classifier")
SCREENER = "transaction-screener"
COPIES = (1, 2)
START_TIMEOUT_S = 180  # processes up and every copy owning partitions
RUN_TIMEOUT_S = 1800
Figures = dict[str, dict[str, Any]]
KEPT_FROM = " (figures not measured by it kept from: "
AT = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
KINDS = {
    "passport": {
        "full_name": "Ingrid Marie Halvorsen",
        "date_of_birth": "1985-03-14",
        "expiry_date": "2031-01-01",
        "passport_number": "C01X00T47",
        "nationality": "NOR",
    },
    "proof_of_address": {
        "full_name": "Jonas Berg",
        "address": "Storgata 12, 0155 Oslo",
        "document_date": "2026-10-20",
    },
    "invoice": {
        "issuer": "Nordlys Handel AS",
        "recipient": "Amina Okafor",
        "invoice_number": "INV-2026-0042",
        "total_amount": "1250.00",
        "currency": "EUR",
    },
}


class Message:
    """A consumed record as the runner reads it (the Kafka client's Message cannot be made)."""

    def __init__(self, topic: str, offset: int, key: bytes, value: bytes) -> None:
        self._topic, self._offset, self._key, self._value = topic, offset, key, value

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return self._offset

    def key(self) -> bytes:
        return self._key

    def value(self) -> bytes:
        return self._value

    def error(self) -> None:
        return None


def documents(n: int, rng: random.Random) -> list[Message]:
    codec = registry()
    out = []
    for i in range(n):
        kind = rng.choice(sorted(KINDS))
        customer = f"C-{rng.randrange(500)}"
        record: dict[str, Any] = {
            "envelope": envelope(
                event_type="DocumentClassified",
                stage="bench",
                cause=f"bench-{i}",
                correlation_id=f"doc-{i}",
                subject_id=customer,
                causation_id=None,
                occurred_at=AT + timedelta(seconds=i),
            ),
            "document_id": f"doc-{i}",
            "customer_id": customer,
            "document_type": kind,
            "confidence": 0.99,
            "fields": [{"name": k, "value": v, "confidence": 0.99} for k, v in KINDS[kind].items()],
            "extraction_method": "text",
            "text_sha256": "0" * 64,
            "document_sha256": "0" * 64,
        }
        value = codec.encode("DocumentClassified", record)
        out.append(Message("documents.classified", i, customer.encode(), value))
    return out


def runner(settings: Settings, enabled: bool) -> TransactionalRunner:
    metrics.set_enabled(enabled)
    ruleset = load_ruleset(settings.rules_dir)

    def stage(event_type: str, record: Record) -> list[Outgoing]:
        return list(check_document(ruleset, event_type, record))

    def batch_stage(inputs: Sequence[tuple[str, Record]]) -> list[Sequence[Outgoing]]:
        # The checker's batch stage without its database round trips (customer state).
        return [check_document(ruleset, event_type, record) for event_type, record in inputs]

    return TransactionalRunner(
        "checker", settings, ["documents.classified"], stage, batch_stage=batch_stage
    )


def one_batch(run: TransactionalRunner, batch: list[Message], enabled: bool) -> float:
    """CPU seconds of this process for one batch through the runner's path, metrics as
    given (CPU time, not wall time: the machine is shared, and a neighbour's work would
    otherwise land in one measurement and not the other)."""
    metrics.set_enabled(enabled)  # the stage's own updates (rule outcomes) follow it
    started = time.process_time()
    begun = time.perf_counter() if enabled else 0.0
    outputs = run._outputs_of_batch(batch)
    encoded = run._encoded(outputs, batch)
    run._count(batch, encoded, begun)
    return time.process_time() - started


def copies_label(copies: int) -> str:
    return "1 copy" if copies == 1 else f"{copies} copies"


def start_copies(
    settings: Settings, names: Sequence[str], copies: int, **extra_env: str
) -> list[subprocess.Popen[bytes]]:
    """``copies`` processes of each ``compliance run <name>``, each with an instance id (hence
    a transactional id) of its own; their output in .services/bench-logs."""
    log_dir = ROOT / ".services" / "bench-logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    started = []
    for name in names:
        for copy in range(copies):
            env = os.environ | {
                "COMPLIANCE_TOPIC_PREFIX": settings.topic_prefix,
                "COMPLIANCE_INSTANCE_ID": f"{settings.instance_id}-{copy}",
                "COMPLIANCE_LOG_LEVEL": "WARNING",
                "COMPLIANCE_DOCUMENT_ROOTS": json.dumps([str(ROOT)]),
                **{k: v.format(copy=copy) for k, v in extra_env.items()},
            }
            env.pop("COMPLIANCE_ANTHROPIC_API_KEY", None)  # the local classifier
            log = (log_dir / f"{settings.topic_prefix}{name}-{copy}.log").open("ab")
            started.append(
                subprocess.Popen(
                    [sys.executable, "-m", "compliance", "run", name],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
    return started


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for proc in processes:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in processes:
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def alive(processes: list[subprocess.Popen[bytes]]) -> None:
    for proc in processes:
        if proc.poll() is not None:
            raise SystemExit(f"a processor exited with {proc.returncode} (.services/bench-logs)")


def wait_until_shared(
    admin: AdminClient,
    groups: Sequence[str],
    copies: int,
    processes: list[subprocess.Popen[bytes]],
) -> None:
    """Until each group has ``copies`` members, each owning partitions (the start-up and the
    group joins are not part of the figures)."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        alive(processes)
        described = {
            g: f.result(timeout=10) for g, f in admin.describe_consumer_groups(groups).items()
        }
        if all(
            len(d.members) == copies and all(m.assignment.topic_partitions for m in d.members)
            for d in described.values()
        ):
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"the copies did not all own partitions within {START_TIMEOUT_S} s")
        time.sleep(0.5)


def delete_topics(settings: Settings) -> None:
    admin = kafka_io.admin(settings)
    topics = [
        t for t in admin.list_topics(timeout=10).topics if t.startswith(settings.topic_prefix)
    ]
    if topics:
        for future in admin.delete_topics(topics, operation_timeout=30).values():
            future.result()


def documents_per_second(engine: Engine, count: int, customers: int, copies: int) -> float:
    """Publication to the last decision audited, ``copies`` copies of each document stage."""
    prefix = f"sbench{uuid.uuid4().hex[:8]}."
    settings = Settings(topic_prefix=prefix, instance_id=f"bench-{prefix.rstrip('.')}")
    kafka_io.create_topics(settings)
    folder = ROOT / ".services" / "bench-documents" / prefix.rstrip(".")
    folder.mkdir(parents=True, exist_ok=True)
    processes: list[subprocess.Popen[bytes]] = []
    try:
        docs = pipeline_bench.documents(folder, count, customers)
        expected = sum(results for _, results in docs)
        processes = start_copies(settings, DOCUMENT_STAGES, copies)
        admin = kafka_io.admin(settings)
        wait_until_shared(admin, [settings.group(n) for n in DOCUMENT_STAGES], copies, processes)
        codec = registry()
        producer = Producer({"bootstrap.servers": settings.kafka_bootstrap, "linger.ms": 5})
        checks = settings.topic(COMPLIANCE_CHECKS)
        started = time.monotonic()
        for arrival, _ in docs:
            producer.produce(
                settings.topic(DOCUMENTS_ARRIVED),
                key=(arrival["customer_id"] or arrival["document_id"]).encode(),
                value=codec.encode("DocumentArrived", arrival),
            )
            producer.poll(0)
        if producer.flush(60) > 0:
            raise SystemExit("could not publish the documents within 60 s")
        while pipeline_bench.audited(engine, checks) < expected:
            alive(processes)
            if time.monotonic() - started > RUN_TIMEOUT_S:
                raise SystemExit(f"the documents were not all decided in {RUN_TIMEOUT_S} s")
            time.sleep(0.2)
        return len(docs) / (time.monotonic() - started)
    finally:
        stop(processes)
        delete_topics(settings)
        shutil.rmtree(folder, ignore_errors=True)


def transactions_per_second(count: int, copies: int) -> float:
    """Publication to the last check result readable, ``copies`` screener copies."""
    prefix = f"sbench-tx-{uuid.uuid4().hex[:8]}."
    settings = Settings(topic_prefix=prefix, instance_id=f"bench-{prefix.rstrip('.')}")
    kafka_io.create_topics(settings)
    state = Path("/tmp") / f"{prefix}state"
    processes: list[subprocess.Popen[bytes]] = []
    try:
        start = datetime(2026, 3, 1, tzinfo=UTC)
        records = transactions_bench.encoded(
            transactions_bench.synthetic(count, transactions_bench.SEED, start)
        )
        processes = start_copies(
            settings, [SCREENER], copies, COMPLIANCE_TRANSACTIONS_STATE_DIR=f"{state}/{{copy}}"
        )
        wait_until_shared(kafka_io.admin(settings), [settings.group(SCREENER)], copies, processes)
        counted: list[tuple[int, float, float]] = []
        reader = threading.Thread(
            target=lambda: counted.append(
                transactions_bench.count_results(settings, count, timeout_s=RUN_TIMEOUT_S)
            )
        )
        reader.start()
        started = time.perf_counter()
        transactions_bench.produce_all(settings, settings.topic(TRANSACTIONS_SUBMITTED), records)
        while reader.is_alive():
            alive(processes)
            reader.join(0.5)
        results, _, last = counted[0]
        if results < count:
            raise SystemExit(f"only {results} of {count} payments screened")
        return count / (last - started)
    finally:
        stop(processes)
        delete_topics(settings)
        shutil.rmtree(state, ignore_errors=True)


def throughput(args: argparse.Namespace) -> Figures:
    figures: Figures = {}
    settings = Settings()
    kafka_io.require_broker(settings)
    engine = connect(settings.admin_database_dsn)
    require_database(engine)
    create_schema(engine)
    loads: list[str] = []
    documents_rate: dict[int, float] = {}
    transactions_rate: dict[int, float] = {}
    for copies in COPIES:
        before = pipeline_bench.load()
        documents_rate[copies] = documents_per_second(
            engine, args.e2e_documents, args.customers, copies
        )
        loads.append(f"documents, {copies_label(copies)}: {before} | {pipeline_bench.load()}")
        pipeline_bench.figure(
            figures,
            f"end to end: documents/s, {copies_label(copies)}",
            documents_rate[copies],
            "documents/s",
        )
    for copies in COPIES:
        before = pipeline_bench.load()
        transactions_rate[copies] = transactions_per_second(args.transactions, copies)
        loads.append(f"transactions, {copies_label(copies)}: {before} | {pipeline_bench.load()}")
        pipeline_bench.figure(
            figures,
            f"transactions/s, {copies_label(copies)}",
            transactions_rate[copies],
            "transactions/s",
        )
    for what, rates in (("documents", documents_rate), ("transactions", transactions_rate)):
        pipeline_bench.figure(figures, f"{what}: 2 copies / 1 copy", rates[2] / rates[1], "x")
    pipeline_bench.figure(figures, "end to end: documents per run", args.e2e_documents, "documents")
    pipeline_bench.figure(figures, "transactions per run", args.transactions, "transactions")
    figures["load average (1/5/15 min) before | after each throughput run"] = {
        "value": "; ".join(loads),
        "unit": "runnable processes",
        "target": None,
    }
    return figures


def metrics_overhead(args: argparse.Namespace) -> Figures:
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    print(f"seed {seed}")
    rng = random.Random(seed)
    settings = Settings(development_mode=True)
    messages = documents(args.documents, rng)
    batches = [messages[i : i + args.batch] for i in range(0, len(messages), args.batch)]
    with_metrics, without = runner(settings, True), runner(settings, False)
    for batch in batches:  # warm both paths up
        one_batch(with_metrics, batch, True)
        one_batch(without, batch, False)
    # Each batch with and without metrics back to back, in alternating order: the pairs see
    # the same machine; the figure is the median of the pairs' ratios.
    ratios: list[float] = []
    on = off = 0.0
    best_on = [float("inf")] * len(batches)  # each batch's fastest round, either way
    best_off = [float("inf")] * len(batches)
    for r in range(args.rounds):
        for i, batch in enumerate(batches):
            if (r + i) % 2 == 0:
                t_on = one_batch(with_metrics, batch, True)
                t_off = one_batch(without, batch, False)
            else:
                t_off = one_batch(without, batch, False)
                t_on = one_batch(with_metrics, batch, True)
            on, off = on + t_on, off + t_off
            best_on[i], best_off[i] = min(best_on[i], t_on), min(best_off[i], t_off)
            if t_off > 0:
                ratios.append(t_on / t_off)
    metrics.set_enabled(True)
    total = args.rounds * args.documents
    per_doc_on, per_doc_off = on / total, off / total
    overhead = (statistics.median(ratios) - 1) * 100
    best = (sum(best_on) / sum(best_off) - 1) * 100
    print(
        f"with metrics {per_doc_on * 1e6:.1f} us/document, without {per_doc_off * 1e6:.1f} "
        f"us/document; median of {len(ratios)} paired batches: overhead {overhead:.2f} % "
        f"(target <= {TARGET_OVERHEAD_PCT:g}); best rounds: {best:.2f} %"
    )
    return {
        "metrics overhead %": {
            "value": round(overhead, 2),
            "unit": "%",
            "target": TARGET_OVERHEAD_PCT,
        },
        "metrics overhead % (each batch's fastest round with and without)": {
            "value": round(best, 2),
            "unit": "%",
            "target": TARGET_OVERHEAD_PCT,
        },
        "checker batch path with metrics: microseconds per document": {
            "value": round(per_doc_on * 1e6, 1),
            "unit": "us/document",
            "target": None,
        },
        "checker batch path without metrics: microseconds per document": {
            "value": round(per_doc_off * 1e6, 1),
            "unit": "us/document",
            "target": None,
        },
    }


SECTIONS = {"throughput": throughput, "metrics": metrics_overhead}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sections",
        default="throughput,metrics",
        help="comma-separated, of: throughput, metrics (default: both)",
    )
    parser.add_argument(
        "--e2e-documents", type=int, default=3000, help="documents per end-to-end run"
    )
    parser.add_argument("--customers", type=int, default=500, help="customers they belong to")
    parser.add_argument("--transactions", type=int, default=30_000, help="payments per run")
    parser.add_argument(
        "--documents", type=int, default=2000, help="documents of the metrics section"
    )
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    sections = [name.strip() for name in args.sections.split(",") if name.strip()]
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown or not sections:
        parser.error(f"--sections: unknown {', '.join(unknown)} (of {', '.join(SECTIONS)})")
    figures: Figures = {}
    for name in sections:
        figures |= SECTIONS[name](args)
    write(figures, command(args, sections))
    return 0


def command(args: argparse.Namespace, sections: list[str]) -> str:
    """The command line of this run, as it can be run again."""
    development = (
        "COMPLIANCE_DEVELOPMENT_MODE=true "
        if os.environ.get("COMPLIANCE_DEVELOPMENT_MODE", "").lower() == "true"
        else ""
    )
    parts = [f"{development}.venv/bin/python benchmarks/scaleout_bench.py"]
    parts.append(f"--sections {','.join(sections)}")
    if "throughput" in sections:
        parts.append(
            f"--e2e-documents {args.e2e_documents} --customers {args.customers} "
            f"--transactions {args.transactions}"
        )
    if "metrics" in sections:
        parts.append(f"--documents {args.documents} --batch {args.batch} --rounds {args.rounds}")
    return " ".join(parts)


def write(figures: Figures, this_run: str) -> None:
    """Into RESULTS, keeping the figures of sections this run did not measure (and naming
    the command that measured them)."""
    existing: dict[str, Any] = {}
    if RESULTS.exists():
        existing = json.loads(RESULTS.read_text(encoding="utf-8"))
    kept = {k: v for k, v in existing.get("figures", {}).items() if k not in figures}
    run = this_run
    if kept and existing.get("command"):
        earlier = existing["command"].removesuffix(")").split(KEPT_FROM)
        run += KEPT_FROM + "; ".join(dict.fromkeys(c.strip("; ") for c in earlier)) + ")"
    write_results(RESULTS, run, machine(pipeline_bench.SHARED_CPUS), kept | figures)


if __name__ == "__main__":
    sys.exit(main())
