"""The end of ``make run``: the review application, with the demo's exceptions in its queue
and two demo officers (development mode only), its URL and login printed.

In a terminal the application then serves until Ctrl-C; elsewhere (a script, CI) the demo
ends after printing, and ``compliance run review-ui`` serves the same queue.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import Engine, func, select

from compliance.audit.tables import audit_events
from compliance.cases.tables import OPEN_STATUSES, case_exceptions, cases
from compliance.config import PROJECT_ROOT, Settings
from compliance.officers import add_officer, find_officer
from compliance.topics import COMPLIANCE_EXCEPTIONS

DEMO_OFFICERS = (
    ("demo.analyst", "analyst", "Demo Analyst"),
    ("demo.supervisor", "supervisor", "Demo Supervisor"),
)
# Printed on purpose: these accounts exist only on a development machine.
DEMO_PASSWORD = "review-demo-password"
START_TIMEOUT_S = 30


def unqueued_exceptions(engine: Engine, settings: Settings, subjects: Sequence[str]) -> int:
    """Exceptions in the audit trail about ``subjects`` (the demo's documents and payments)
    that are in no case yet. Event ids are derived from their inputs, so a second run of the
    demo raises the same exceptions, recorded once, and finds them queued already."""
    raised = select(audit_events.c.event_id).where(
        audit_events.c.topic == settings.topic(COMPLIANCE_EXCEPTIONS),
        audit_events.c.event_type == "ComplianceException",
        audit_events.c.correlation_id.in_(list(subjects)),
    )
    with engine.connect() as conn:
        ids = {str(r.event_id) for r in conn.execute(raised)}
        queued = {
            r.exception_event_id
            for r in conn.execute(
                select(case_exceptions.c.exception_event_id).where(
                    case_exceptions.c.exception_event_id.in_(sorted(ids))
                )
            )
        }
    return len(ids - queued)


def open_cases(engine: Engine, settings: Settings) -> int:
    query = select(func.count()).where(
        cases.c.scope == settings.topic_prefix, cases.c.status.in_(OPEN_STATUSES)
    )
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def ensure_demo_officers(engine: Engine) -> list[str]:
    """The demo officers, added with the demo password where missing."""
    added = []
    for username, role, name in DEMO_OFFICERS:
        if find_officer(engine, username) is None:
            add_officer(engine, username, role, DEMO_PASSWORD, name)
            added.append(username)
    return added


def start_review_application(settings: Settings, log_dir: Path) -> subprocess.Popen[bytes]:
    log_dir.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [sys.executable, "-m", "compliance", "run", "review-ui"],
        stdout=(log_dir / "review-ui.log").open("ab"),
        stderr=subprocess.STDOUT,
        env=os.environ.copy(),
    )


def wait_until_serving(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            with urllib.request.urlopen(url + "login", timeout=2):
                return
        except (urllib.error.URLError, OSError):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise TimeoutError(
                    f"the review application did not start on {url} (is the port taken? "
                    "set COMPLIANCE_REVIEW_PORT; see .demo/logs/review-ui.log)"
                ) from None
            time.sleep(0.2)


def present_review_application(
    engine: Engine, settings: Settings, queued: int, serve: bool | None
) -> int:
    url = f"http://{settings.review_host}:{settings.review_port}/"
    print(f"\n{queued} open case(s) in the review queue.")
    if not settings.development_mode:
        print(f"Review application: {url} (add officers with `compliance users add`)")
        return 0
    ensure_demo_officers(engine)
    if serve is None:
        serve = sys.stdin.isatty()
    proc = start_review_application(settings, PROJECT_ROOT / ".demo" / "logs") if serve else None
    if proc is not None:
        wait_until_serving(url, proc)
    print(f"\nReview application: {url}")
    print(f"  log in as demo.analyst or demo.supervisor, password {DEMO_PASSWORD}")
    if proc is None:
        print("  (serve it with `compliance run review-ui`)")
        return 0
    print("  serving until Ctrl-C")
    try:
        proc.wait()
    except KeyboardInterrupt:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
    return 0
