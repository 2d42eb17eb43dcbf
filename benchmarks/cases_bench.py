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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline_bench import Figures, ceiling, figure, load, machine

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from confluent_kafka import Producer  # noqa: E402
from sqlalchemy import Engine, func, select  # noqa: E402

from compliance import kafka_io  # noqa: E402
from compliance.audit.store import connect, create_schema, require_database  # noqa: E402
from compliance.cases.samples import sample_exception  # noqa: E402
from compliance.cases.tables import case_exceptions, cases, create_cases_schema  # noqa: E402
from compliance.config import Settings  # noqa: E402
from compliance.subject_keyring import sealing_codec  # noqa: E402
from compliance.topics import COMPLIANCE_EXCEPTIONS  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "cases.json"
TARGET_EXCEPTIONS_PER_S = 1_000.0
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


def merged(command: str, figures: Figures) -> dict[str, Any]:
    """cases.json with these figures put in, the other benchmark's kept."""
    result: dict[str, Any] = {}
    if RESULTS.exists():
        result = json.loads(RESULTS.read_text(encoding="utf-8"))
    commands = [c for c in str(result.get("command") or "").split(" ; ") if c]
    commands = [c for c in commands if not c.startswith(command.split(" --")[0])] + [command]
    result["command"] = " ; ".join(commands)
    result["date"] = datetime.now(UTC).isoformat(timespec="seconds")
    result["machine"] = machine()
    result["figures"] = {**result.get("figures", {}), **figures}
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--exceptions", type=int, default=20_000)
    parser.add_argument("--customers", type=int, default=2_000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    prefix = f"cbench{uuid.uuid4().hex[:8]}."
    overrides = {"database_url": args.database_url} if args.database_url else {}
    settings = Settings(topic_prefix=prefix, instance_id=f"bench-{prefix}", **overrides)
    kafka_io.require_broker(settings)
    engine = connect(settings.database_dsn)
    require_database(engine)
    create_schema(engine)
    create_cases_schema(engine)
    kafka_io.create_topics(settings)
    figures: Figures = {}
    started = time.monotonic()
    try:
        events = exceptions(settings, engine, args.exceptions, args.customers)
        ceiling(settings, [value for _, value in events], figures)
        # named for this benchmark: another one writes its own ceiling into cases.json
        figures[CEILING] = figures.pop("ceiling: Kafka pass-through events/s")
        cases_run(settings, engine, events, figures)
    finally:
        admin = kafka_io.admin(settings)
        topics = [t for t in admin.list_topics(timeout=10).topics if t.startswith(prefix)]
        for future in admin.delete_topics(topics, operation_timeout=30).values():
            future.result()
    figure(figures, "cases: benchmark wall time", time.monotonic() - started, "s")
    command = (
        ".venv/bin/python benchmarks/cases_bench.py "
        f"--exceptions {args.exceptions} --customers {args.customers}"
        + (" --database-url <a PostgreSQL 15 cluster of its own>" if args.database_url else "")
    )
    result = merged(command, figures)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
