"""Rules benchmark: documents evaluated per second, and checker throughput through Kafka.

Run from the project root:  .venv/bin/python benchmarks/rules_bench.py [--documents N]
Writes benchmarks/results/rules.json. Reproducible (fixed seed). With --digest it only prints
the sha256 of every rule result on the same documents: a change made for speed must not
change it.

1. Evaluation, pinned to one CPU core, no I/O: the full bundled ruleset on a mix of
   passports, identity cards, proofs of address, consent forms and bank statements, each with
   an in-memory customer state (earlier documents, consents). Two name distributions:
   every document a new person (the screening cache never helps: the worst case; their family
   names are made up with a serial number, so no list and no earlier name holds that word and
   the per-word caches of the screening miss as well, where real new customers mostly share
   their words with earlier ones), and 5,000 customers with several documents each (names
   screened again hit the watchlist's cache). Bank statements all carry the same IBAN and
   BIC; the identifier checks keep no result across documents, so that saves nothing.
   Target: at least 20,000 documents per second. A further pass per distribution, on
   documents of the same kind with family names not seen before, splits the CPU time per
   document into the sanctions screening and the rest of the rules engine.
2. End to end through Kafka and PostgreSQL: DocumentClassified events produced to a fresh
   topic prefix, one `compliance run checker` process (a batch at a time: the customers'
   state read in one query per table and written in one statement per batch, Kafka
   transactions), timed from its first output to the last check result committed; the
   checker's own CPU time over that span is reported per document.
The machine's load average is recorded with the figures: its cores are shared.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from host import ROOT, machine, use_checkout, write_results

use_checkout()

from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402

from compliance import kafka_io  # noqa: E402
from compliance.codec import registry  # noqa: E402
from compliance.config import Settings  # noqa: E402
from compliance.events import envelope  # noqa: E402
from compliance.mrz import check_digit  # noqa: E402
from compliance.rules import Ruleset, evaluate, load_ruleset  # noqa: E402
from compliance.rules.kinds.screening import Watchlist  # noqa: E402
from compliance.rules.state import ConsentStatement, CustomerDocument, CustomerState  # noqa: E402
from compliance.topics import COMPLIANCE_CHECKS, DOCUMENTS_CLASSIFIED  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "rules.json"
SEED = 20261102
TARGET_DOCS_PER_S = 20_000
GIVEN = ["INGRID", "DANIEL", "ANNA", "MARIA", "JONAS", "AMINA", "WEI", "LUCAS", "SOFIA", "OMAR"]
FAMILY = ["HALVORSEN", "OKAFOR", "ERIKSSON", "BERG", "NAKAMURA", "SILVA", "MOREAU", "KOWALSKI"]
AT = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
Document = tuple[str, dict[str, str | None], str, CustomerState]


def person(rng: random.Random, serial: int) -> tuple[str, str]:
    name = f"{rng.choice(GIVEN)} {rng.choice(GIVEN)} {rng.choice(FAMILY)}"
    # A made-up family name per person: screening cannot answer from its cache.
    family = f"{rng.choice(FAMILY)}{serial:05d}"
    return name.rsplit(" ", 1)[
        0
    ] + " " + family, f"19{rng.randint(40, 99)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}"


def mrz_lines(rng: random.Random, name: str, born: str) -> tuple[str, str]:
    """A TD3 zone with correct check digits for this person: its number and its two lines."""
    number = "".join(rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ0123456789") for _ in range(9))
    given, family = name.rsplit(" ", 1)
    line1 = f"P<UTO{family}<<{given.replace(' ', '<')}".ljust(44, "<")[:44]
    birth, expiry = born[2:].replace("-", ""), "340921"
    body = f"{number}{check_digit(number)}UTO{birth}{check_digit(birth)}F{expiry}"
    body += f"{check_digit(expiry)}" + "<" * 14 + "<"
    line2 = body + str(check_digit(body[0:10] + body[13:20] + body[21:43]))
    return number, f"{line1}\n{line2}"


def documents(
    count: int, customers: int | None, rng: random.Random, first_serial: int = 0
) -> list[Document]:
    pool = [person(rng, first_serial + i) for i in range(customers or count)]
    history_name = CustomerDocument("e0", "d0", "passport", AT - timedelta(days=9))
    consent = ConsentStatement(
        "c0", "K-1", "marketing", "consent", AT - timedelta(days=30), AT - timedelta(days=30)
    )
    made: list[Document] = []
    for i in range(count):
        name, born = pool[i % len(pool)] if customers else pool[i]
        earlier = CustomerDocument(
            history_name.event_id,
            history_name.document_id,
            "passport",
            history_name.occurred_at,
            full_name=name,
            date_of_birth=born,
            address="Storgata 12, 0155 Oslo, Norway",
        )
        state = CustomerState((earlier,), (consent,))
        kind = i % 5
        if kind in (0, 1):
            doc_type = "passport" if kind == 0 else "national_id"
            number, lines = mrz_lines(rng, name, born)
            fields: dict[str, str | None] = {
                "full_name": name,
                "document_number": number,
                "issuing_state": "UTO",
                "nationality": "UTO",
                "date_of_birth": born,
                "expiry_date": "2034-09-21",
                "mrz_lines": lines,
            }
        elif kind == 2:
            doc_type = "proof_of_address"
            fields = {
                "full_name": name.title(),
                "address": "Storgata 12, 0155 Oslo",
                "document_date": "2026-10-02",
            }
        elif kind == 3:
            doc_type = "consent_form"
            fields = {
                "full_name": name.title(),
                "purpose": "marketing communications by e-mail",
                "lawful_basis": "consent",
                "consent_given_at": "2026-08-30",
            }
        else:
            doc_type = "bank_statement"
            fields = {"account": "NL91ABNA0417164300", "bic": "ABNANL2A"}
        made.append((doc_type, fields, f"C-{i % len(pool)}", state))
    return made


def evaluation(figures: dict[str, Any], count: int) -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    ruleset = load_ruleset(ROOT / "rules")
    for label, customers in (("new person every document", None), ("5,000 customers", 5000)):
        docs = documents(count, customers, random.Random(SEED))
        for doc_type, fields, customer, state in docs[:2000]:  # warm up
            evaluate(ruleset, doc_type, fields, AT, customer_id=customer, customer=state)
        started, cpu_started = time.perf_counter(), time.process_time()
        results = 0
        for doc_type, fields, customer, state in docs:
            results += len(
                evaluate(ruleset, doc_type, fields, AT, customer_id=customer, customer=state)
            )
        seconds = time.perf_counter() - started
        cpu_seconds = time.process_time() - cpu_started
        figures[f"evaluation ({label}): documents per second, one core"] = {
            "value": round(count / seconds),
            "unit": "documents/s",
            "target": TARGET_DOCS_PER_S,
        }
        # the core is shared: what the evaluation itself used, whatever else ran meanwhile
        figures[f"evaluation ({label}): documents per CPU-second"] = {
            "value": round(count / cpu_seconds),
            "unit": "documents/CPU-s",
            "target": None,
        }
        figures[f"evaluation ({label}): rule results per second, one core"] = {
            "value": round(results / seconds),
            "unit": "results/s",
            "target": None,
        }
        split(figures, label, ruleset, count, customers)
    figures["evaluation: rules in the bundled ruleset"] = {
        "value": len(ruleset.rules),
        "unit": "rules",
        "target": None,
    }


def split(
    figures: dict[str, Any], label: str, ruleset: Ruleset, count: int, customers: int | None
) -> None:
    """Where a document's CPU time goes: the sanctions screening (the watchlist's screen,
    its result cache included) and the rest of the rules engine (dispatch, the other checks,
    result building). Measured in a pass of its own over documents of the same distribution
    whose family names no earlier pass used (so the screening's caches start as cold as in
    the timed pass), each screen timed on the thread's CPU clock."""
    fresh = (
        10 if customers is None else 20
    ) * count  # words neither timed pass nor the other split used
    docs = documents(count, customers, random.Random(SEED + 1), first_serial=fresh)
    spent = [0.0]
    original = Watchlist.screen

    def timed(self: Watchlist, *args: Any, **kwargs: Any) -> Any:
        started = time.thread_time()
        try:
            return original(self, *args, **kwargs)
        finally:
            spent[0] += time.thread_time() - started

    Watchlist.screen = timed  # type: ignore[method-assign]
    try:
        cpu_started = time.thread_time()
        for doc_type, fields, customer, state in docs:
            evaluate(ruleset, doc_type, fields, AT, customer_id=customer, customer=state)
        cpu = time.thread_time() - cpu_started
    finally:
        Watchlist.screen = original  # type: ignore[method-assign]
    screening = spent[0]
    figures[f"evaluation ({label}): CPU per document, sanctions screening"] = {
        "value": round(screening / count * 1e6, 1),
        "unit": "µs/document",
        "target": None,
    }
    figures[f"evaluation ({label}): CPU per document, rest of the rules engine"] = {
        "value": round((cpu - screening) / count * 1e6, 1),
        "unit": "µs/document",
        "target": None,
    }
    figures[f"evaluation ({label}): sanctions screening share of CPU"] = {
        "value": round(100 * screening / cpu, 1),
        "unit": "%",
        "target": None,
    }


def results_digest(count: int) -> str:
    """sha256 of every rule result (rule, outcome, explanation, inputs) on the benchmark's
    documents, both name distributions: a change made for speed must leave it as it was."""
    ruleset = load_ruleset(ROOT / "rules")
    digest = hashlib.sha256()
    for customers in (None, 5000):
        for doc_type, fields, customer, state in documents(count, customers, random.Random(SEED)):
            for r in evaluate(ruleset, doc_type, fields, AT, customer_id=customer, customer=state):
                line = [r.rule.id, r.outcome, r.explanation, sorted(r.inputs.items())]
                digest.update(json.dumps(line).encode())
    return digest.hexdigest()


def classified(settings: Settings, i: int, doc_type: str, fields: dict[str, str | None]) -> bytes:
    customer = f"C-bench-{i % 2000}"
    record = {
        "envelope": envelope(
            event_type="DocumentClassified",
            stage="bench",
            cause=f"{settings.topic_prefix}{i}",
            correlation_id=f"doc-{i}",
            subject_id=customer,
            causation_id=None,
        ),
        "document_id": f"doc-{i}",
        "customer_id": customer,
        "document_type": doc_type,
        "confidence": 0.99,
        "fields": [{"name": k, "value": v, "confidence": 0.99} for k, v in fields.items()],
        "extraction_method": "text",
        "text_sha256": "0" * 64,
        "document_sha256": "0" * 64,
    }
    encoded: bytes = registry().encode("DocumentClassified", record)
    return encoded


def count_committed(settings: Settings, topic: str) -> int:
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap,
            "group.id": f"bench-{uuid.uuid4()}",
            "isolation.level": "read_committed",
        }
    )
    try:
        name = settings.topic(topic)
        parts = consumer.list_topics(name, timeout=10).topics[name].partitions
        # with read_committed, the high watermark is the last stable offset minus markers:
        total = 0
        for p in parts:
            low, high = consumer.get_watermark_offsets(TopicPartition(name, p), timeout=10)
            total += high - low
        return total
    finally:
        consumer.close()


def process_cpu(pid: int) -> float:
    """CPU seconds (user and system) a process has used so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def end_to_end(figures: dict[str, Any], count: int) -> None:
    prefix = f"bench{uuid.uuid4().hex[:8]}."
    settings = Settings(topic_prefix=prefix, instance_id=f"bench-{prefix}")
    kafka_io.require_broker(settings)
    kafka_io.create_topics(settings)
    ruleset = load_ruleset(settings.rules_dir)
    docs = documents(count, 2000, random.Random(SEED))
    expected = sum(len(ruleset.for_type(doc_type)) for doc_type, *_ in docs)
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap, "linger.ms": 20})
    for i, (doc_type, fields, _, _) in enumerate(docs):
        value = classified(settings, i, doc_type, fields)
        producer.produce(
            settings.topic(DOCUMENTS_CLASSIFIED), key=f"C-bench-{i % 2000}".encode(), value=value
        )
    producer.flush(60)
    env = os.environ | {
        "COMPLIANCE_TOPIC_PREFIX": prefix,
        "COMPLIANCE_INSTANCE_ID": settings.instance_id,
        "COMPLIANCE_LOG_LEVEL": "WARNING",
        # the local services' development credentials (a benchmark runs on a developer's machine)
        "COMPLIANCE_DEVELOPMENT_MODE": os.environ.get("COMPLIANCE_DEVELOPMENT_MODE", "true"),
    }
    proc = subprocess.Popen([sys.executable, "-m", "compliance", "run", "checker"], env=env)
    try:
        first = None
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            done = count_committed(settings, COMPLIANCE_CHECKS.name)
            if done and first is None:
                first = (time.monotonic(), done)
                cpu_first = process_cpu(proc.pid)
            if done >= expected:
                break
            time.sleep(0.2)
        finished = time.monotonic()
        cpu_used = process_cpu(proc.pid) - cpu_first if first is not None else 0.0
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    assert first is not None and done >= expected, f"only {done} of {expected} results"
    started, already = first
    docs_done = count * (done - already) / done
    seconds = max(finished - started, 1e-6)
    figures["end to end through Kafka: documents per second (one checker process)"] = {
        "value": round(docs_done / seconds),
        "unit": "documents/s",
        "target": None,
    }
    figures["end to end through Kafka: check results per second"] = {
        "value": round((done - already) / seconds),
        "unit": "results/s",
        "target": None,
    }
    # the machine is shared: the checker's own CPU time is the figure load does not move much
    figures["end to end through Kafka: checker CPU per document"] = {
        "value": round(cpu_used / max(docs_done, 1) * 1e6),
        "unit": "µs/document",
        "target": None,
    }
    figures["end to end through Kafka: documents"] = {
        "value": count,
        "unit": "documents",
        "target": None,
    }
    admin = kafka_io.admin(settings)
    topics = [t for t in admin.list_topics(timeout=10).topics if t.startswith(prefix)]
    for future in admin.delete_topics(topics, operation_timeout=30).values():
        future.result()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--documents", type=int, default=100_000)
    parser.add_argument("--kafka-documents", type=int, default=5_000)
    parser.add_argument(
        "--digest",
        action="store_true",
        help="only print the sha256 of every rule result on --documents documents (compare "
        "it before and after a change made for speed) and exit",
    )
    args = parser.parse_args()
    if args.digest:
        print(results_digest(args.documents))
        return
    started = time.monotonic()
    figures: dict[str, Any] = {}
    load_before = "{:.1f} / {:.1f} / {:.1f}".format(*os.getloadavg())
    if args.kafka_documents > 0:  # 0: the evaluation alone (while iterating)
        end_to_end(figures, args.kafka_documents)  # before pinning this process to one core
    evaluation(figures, args.documents)
    figures["load average (1/5/15 min) before / after"] = {
        "value": load_before + " | " + "{:.1f} / {:.1f} / {:.1f}".format(*os.getloadavg()),
        "unit": "runnable processes",
        "target": None,
    }
    figures["benchmark wall time"] = {
        "value": round(time.monotonic() - started, 1),
        "unit": "s",
        "target": None,
    }
    command = (
        ".venv/bin/python benchmarks/rules_bench.py "
        f"--documents {args.documents} --kafka-documents {args.kafka_documents}"
    )
    write_results(RESULTS, command, machine(" (evaluation pinned to 1)"), figures)


if __name__ == "__main__":
    main()
