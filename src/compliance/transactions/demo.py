"""The transaction part of ``make run``: a short stream with planted patterns
(``samples/transactions/canonical_demo.csv``) through the screener, and its alerts as the
audit trail in PostgreSQL recorded them."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from compliance.audit.tables import audit_events
from compliance.config import PROJECT_ROOT, Settings
from compliance.publisher import Publisher
from compliance.topics import COMPLIANCE_CHECKS, COMPLIANCE_EXCEPTIONS
from compliance.transactions.sources import read_csv

STREAM = PROJECT_ROOT / "samples" / "transactions" / "canonical_demo.csv"


def _audited(engine: Engine, settings: Settings, ids: Sequence[str]) -> list[Any]:
    topics = [settings.topic(COMPLIANCE_CHECKS), settings.topic(COMPLIANCE_EXCEPTIONS)]
    query = select(audit_events.c.event_type, audit_events.c.payload).where(
        audit_events.c.topic.in_(topics), audit_events.c.correlation_id.in_(list(ids))
    )
    with engine.connect() as conn:
        return list(conn.execute(query))


def run_transaction_demo(
    engine: Engine,
    settings: Settings,
    timeout_s: float,
    procs: Sequence[subprocess.Popen[bytes]] = (),
    stream: Path = STREAM,
) -> None:
    """Publish the stream, wait (at most ``timeout_s``) until every payment's check result
    is in the audit trail, then print the alerts."""
    payments = list(read_csv(stream))
    with Publisher(settings) as publisher:
        for tx in payments:
            publisher.publish_transaction(tx, source_system="demo")
    ids = [tx.transaction_id for tx in payments]
    deadline = time.monotonic() + timeout_s
    while True:
        rows = _audited(engine, settings, ids)
        checked = {r.payload["document_id"] for r in rows if r.event_type == "CheckResult"}
        if checked >= set(ids):
            break
        if any(p.poll() is not None for p in procs) or time.monotonic() > deadline:
            raise TimeoutError(
                f"transactions not screened within {timeout_s:g} s: "
                + ", ".join(sorted(set(ids) - checked))
            )
        time.sleep(0.5)
    alerts = [r.payload for r in rows if r.event_type == "ComplianceException"]
    print(f"\n{len(payments)} demo payments screened; {len(alerts)} alert(s):")
    for alert in sorted(alerts, key=lambda a: (a["rule_id"], a["details"]["transactions"])):
        print(
            f"  {alert['severity']:8} {alert['rule_id']:36} "
            f"[{alert['details']['transactions']}] {alert['reason'][:110]}"
        )
