"""Review application benchmark: the queue page at 100,000 open cases.

Run from the project root:  .venv/bin/python benchmarks/review_bench.py [--cases N] [--requests N]
Writes its figures into benchmarks/results/cases.json (read, updated, written back: the case
management benchmark writes its own figures there too). Reproducible (fixed seed).

Fills the case tables (``compliance.cases.tables``, the projection's own tables) with N open
cases of one scope of its own (a topic prefix nobody else uses), one exception each, by COPY as
the tables' owner; starts ``compliance run review-ui`` as its own process on a free port,
as deployed (the processors' role); logs in over HTTP as an officer it adds; then asks for the
queue page a few hundred times with varied filters (none, a category, a severity, a status,
assigned to me, a customer or document search, deeper pages), every answer a full page of
HTML. Figure: p95 of the time from sending a request to the last byte of its page (target
<= 200 ms). The rows and the officer are removed at the end. The case table is shared (tests
and other benchmarks leave their scopes' cases in it): how many rows it held is reported too,
since a queue query that cannot use an index reads them all.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from host import ROOT, load_average, machine, use_checkout, write_results

use_checkout(development_mode=True)

import httpx  # noqa: E402
from sqlalchemy import delete, func, select  # noqa: E402

from compliance.audit.store import connect  # noqa: E402
from compliance.cases.tables import case_exceptions, cases  # noqa: E402
from compliance.config import Settings  # noqa: E402
from compliance.db_setup import initialise  # noqa: E402
from compliance.exception_routing import CATEGORIES, SEVERITIES  # noqa: E402
from compliance.officers import add_officer, officers  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "cases.json"
FIGURE = "queue page p95 ms at 100,000 open cases"
TARGET_MS = 200.0
SEED = 1212
OPEN = ("open", "in_review", "escalated")
PASSWORD = "benchmark password, not a secret"
START_TIMEOUT_S = 60


def fill(engine: Any, scope: str, n: int, officer: str, rng: random.Random) -> list[str]:
    """N open cases of ``scope`` and one exception each, by COPY; returns their customer ids."""
    now = datetime.now(UTC)
    customers = [f"{scope}C{i:07d}" for i in range(n)]
    case_rows, exception_rows = io.StringIO(), io.StringIO()
    cw, ew = csv.writer(case_rows), csv.writer(exception_rows)
    for i, customer in enumerate(customers):
        case_id = f"{scope}case-{i:07d}"
        category = rng.choice(CATEGORIES)
        severity = rng.choice(SEVERITIES)
        opened = now - timedelta(minutes=rng.randrange(60 * 24 * 30))
        due = opened + timedelta(hours=rng.choice((4, 24, 72, 168)))
        assignee = officer if rng.random() < 0.05 else rng.choice(("", "someone.else"))
        event = str(uuid.UUID(int=rng.getrandbits(128)))
        cw.writerow(
            [case_id, scope, customer, category, severity, rng.choice(OPEN), assignee,
             f"{category} {customer} identity.not-expired", opened.isoformat(),
             opened.isoformat(), due.isoformat(), "t" if due < now else "f", 1, "", "", "",
             event]
        )  # fmt: skip
        ew.writerow(
            [event, case_id, customer, f"{scope}doc-{i:07d}", "rule_failed",
             "identity.not-expired", "1", severity, opened.isoformat(), due.isoformat(),
             "the rule failed", "{}", json.dumps([{"kind": "document", "ref": f"doc-{i}"}])]
        )  # fmt: skip
    raw = engine.raw_connection()
    try:
        with raw.cursor() as cur:
            case_rows.seek(0)
            cur.copy_expert(
                "COPY cases (case_id, scope, customer_id, category, severity, status, assignee,"
                " title, opened_at, updated_at, sla_due_at, sla_breached, exception_count,"
                " pending_outcome, pending_by, pending_at, last_event_id)"
                " FROM STDIN WITH (FORMAT csv, NULL '')",
                case_rows,
            )
            exception_rows.seek(0)
            cur.copy_expert(
                "COPY case_exceptions (exception_event_id, case_id, subject_id, document_id,"
                " kind, rule_id, rule_version, severity, raised_at, sla_due_at, reason, details,"
                " evidence) FROM STDIN WITH (FORMAT csv, NULL '')",
                exception_rows,
            )
            cur.execute("ANALYZE cases")
            cur.execute("ANALYZE case_exceptions")
        raw.commit()
    finally:
        raw.close()
    return customers


def remove(engine: Any, scope: str, officer: str) -> None:
    ids = select(cases.c.case_id).where(cases.c.scope == scope)
    with engine.begin() as conn:
        conn.execute(delete(case_exceptions).where(case_exceptions.c.case_id.in_(ids)))
        conn.execute(delete(cases).where(cases.c.scope == scope))
        conn.execute(delete(officers).where(officers.c.username == officer))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_app(scope: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = os.environ | {
        "COMPLIANCE_TOPIC_PREFIX": scope,
        "COMPLIANCE_REVIEW_PORT": str(port),
        "COMPLIANCE_REVIEW_COOKIE_SECURE": "false",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "compliance", "run", "review-ui"],
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        env=env,
    )


def log_in(base: str, username: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=30, follow_redirects=False)
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            form = client.get("/login")
            break
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token is not None, "the login page has no CSRF token"
    answer = client.post(
        "/login",
        data={"csrf_token": token.group(1), "username": username, "password": PASSWORD},
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/", answer.text[:200]
    return client


def queries(customers: list[str], scope: str, n: int, rng: random.Random) -> list[dict[str, str]]:
    shapes = [
        lambda: {},
        lambda: {"category": rng.choice(CATEGORIES)},
        lambda: {"severity": rng.choice(SEVERITIES)},
        lambda: {"status": rng.choice(OPEN)},
        lambda: {"mine": "1"},
        lambda: {"q": rng.choice(customers)},
        lambda: {"q": rng.choice(customers)[:-2]},
        lambda: {"q": f"{scope}doc-{rng.randrange(len(customers)):07d}"},
        lambda: {"category": rng.choice(CATEGORIES), "severity": rng.choice(SEVERITIES)},
        lambda: {"page": str(rng.randrange(2, 21))},
    ]
    return [rng.choice(shapes)() for _ in range(n)]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=400)
    args = parser.parse_args()
    rng = random.Random(SEED)
    host = machine(
        " shared with Kafka and PostgreSQL",
        f"; load average (1 min) {load_average()} before the run",
    )
    settings = Settings()
    admin = connect(settings.admin_database_dsn)
    initialise(admin, settings)
    scope = f"bench{uuid.uuid4().hex[:8]}."
    officer = f"bench-{uuid.uuid4().hex[:8]}"
    add_officer(admin, officer, "analyst", PASSWORD)
    log = ROOT / ".services" / "bench-review-ui.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    app = None
    try:
        started = time.perf_counter()
        customers = fill(admin, scope, args.cases, officer, rng)
        fill_s = time.perf_counter() - started
        print(f"{args.cases:,} open cases written in {fill_s:.1f} s")
        with admin.connect() as conn:
            in_table = int(conn.execute(select(func.count()).select_from(cases)).scalar_one())
        port = free_port()
        app = start_app(scope, port, log)
        client = log_in(f"http://127.0.0.1:{port}", officer)
        for params in queries(customers, scope, 20, rng):  # warm the pools and caches
            client.get("/", params=params).raise_for_status()
        timings = []
        for params in queries(customers, scope, args.requests, rng):
            begun = time.perf_counter()
            page = client.get("/", params=params)
            timings.append((time.perf_counter() - begun) * 1000)
            assert page.status_code == 200, page.status_code
            assert "<table" in page.text or "No case matches" in page.text
        figures = {
            FIGURE: {"value": round(percentile(timings, 95), 1), "unit": "ms", "target": TARGET_MS},
            "queue page p50 ms at 100,000 open cases": {
                "value": round(statistics.median(timings), 1), "unit": "ms", "target": None,
            },
            "queue page p99 ms at 100,000 open cases": {
                "value": round(percentile(timings, 99), 1), "unit": "ms", "target": None,
            },
            "queue page: cases in the table during the run (other scopes too)": {
                "value": in_table, "unit": "cases", "target": None,
            },
        }  # fmt: skip
    finally:
        if app is not None:
            app.send_signal(signal.SIGTERM)
            app.wait(30)
        remove(admin, scope, officer)
    command = (
        f".venv/bin/python benchmarks/review_bench.py --cases {args.cases} "
        f"--requests {args.requests}"
    )
    write_results(RESULTS, command, host, figures, keep_others=True)


if __name__ == "__main__":
    main()
