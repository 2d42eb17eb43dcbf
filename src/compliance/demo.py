"""``make run``: the whole pipeline on the bundled samples, ending in a summary read from
PostgreSQL. Starts the processors as separate processes (as in production), publishes the
samples, waits until every document's trail is complete in the audit table, then stops them."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from compliance import kafka_io
from compliance.audit.queries import DocumentTrail, counts_by_type, trails
from compliance.audit.store import connect, require_database
from compliance.config import PROJECT_ROOT, Settings
from compliance.db_setup import initialise
from compliance.processors.checker import EXCEPTION_KIND
from compliance.publisher import Published, Publisher, arrival_event
from compliance.rules import Ruleset, load_ruleset
from compliance.topics import every_topic
from compliance.transactions.demo import STREAM, run_transaction_demo
from compliance.transactions.sources import read_csv

PROCESSORS = ("audit-sink", "classifier", "checker", "transaction-screener", "cases")
# The checker raises one exception per failing rule, of one of these kinds; the classifier's
# own (unreadable, low confidence) come on top.
RULE_EXCEPTION_KINDS = frozenset(EXCEPTION_KIND.values())
SAMPLES = PROJECT_ROOT / "samples" / "documents"


@dataclass(frozen=True)
class Sample:
    path: Path
    customer_id: str
    expectation: str


def read_manifest(folder: Path) -> list[Sample]:
    with (folder / "manifest.csv").open(newline="") as handle:
        return [
            Sample(folder / row["file"], row["customer_id"], row["expectation"])
            for row in csv.DictReader(handle)
        ]


def start_processors(log_dir: Path) -> list[subprocess.Popen[bytes]]:
    log_dir.mkdir(parents=True, exist_ok=True)
    procs = []
    for name in PROCESSORS:
        log = (log_dir / f"{name}.log").open("ab")
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "compliance", "run", name],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=os.environ.copy(),
            )
        )
    return procs


def stop_processors(procs: list[subprocess.Popen[bytes]], timeout_s: float = 20) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    for proc in procs:
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def is_complete(trail: DocumentTrail, ruleset: Ruleset) -> bool:
    if trail.filename is None:
        return False
    if trail.unreadable:
        return True
    if trail.document_type is None:
        return False
    expected = len(ruleset.for_type(trail.document_type))
    failing = sum(1 for outcome in trail.checks.values() if outcome != "pass")
    from_rules = sum(1 for kind in trail.exception_kinds if kind in RULE_EXCEPTION_KINDS)
    return len(trail.checks) == expected and from_rules == failing


def wait_until_audited(
    engine: Engine,
    published: list[Published],
    ruleset: Ruleset,
    settings: Settings,
    timeout_s: float,
    procs: list[subprocess.Popen[bytes]] | None = None,
) -> list[DocumentTrail]:
    ids = [p.document_id for p in published]
    deadline = time.monotonic() + timeout_s
    while True:
        found = trails(engine, ids, [settings.topic(t) for t in every_topic()])
        if all(is_complete(t, ruleset) for t in found):
            return found
        dead = [p for p in procs or [] if p.poll() is not None]
        if dead or time.monotonic() > deadline:
            missing = [t.document_id for t in found if not is_complete(t, ruleset)]
            why = "a processor exited" if dead else f"not audited within {timeout_s:g} s"
            raise TimeoutError(f"{why}; incomplete documents: {', '.join(missing)}")
        time.sleep(0.5)


def run_demo(
    settings: Settings, samples: Path = SAMPLES, timeout_s: float = 120, serve: bool | None = None
) -> int:
    admin = connect(settings.admin_database_dsn)
    require_database(admin, "COMPLIANCE_ADMIN_DATABASE_URL")
    initialise(admin, settings)  # as the owner; the processors run as their own roles
    admin.dispose()
    engine = connect(settings.database_dsn)
    require_database(engine)
    kafka_io.require_broker(settings)
    kafka_io.create_topics(settings)
    ruleset = load_ruleset(settings.rules_dir)
    started = time.monotonic()
    procs = start_processors(PROJECT_ROOT / ".demo" / "logs")
    try:
        manifest = read_manifest(samples)
        published = []
        with Publisher(settings) as publisher:
            for sample in manifest:
                record = arrival_event(
                    sample.path, source_system="demo", customer_id=sample.customer_id
                )
                publisher.publish(record)
                published.append(
                    Published(record["document_id"], record["envelope"]["event_id"], sample.path)
                )
        found = wait_until_audited(engine, published, ruleset, settings, timeout_s, procs)
        run_transaction_demo(engine, settings, timeout_s, procs)
        subjects = [p.document_id for p in published] + demo_transaction_ids()
        queued = wait_until_queued(engine, settings, subjects, timeout_s, procs)
    finally:
        stop_processors(procs)
    print_summary(engine, settings, manifest, found, ruleset, time.monotonic() - started)
    return review_demo(engine, settings, queued, serve)


def print_summary(
    engine: Engine,
    settings: Settings,
    manifest: list[Sample],
    found: list[DocumentTrail],
    ruleset: Ruleset,
    seconds: float,
) -> None:
    print(
        f"\nAll {len(found)} sample documents audited in {seconds:.1f} s "
        f"(ruleset {ruleset.version}).\n"
    )
    print(f"{'document':34} {'type':17} {'checks':>7} {'failed':>7}  outcome")
    for sample, trail in zip(manifest, found, strict=True):
        failed = sum(1 for o in trail.checks.values() if o != "pass")
        if trail.unreadable:
            outcome = "exception: " + trail.exceptions[0]
        elif trail.exceptions:
            outcome = f"{len(trail.exceptions)} exception(s): " + trail.exceptions[0]
        else:
            outcome = "passed"
        print(
            f"{sample.path.name:34} {trail.document_type or '-':17} "
            f"{len(trail.checks):>7} {failed:>7}  {outcome[:90]}"
        )
    counts = counts_by_type(engine, [settings.topic(t) for t in every_topic()])
    print("\nAudit trail in PostgreSQL (every run so far, every topic):")
    print(f"  documents arrived    {counts.get('DocumentArrived', 0)}")
    print(f"  documents classified {counts.get('DocumentClassified', 0)}")
    print(f"  check results        {counts.get('CheckResult', 0)}")
    print(f"  exceptions           {counts.get('ComplianceException', 0)}")
    print(f"  dead letters         {counts.get('DeadLetter', 0)}")
    print(f"  audit rows in total  {sum(counts.values())}")


def demo_transaction_ids() -> list[str]:
    return [tx.transaction_id for tx in read_csv(STREAM)]


def wait_until_queued(
    engine: Engine,
    settings: Settings,
    subjects: list[str],
    timeout_s: float,
    procs: list[subprocess.Popen[bytes]],
) -> int:
    """Wait until every exception of this deployment's audit trail is in a case (the cases
    processor's work); return how many open cases the queue holds."""
    from compliance.demo_review import open_cases, unqueued_exceptions

    deadline = time.monotonic() + timeout_s
    while unqueued_exceptions(engine, settings, subjects):
        if any(p.poll() is not None for p in procs) or time.monotonic() > deadline:
            raise TimeoutError(f"exceptions not turned into cases within {timeout_s:g} s")
        time.sleep(0.5)
    return open_cases(engine, settings)


def review_demo(engine: Engine, settings: Settings, queued: int, serve: bool | None) -> int:
    from compliance.demo_review import present_review_application

    return present_review_application(engine, settings, queued, serve)
