"""Transaction screener benchmark, end to end through the real broker.

Run from the project root (Kafka and PostgreSQL as ``make services`` starts them):
    .venv/bin/python benchmarks/transactions_bench.py [--transactions 150000] [--copies 2]
Writes benchmarks/results/transactions.json. Topics of its own (prefix ``bench-tx-<id>.``),
deleted afterwards. Fixed seed: the same transactions every run.

1. ceiling: a plain confluent-kafka loop consuming the transactions and producing each one
   again, doing no work: what this broker and machine can move (``ceiling: pass-through
   events/s``);
2. sustained: the transactions are published first, then ``compliance run
   transaction-screener`` (``--copies`` processes in one consumer group, each with its own
   state; the full ruleset: sanctions screening of every counterparty name, FATF lists,
   thresholds, the six windowed rules; exactly-once) works through them; the rate is check
   results committed per second, from the first to the last (``sustained transactions/s``);
3. where the time goes, for the choice of framework: the same transactions through a Quix
   Streams application doing nothing but count per account in its state (exactly-once, the
   screener's commit interval through a backlog): the framework's own floor (``quixstreams
   floor: stateful no-op events/s`` and its CPU per event); the project's own transactional
   runner (batches, no state) publishing each decoded record again (``project runner
   floor: ...``); and the screener's stage alone, in this process without Kafka (decode,
   rules, the state as JSON, encode: ``stage alone: transactions/s`` and its CPU per
   transaction);
4. latency: with the screener caught up, transactions are published at 3,000 a second for
   20 s; for each, the time from its publication to its check result being readable by a
   read_committed consumer in another process (p50, p99).

The machine's load average is recorded with the figures: on a machine shared with other
work, the figures are lower than on an idle one. CPU time per transaction (the screener
processes' user and system time, all their threads, over the sustained run) depends much
less on the other work, and says what a quiet machine would do.

Options for trying settings: ``--commit-interval S`` (the screeners' setting), ``--rate N``
(the latency measurement's rate), ``--only sustained|latency``; such runs print their
figures without keeping them.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import random
import shutil
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition
from host import ROOT, use_checkout, write_results

use_checkout(development_mode=True)
RESULTS = ROOT / "benchmarks" / "results" / "transactions.json"
SEED = 20261205
RATE = 3000
LATENCY_SECONDS = 20

from compliance import kafka_io  # noqa: E402
from compliance.audit.store import connect  # noqa: E402
from compliance.codec import registry  # noqa: E402
from compliance.config import Settings  # noqa: E402
from compliance.subject_keyring import DatabaseKeyring, sealing_codec  # noqa: E402
from compliance.topics import COMPLIANCE_CHECKS, TRANSACTIONS_SUBMITTED, TopicSpec  # noqa: E402
from compliance.transactions.model import Transaction, transaction_record  # noqa: E402
from compliance.transactions.pacing import CATCHING_UP_COMMIT_S  # noqa: E402

GIVEN = [
    "Anna",
    "Piotr",
    "Lena",
    "Marco",
    "Eva",
    "Jan",
    "Ines",
    "Ola",
    "Sofia",
    "Lukas",
    "Emma",
    "Noah",
    "Mia",
    "Elias",
    "Hanna",
]
FAMILY = [
    "Berg",
    "Nowak",
    "Vogel",
    "Rossi",
    "Novak",
    "Smit",
    "Costa",
    "Dahl",
    "Weber",
    "Meyer",
    "Dubois",
    "Garcia",
    "Jensen",
]
COUNTRIES = ["DE", "FR", "NL", "BE", "AT", "ES", "IT", "PL", "SE", "GB", "US", "CH", "NG", "IR"]
CHANNELS = [("wire", 50), ("card", 25), ("sepa", 15), ("cash", 8), ("cheque", 2)]


def synthetic(n: int, seed: int, start: datetime, prefix: str = "bx") -> list[Transaction]:
    """``n`` payments on 20,000 accounts over ten days: channel mix, log-normal amounts, a
    pool of 3,000 counterparties (a few in high-risk countries), booking times in order."""
    rng = random.Random(seed)
    parties = [
        (
            f"{rng.choice(GIVEN)} {rng.choice(FAMILY)}",
            f"DE{rng.randrange(10**20):020d}",
            rng.choices(COUNTRIES, weights=[30, 10, 8, 6, 5, 5, 5, 5, 4, 6, 6, 4, 1, 0.2])[0],
        )
        for _ in range(3000)
    ]
    channels, weights = zip(*CHANNELS, strict=True)
    step = timedelta(days=10) / n
    out = []
    for i in range(n):
        name, iban, country = rng.choice(parties)
        amount = Decimal(str(round(min(rng.lognormvariate(5.5, 1.6), 900_000), 2)))
        out.append(
            Transaction(
                transaction_id=f"{prefix}-{i}",
                booked_at=start + step * i,
                amount=max(amount, Decimal("0.01")),
                currency=rng.choices(["EUR", "USD", "GBP"], weights=[85, 10, 5])[0],
                direction=rng.choice(("in", "out")),
                account_id=f"ACC{rng.randrange(20_000):06d}",
                channel=rng.choices(channels, weights=weights)[0],
                account_owner=None,
                counterparty_name=name,
                counterparty_account=iban,
                counterparty_country=country,
            )
        )
    return out


def encoded(txs: list[Transaction]) -> list[tuple[bytes, bytes, str]]:
    """Sealed with the accounts' keys, as the publisher does (its keys read or made in one
    query): the screener opens them with the keys it reads."""
    settings = Settings()
    codec = registry().with_keyring(DatabaseKeyring(connect(settings.database_dsn), 3600.0))
    codec.prefetch_keys({tx.account_id for tx in txs})
    return [
        (
            tx.account_id.encode(),
            codec.encode("TransactionSubmitted", transaction_record(tx, source_system="bench")),
            tx.transaction_id,
        )
        for tx in txs
    ]


def produce_all(settings: Settings, topic: str, records: list[tuple[bytes, bytes, str]]) -> None:
    producer = kafka_io.idempotent_producer(settings)
    for key, value, _ in records:
        while True:
            try:
                producer.produce(topic, key=key, value=value)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    if producer.flush(120) > 0:
        raise SystemExit("could not publish the transactions within 120 s")


def ceiling(settings: Settings, source: str, n: int) -> float:
    """A consume -> produce loop doing no work: events per second."""
    target = settings.topic("bench.passthrough")
    kafka_io.create_topics(settings, (TopicSpec("bench.passthrough", 6, 3_600_000, "bench"),))
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap,
            "group.id": f"{settings.topic_prefix}passthrough",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    producer = Producer(
        {"bootstrap.servers": settings.kafka_bootstrap, "linger.ms": 5, "compression.type": "lz4"}
    )
    consumer.subscribe([source])
    seen, started = 0, None
    deadline = time.monotonic() + 300
    while seen < n and time.monotonic() < deadline:
        for msg in consumer.consume(1000, 1.0):
            if msg.error():
                continue
            if started is None:
                started = time.perf_counter()
            while True:
                try:
                    producer.produce(target, key=msg.key(), value=msg.value())
                    break
                except BufferError:
                    producer.poll(0.01)
            seen += 1
        producer.poll(0)
    producer.flush(60)
    elapsed = time.perf_counter() - (started or time.perf_counter())
    consumer.close()
    return seen / elapsed if elapsed else 0.0


def quix_floor(settings: Settings, source: str, n: int, state_dir: Path) -> tuple[float, float]:
    """A Quix Streams application counting per key in its state and producing each record
    again, exactly-once: what the framework costs before any work. (events/s, CPU
    microseconds per event: this process, all its threads)."""
    from quixstreams import Application

    app = Application(
        broker_address=settings.kafka_bootstrap,
        consumer_group=f"{settings.topic_prefix}quix-floor",
        processing_guarantee="exactly-once",
        auto_offset_reset="earliest",
        # The screener's commit interval through a backlog (``compliance.transactions.pacing``)
        commit_interval=max(settings.transactions_commit_interval_s, CATCHING_UP_COMMIT_S),
        state_dir=state_dir,
        loglevel="WARNING",
    )
    kafka_io.create_topics(settings, (TopicSpec("bench.quixfloor", 6, 3_600_000, "bench"),))
    target = app.topic(settings.topic("bench.quixfloor"), value_serializer="bytes")
    sdf = app.dataframe(app.topic(source, value_deserializer="bytes"))

    def count(value: bytes, state: Any) -> bytes:
        state.set("n", (state.get("n") or 0) + 1)
        return value

    sdf = sdf.apply(count, stateful=True)
    sdf.to_topic(target)
    first: list[float] = []

    def processed(_topic: str, _partition: int, _offset: int) -> None:
        if not first:
            first.extend((time.perf_counter(), time.process_time()))

    app._on_message_processed = processed
    app.run(count=n, timeout=300)
    if not first:
        return 0.0, 0.0
    return n / (time.perf_counter() - first[0]), (time.process_time() - first[1]) / n * 1e6


def runner_floor(settings: Settings, source: str, n: int) -> float:
    """The project's own transactional runner (batches, exactly-once, no state) with a stage
    that publishes each decoded record again: what that loop costs, decode and encode
    included, for comparison with the framework's floor."""
    import threading

    from compliance.runner import Outgoing, TransactionalRunner

    spec = TopicSpec("bench.runnerfloor", 6, 3_600_000, "bench")
    kafka_io.create_topics(settings, (spec,))

    def again(event_type: str, record: dict[str, Any]) -> list[Outgoing]:
        return [Outgoing(spec.name, event_type, record)]

    runner = TransactionalRunner("bench-runner-floor", settings, [source], again)
    stop = threading.Event()
    worker = threading.Thread(target=runner.run, args=(stop,), daemon=True)
    worker.start()
    try:
        count, first, last = count_results(settings, n, timeout_s=600, topic=settings.topic(spec))
    finally:
        stop.set()
        worker.join(60)
    return (count - 1) / (last - first) if last > first else 0.0


def stage_alone(records: list[tuple[bytes, bytes, str]]) -> tuple[float, float]:
    """The screener's stage in this process, no Kafka: decode, every rule, the state as
    JSON (as the state store keeps it), encode. (transactions/s, CPU microseconds each)."""
    import orjson

    from compliance.processors.transaction_screener import TransactionScreener
    from compliance.transactions.account import AccountState
    from compliance.transactions.ruleset import load_transaction_rules
    from compliance.transactions.sanctions import folder_screen

    settings = Settings()
    # The screener's codec: payments opened and outputs sealed with the accounts' keys.
    codec = sealing_codec(connect(settings.database_dsn), follow_erasures=True)
    codec.prefetch_keys({key.decode() for key, _, _ in records})
    stage = TransactionScreener(
        load_transaction_rules(settings.transactions_rules_dir),
        folder_screen(settings.sanctions_dir),
        codec,
    )
    states: dict[bytes, bytes] = {}
    started = cpu = 0.0
    warm = len(records) // 5  # the first fifth warms the sanctions cache
    for i, (key, value, _) in enumerate(records):
        if i == warm:
            started, cpu = time.perf_counter(), time.process_time()
        stored = states.get(key)
        account = AccountState.from_json(orjson.loads(stored) if stored else None)
        for out in stage(value, key, account):
            codec.encode(out.event_type, out.record)
        states[key] = orjson.dumps(account.to_json())
    timed = len(records) - warm
    return (
        timed / (time.perf_counter() - started),
        (time.process_time() - cpu) / timed * 1e6,
    )


def count_results(
    settings: Settings,
    n: int,
    timeout_s: float,
    topic: str | None = None,
    on_first: Callable[[], object] | None = None,
    processes: Sequence[subprocess.Popen[bytes]] = (),
) -> tuple[int, float, float]:
    """Read check results (or the records of ``topic``) until ``n`` (read_committed);
    (count, first time, last time). ``on_first`` is called when the first is read. Stops
    with the exit status of any of ``processes`` that ends before."""
    topic = topic or settings.topic(COMPLIANCE_CHECKS)
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap,
            "group.id": f"count-{uuid.uuid4()}",
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    count, first, last = 0, 0.0, 0.0
    deadline = time.monotonic() + timeout_s
    while count < n and time.monotonic() < deadline:
        ended = [p.returncode for p in processes if p.poll() is not None]
        if ended:
            consumer.close()
            raise SystemExit(f"a screener ended with status {ended[0]} (see its log above)")
        for msg in consumer.consume(1000, 0.5):
            if msg.error():
                continue
            now = time.perf_counter()
            if not first and on_first is not None:
                on_first()
            first = first or now
            last = now
            count += 1
    consumer.close()
    return count, first, last


def _receiver(bootstrap: str, topic: str, start_offsets: dict[int, int], n: int, out: Any) -> None:
    """In its own process: transaction id -> wall time its check result was read."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"latency-{uuid.uuid4()}",
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
            "fetch.wait.max.ms": 5,
        }
    )
    consumer.assign([TopicPartition(topic, p, o) for p, o in start_offsets.items()])
    codec = registry()
    seen: dict[str, float] = {}
    deadline = time.monotonic() + LATENCY_SECONDS + 90
    while len(seen) < n and time.monotonic() < deadline:
        msg = consumer.poll(0.1)
        if msg is None or msg.error():
            continue
        now = time.time()
        _, record = codec.decode(msg.value())
        seen[record["document_id"]] = now
    consumer.close()
    out.put(seen)


def latency(
    settings: Settings,
    records: list[tuple[bytes, bytes, str]],
    rate: int = RATE,
    cpu: Callable[[], float] = lambda: 0.0,
) -> dict[str, float]:
    checks = settings.topic(COMPLIANCE_CHECKS)
    probe = Consumer({"bootstrap.servers": settings.kafka_bootstrap, "group.id": "probe"})
    parts = probe.list_topics(checks, timeout=10).topics[checks].partitions
    ends = {p: probe.get_watermark_offsets(TopicPartition(checks, p), timeout=10)[1] for p in parts}
    probe.close()
    queue: Any = mp.get_context("spawn").Queue()
    receiver = mp.get_context("spawn").Process(
        target=_receiver, args=(settings.kafka_bootstrap, checks, ends, len(records), queue)
    )
    receiver.start()
    time.sleep(3)  # the receiver is assigned and polling
    producer = kafka_io.idempotent_producer(settings)
    producer.list_topics(timeout=10)
    topic = settings.topic(TRANSACTIONS_SUBMITTED)
    sent: dict[str, float] = {}
    tick = 0.01
    per_tick = max(1, int(rate * tick))
    cpu_before = cpu()
    start = time.perf_counter()
    for i in range(0, len(records), per_tick):
        due = start + i / rate
        pause = due - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        for key, value, tx_id in records[i : i + per_tick]:
            sent[tx_id] = time.time()
            producer.produce(topic, key=key, value=value)
        producer.poll(0)
    achieved = len(records) / (time.perf_counter() - start)
    producer.flush(30)
    seen = queue.get(timeout=LATENCY_SECONDS + 120)
    cpu_used = cpu() - cpu_before
    receiver.join(10)
    delays = sorted((seen[t] - sent[t]) * 1000 for t in sent if t in seen)
    return {
        "p50": statistics.median(delays),
        "p99": delays[int(len(delays) * 0.99) - 1],
        "received": len(delays),
        "sent": len(sent),
        "rate": achieved,
        "cpu_us": cpu_used / len(records) * 1e6,
    }


def start_screeners(
    settings: Settings, state_dir: Path, copies: int
) -> list[subprocess.Popen[bytes]]:
    """``copies`` screener processes in one consumer group, each with its own state."""
    started = []
    for copy in range(copies):
        env = os.environ | {
            "COMPLIANCE_TOPIC_PREFIX": settings.topic_prefix,
            "COMPLIANCE_INSTANCE_ID": f"bench-{uuid.uuid4().hex[:6]}",
            "COMPLIANCE_TRANSACTIONS_STATE_DIR": str(state_dir / f"copy-{copy}"),
            "COMPLIANCE_LOG_LEVEL": "WARNING",
            "COMPLIANCE_TRANSACTIONS_COMMIT_INTERVAL_S": str(
                settings.transactions_commit_interval_s
            ),
        }
        started.append(
            subprocess.Popen(
                [sys.executable, "-m", "compliance", "run", "transaction-screener"], env=env
            )
        )
    return started


class _Done(Exception):
    """The figures asked for (``--only``) are measured."""


def cpu_seconds(processes: list[subprocess.Popen[bytes]]) -> float:
    """User and system CPU time the processes used so far (Linux /proc)."""
    total = 0
    for process in processes:
        fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / os.sysconf("SC_CLK_TCK")


def figure(value: float, unit: str, target: float | None = None) -> dict[str, Any]:
    return {"value": round(value, 2), "unit": unit, "target": target}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--transactions", type=int, default=150_000)
    parser.add_argument(
        "--copies",
        type=int,
        default=1,
        help="screener processes sharing the partitions (one per core uses the machine)",
    )
    parser.add_argument(
        "--commit-interval",
        type=float,
        default=None,
        help="the screeners' commit interval in seconds (default: the setting's)",
    )
    parser.add_argument(
        "--rate",
        type=int,
        default=RATE,
        help="transactions/s of the latency measurement (the target is at 3,000)",
    )
    parser.add_argument(
        "--only",
        choices=("sustained", "latency"),
        default=None,
        help="measure only this (with the ceiling), for trying settings",
    )
    args = parser.parse_args()
    prefix = f"bench-tx-{uuid.uuid4().hex[:6]}."
    settings = Settings(topic_prefix=prefix)
    if args.commit_interval is not None:
        settings = Settings(
            topic_prefix=prefix, transactions_commit_interval_s=args.commit_interval
        )
    kafka_io.require_broker(settings)
    kafka_io.create_topics(settings)
    state_dir = Path("/tmp") / f"{prefix}state"
    loads: dict[str, Any] = {"start": os.getloadavg()}
    figures: dict[str, Any] = {}
    screeners: list[subprocess.Popen[bytes]] = []
    try:
        start = datetime(2026, 3, 1, tzinfo=UTC)
        records = encoded(synthetic(args.transactions, SEED, start))
        produce_all(settings, settings.topic(TRANSACTIONS_SUBMITTED), records)
        rate = ceiling(settings, settings.topic(TRANSACTIONS_SUBMITTED), len(records))
        figures["ceiling: pass-through events/s"] = figure(rate, "events/s")
        loads["after ceiling"] = os.getloadavg()
        screeners = start_screeners(settings, state_dir, args.copies)
        cpu_at_first: list[float] = []
        count, first, last = count_results(
            settings,
            len(records),
            timeout_s=1800,
            on_first=lambda: cpu_at_first.append(cpu_seconds(screeners)),
            processes=screeners,
        )
        sustained = (count - 1) / (last - first) if last > first else 0.0
        figures["sustained transactions/s"] = figure(sustained, "transactions/s", 10_000)
        figures["sustained: check results read"] = figure(count, "results")
        figures["sustained: screener CPU per transaction"] = figure(
            (cpu_seconds(screeners) - cpu_at_first[0]) / max(count - 1, 1) * 1e6, "µs"
        )
        figures["screener processes"] = figure(args.copies, "processes")
        figures["commit interval"] = figure(settings.transactions_commit_interval_s * 1000, "ms")
        loads["after sustained"] = os.getloadavg()
        if args.only is None:
            floor, floor_cpu = quix_floor(
                settings, settings.topic(TRANSACTIONS_SUBMITTED), len(records), state_dir / "floor"
            )
            figures["quixstreams floor: stateful no-op events/s"] = figure(floor, "events/s")
            figures["quixstreams floor: CPU per event"] = figure(floor_cpu, "µs")
            runner = runner_floor(settings, settings.topic(TRANSACTIONS_SUBMITTED), len(records))
            figures["project runner floor: decode and publish again events/s"] = figure(
                runner, "events/s"
            )
            alone, alone_cpu = stage_alone(records)
            figures["stage alone: transactions/s"] = figure(alone, "transactions/s")
            figures["stage alone: CPU per transaction"] = figure(alone_cpu, "µs")
            loads["after floor and stage"] = os.getloadavg()
        if args.only == "sustained":
            raise _Done
        later = start + timedelta(days=10)
        live = encoded(synthetic(args.rate * LATENCY_SECONDS, SEED + 1, later, prefix="lx"))
        measured = latency(settings, live, args.rate, lambda: cpu_seconds(screeners))
        at = f"at {args.rate:,} tx/s"
        figures[f"p99 ms publish to check result {at}"] = figure(
            measured["p99"], "ms", 35 if args.rate == RATE else None
        )
        figures[f"p50 ms publish to check result {at}"] = figure(measured["p50"], "ms")
        figures["latency: publish rate achieved"] = figure(measured["rate"], "transactions/s")
        figures["latency: screener CPU per transaction"] = figure(measured["cpu_us"], "µs")
        figures["latency: results received of sent"] = figure(
            measured["received"] / measured["sent"] * 100, "%"
        )
        loads["after latency"] = os.getloadavg()
    except _Done:
        pass
    finally:
        for screener in screeners:
            screener.send_signal(signal.SIGTERM)
        for screener in screeners:
            try:
                screener.wait(30)
            except subprocess.TimeoutExpired:
                screener.kill()
        admin = kafka_io.admin(settings)
        topics = [t for t in admin.list_topics(timeout=10).topics if t.startswith(prefix)]
        if topics:
            for future in admin.delete_topics(topics, operation_timeout=30).values():
                future.result()
        shutil.rmtree(state_dir, ignore_errors=True)
    command = (
        f"python benchmarks/transactions_bench.py --transactions {args.transactions}"
        f" --copies {args.copies}"
    )
    if args.commit_interval is not None:
        command += f" --commit-interval {args.commit_interval}"
    if args.rate != RATE:
        command += f" --rate {args.rate}"
    if args.only is not None:
        command += f" --only {args.only}"
    host = (
        f"{platform.system()} {platform.release()} {platform.machine()}; "
        f"{os.cpu_count()} CPUs; Python {platform.python_version()}; load average (1, 5, 15 "
        f"min) {', '.join(f'{k}: {tuple(round(x, 1) for x in v)}' for k, v in loads.items())}"
    )
    if args.only is None and args.rate == RATE:
        write_results(RESULTS, command, host, figures)
    else:  # a partial run is printed, not kept
        print(json.dumps({"command": command, "machine": host, "figures": figures}, indent=2))


if __name__ == "__main__":
    main()
