"""The daily report against a seeded audit trail in the real PostgreSQL.

The seeded events take the real path: records built as the processors build them (exception
events routed by ``compliance.exceptions``), encoded by the sealing codec as producers do,
decoded by the audit sink's ``audit_row`` and written by the audit writer. Each test uses a
topic prefix of its own; the report counts only the topics of its deployment's prefix, so
other tests' rows (and a neighbour prefix seeded here on purpose) never count.
"""

from __future__ import annotations

import csv
import os
import pty
import re
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from sqlalchemy import Engine

from compliance.audit.rows import AuditRow
from compliance.audit.store import connect, write_batch
from compliance.codec import Record, SchemaRegistry
from compliance.events import envelope
from compliance.exceptions import exception_event
from compliance.processors.audit_sink import Consumed, audit_row
from compliance.reports import charts, render
from compliance.reports.daily import DailyReport, case_management_installed, daily_report
from compliance.subject_keyring import sealing_codec
from compliance.topics import (
    COMPLIANCE_CHECKS,
    COMPLIANCE_EXCEPTIONS,
    DOCUMENTS_ARRIVED,
    DOCUMENTS_CLASSIFIED,
    TRANSACTIONS_SUBMITTED,
)

from .conftest import as_owner, compliance_cli, processor_env

pytestmark = pytest.mark.integration

DAY = date(2025, 3, 14)
SURNAME = "WESTERGAARD-ZYLSTRA"
DOCUMENT_NUMBER = "P77123456"


def at(day: date, hh: int, mm: int = 0, ss: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hh, mm, ss, tzinfo=UTC)


@dataclass
class Trail:
    """Events for one topic prefix, written to the audit trail the way the sink writes."""

    prefix: str
    codec: SchemaRegistry
    rows: list[AuditRow] = field(default_factory=list)
    offsets: dict[str, int] = field(default_factory=dict)

    def add(self, topic: str, event_type: str, record: Record) -> None:
        name = self.prefix + topic
        offset = self.offsets.get(name, 0)
        self.offsets[name] = offset + 1
        value = self.codec.encode(event_type, record)
        key = record["envelope"]["subject_id"].encode()
        self.rows.append(audit_row(Consumed(name, 0, offset, key, value)))

    def write(self, engine: Engine) -> None:
        outcome = write_batch(engine, self.rows)
        assert outcome.written == len(self.rows), outcome

    def _envelope(self, event_type: str, doc: str, when: datetime, why: str) -> Record:
        return envelope(
            event_type=event_type,
            stage="report-test",
            cause=f"{self.prefix}{doc}",
            discriminator=why,
            correlation_id=doc,
            subject_id=f"{self.prefix}customer-{doc}",
            causation_id=None,
            occurred_at=when,
        )

    def document(self, doc: str, when: datetime) -> Record:
        """A classified document carrying personal fields (that no report may show)."""
        classified: Record = {
            "envelope": self._envelope("DocumentClassified", doc, when, "classified"),
            "document_id": doc,
            "customer_id": f"{self.prefix}customer-{doc}",
            "document_type": "passport",
            "confidence": 0.97,
            "fields": [
                {"name": "surname", "value": SURNAME, "confidence": 0.95},
                {"name": "document_number", "value": DOCUMENT_NUMBER, "confidence": 0.95},
            ],
            "extraction_method": "mrz",
            "text_sha256": "0" * 64,
            "document_sha256": "1" * 64,
        }
        self.add(DOCUMENTS_CLASSIFIED.name, "DocumentClassified", classified)
        return classified

    def check(
        self, doc: str, rule_id: str, outcome: str, when: datetime, doc_type: str = "passport"
    ) -> None:
        self.add(
            COMPLIANCE_CHECKS.name,
            "CheckResult",
            {
                "envelope": self._envelope("CheckResult", doc, when, f"check:{rule_id}"),
                "document_id": doc,
                "customer_id": f"{self.prefix}customer-{doc}",
                "document_type": doc_type,
                "rule_id": rule_id,
                "rule_version": "1#0000abcd",
                "outcome": outcome,
                "severity": "high",
                "inputs": {"surname": SURNAME, "document_number": DOCUMENT_NUMBER},
                "explanation": f"{SURNAME} ({DOCUMENT_NUMBER}) checked by {rule_id}.",
            },
        )

    def exception(
        self,
        cause: Record,
        kind: str,
        severity: str,
        rule_id: str | None,
        when: datetime,
        routed: bool = True,
    ) -> None:
        """An exception as the processors raise it (routed: with its category), or as one
        written before exceptions were routed (its category null)."""
        record = dict(
            exception_event(
                cause,
                stage="report-test",
                kind=kind,
                severity=severity,
                reason=f"Possible match: {SURNAME}, document {DOCUMENT_NUMBER}",
                discriminator=f"{kind}:{rule_id}:{when.isoformat()}",
                rule_id=rule_id,
                details={"document_number": DOCUMENT_NUMBER},
            ).record
        )
        record["envelope"] = {**record["envelope"], "occurred_at": when}
        if not routed:
            record["category"] = None
            record["sla_due_at"] = None
        self.add(COMPLIANCE_EXCEPTIONS.name, "ComplianceException", record)

    def dead_letter(self, source_topic: str, n: int, when: datetime) -> None:
        source = f"{self.prefix}{source_topic}/0/{n}"
        record: Record = {
            "envelope": envelope(
                event_type="DeadLetter",
                stage="dead-letter",
                cause=source,
                correlation_id=source,
                subject_id=source,
                causation_id=None,
                occurred_at=when,
            ),
            "source_topic": self.prefix + source_topic,
            "source_partition": 0,
            "source_offset": n,
            "source_key": None,
            "original_value": f"{SURNAME};{DOCUMENT_NUMBER}".encode(),
            "error_class": "PoisonMessage",
            "error": f"cannot read the record of {SURNAME}",
            "failed_in": "checker",
        }
        self.add(source_topic + ".dlq", "DeadLetter", record)


def seed(engine: Engine, prefix: str) -> None:
    """The known trail of ``DAY`` and the days around it (expected figures in the test)."""
    t = Trail(prefix, sealing_codec(engine))
    day, before = DAY, DAY - timedelta(days=1)
    doc1 = t.document("doc-1", at(day, 9, 10))
    doc2 = t.document("doc-2", at(day, 9, 40))
    doc3 = t.document("doc-3", at(day, 14, 5))
    t.check("doc-1", "identity.not-expired", "pass", at(day, 9, 10))
    t.check("doc-1", "aml.sanctions-name-screen", "pass", at(day, 9, 10))
    t.check("doc-1", "identity.minimum-age", "fail", at(day, 9, 10))
    t.check("doc-2", "identity.not-expired", "fail", at(day, 9, 40))
    t.check("doc-2", "aml.sanctions-name-screen", "review", at(day, 9, 40))
    t.check("doc-2", "identity.minimum-age", "fail", at(day, 9, 41))
    t.check("doc-3", "identity.not-expired", "pass", at(day, 14, 5))
    t.check("doc-3", "aml.sanctions-name-screen", "fail", at(day, 14, 5))
    t.check("doc-3", "aml.invoice-parties-screen", "error", at(day, 14, 6))
    # The transaction screener's results: a check result per transaction.
    t.check("tx-1", "transaction-monitoring", "pass", at(day, 16), doc_type="transaction")
    t.check("tx-2", "transaction-monitoring", "fail", at(day, 16, 1), doc_type="transaction")
    t.exception(doc1, "rule_failed", "high", "identity.minimum-age", at(day, 9, 10))
    t.exception(doc2, "needs_review", "critical", "aml.sanctions-name-screen", at(day, 9, 40))
    t.exception(doc3, "transaction_alert", "high", "tx.structuring", at(day, 16, 2))
    t.exception(doc2, "transaction_alert", "high", "tx.structuring", at(day, 16, 3))
    t.exception(doc1, "transaction_alert", "medium", "tx.rapid-movement", at(day, 16, 4))
    # Written before exceptions were routed: no category, routed by the report.
    t.exception(doc3, "document_unreadable", "medium", None, at(day, 14, 5), routed=False)
    t.exception(doc1, "rule_failed", "low", "gdpr.consent-present", at(day, 22, 30), routed=False)
    t.dead_letter(DOCUMENTS_ARRIVED.name, 1, at(day, 3, 15))
    t.dead_letter(DOCUMENTS_ARRIVED.name, 2, at(day, 23, 59, 59))
    t.dead_letter(TRANSACTIONS_SUBMITTED.name, 1, at(day, 12))
    # The days before: the day before, and the first day of the seven.
    doc0 = t.document("doc-0", at(before, 12))
    t.check("doc-0", "identity.not-expired", "pass", at(before, 12))
    t.exception(doc0, "rule_failed", "high", "identity.not-expired", at(before, 12), routed=False)
    t.check("doc-6", "identity.not-expired", "fail", at(DAY - timedelta(days=6), 8))
    # Outside the seven days, and the next day: never counted.
    t.check("doc-7", "identity.not-expired", "pass", at(DAY - timedelta(days=7), 23, 59, 59))
    t.check("doc-8", "identity.not-expired", "fail", at(DAY + timedelta(days=1), 0))
    t.dead_letter(DOCUMENTS_ARRIVED.name, 3, at(DAY + timedelta(days=1), 0))
    t.write(engine)


def seed_neighbour(engine: Engine, prefix: str) -> None:
    """Another deployment's events on the same day: never counted in ours."""
    t = Trail(prefix, sealing_codec(engine))
    doc = t.document("doc-1", at(DAY, 10))
    t.check("doc-1", "identity.not-expired", "fail", at(DAY, 10))
    t.exception(doc, "rule_failed", "high", "identity.not-expired", at(DAY, 10))
    t.dead_letter(DOCUMENTS_ARRIVED.name, 1, at(DAY, 10))
    t.write(engine)


# Every figure of DAY's report that is not zero; every other figure must be zero.
EXPECTED = {
    ("documents_checked", ""): "3",
    ("transactions_screened", ""): "2",
    ("checks_run", ""): "11",
    ("exceptions_raised", ""): "7",
    ("screening_hit_rate", ""): "0.666667",
    ("transaction_alerts", ""): "3",
    ("dead_letters", ""): "3",
    ("checks_by_outcome", "pass"): "4",
    ("checks_by_outcome", "fail"): "5",
    ("checks_by_outcome", "review"): "1",
    ("checks_by_outcome", "error"): "1",
    ("exceptions_by_category", "kyc"): "1",
    ("exceptions_by_category", "sanctions"): "1",
    ("exceptions_by_category", "transaction_monitoring"): "3",
    ("exceptions_by_category", "gdpr"): "1",
    ("exceptions_by_category", "document_quality"): "1",
    ("exceptions_by_severity", "low"): "1",
    ("exceptions_by_severity", "medium"): "2",
    ("exceptions_by_severity", "high"): "3",
    ("exceptions_by_severity", "critical"): "1",
    ("checks_by_hour", "09:00 pass"): "2",
    ("checks_by_hour", "09:00 fail"): "3",
    ("checks_by_hour", "09:00 review"): "1",
    ("checks_by_hour", "14:00 pass"): "1",
    ("checks_by_hour", "14:00 fail"): "1",
    ("checks_by_hour", "14:00 error"): "1",
    ("checks_by_hour", "16:00 pass"): "1",
    ("checks_by_hour", "16:00 fail"): "1",
    ("exceptions_by_hour", "09:00 kyc"): "1",
    ("exceptions_by_hour", "09:00 sanctions"): "1",
    ("exceptions_by_hour", "14:00 document_quality"): "1",
    ("exceptions_by_hour", "16:00 transaction_monitoring"): "3",
    ("exceptions_by_hour", "22:00 gdpr"): "1",
    ("checks_by_day", "2025-03-08 fail"): "1",
    ("checks_by_day", "2025-03-13 pass"): "1",
    ("checks_by_day", "2025-03-14 pass"): "4",
    ("checks_by_day", "2025-03-14 fail"): "5",
    ("checks_by_day", "2025-03-14 review"): "1",
    ("checks_by_day", "2025-03-14 error"): "1",
    ("exceptions_by_day", "2025-03-13 kyc"): "1",
    ("exceptions_by_day", "2025-03-14 kyc"): "1",
    ("exceptions_by_day", "2025-03-14 sanctions"): "1",
    ("exceptions_by_day", "2025-03-14 transaction_monitoring"): "3",
    ("exceptions_by_day", "2025-03-14 gdpr"): "1",
    ("exceptions_by_day", "2025-03-14 document_quality"): "1",
    # Ranked by failures and reviews, then by rule id.
    ("rule_failures", "aml.sanctions-name-screen"): "1",
    ("rule_reviews", "aml.sanctions-name-screen"): "1",
    ("rule_failures", "identity.minimum-age"): "2",
    ("rule_failures", "identity.not-expired"): "1",
    ("rule_failures", "transaction-monitoring"): "1",
    ("screening_screened", ""): "3",
    ("screening_hits", ""): "2",
    ("screening_errors", ""): "1",
    ("transaction_alerts_by_typology", "tx.structuring"): "2",
    ("transaction_alerts_by_typology", "tx.rapid-movement"): "1",
    ("dead_letters_by_topic", "documents.arrived"): "2",
    ("dead_letters_by_topic", "transactions.submitted"): "1",
}
TOP_RULES = [
    "aml.sanctions-name-screen",
    "identity.minimum-age",
    "identity.not-expired",
    "transaction-monitoring",
]


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture
def prefix(engine: Engine) -> str:
    own = f"r{uuid.uuid4().hex[:10]}."
    seed(engine, own)
    seed_neighbour(engine, f"r{uuid.uuid4().hex[:10]}.")
    return own


def test_the_daily_report_of_a_seeded_trail_states_every_figure_exactly(
    prefix: str, tmp_path: Path
) -> None:
    settings = as_owner(topic_prefix=prefix)
    done = compliance_cli(settings, "report", "daily", "--date", DAY.isoformat(), "--out", tmp_path)
    assert done.returncode == 0, done.stderr
    # Not a terminal: no progress lines (matplotlib may say once that it builds its font cache).
    assert "written (" not in done.stderr and "counted from" not in done.stderr
    stem = tmp_path / f"daily-{DAY.isoformat()}"
    assert done.stdout.split() == [f"{stem}.csv", f"{stem}.html", f"{stem}.pdf"]

    rows = read_csv(Path(f"{stem}.csv"))
    assert {r["date"] for r in rows} == {DAY.isoformat()}
    figures = {(r["figure"], r["dimension"]): r["value"] for r in rows}
    assert len(figures) == len(rows), "one row per figure and dimension"
    assert {k: v for k, v in figures.items() if v != "0"} == EXPECTED
    assert [d for f, d in figures if f == "rule_failures"] == TOP_RULES
    # Every hour and every one of the seven days is there, zeros included.
    assert len([k for k in figures if k[0] == "checks_by_hour"]) == 24 * 4
    assert len([k for k in figures if k[0] == "exceptions_by_day"]) == 7 * 5
    installed = case_management_installed()
    assert (("sla_breaches", "") in figures) is installed

    pages = 1 + len(charts.every_chart(daily_report_of(prefix)))
    page = Path(f"{stem}.html").read_text(encoding="utf-8")
    assert len(re.findall(r"<svg\b", page)) == pages - 1
    assert "<script" not in page and "src=" not in page and "<link" not in page
    for label, value in (
        ("Documents checked", "3"),
        ("Checks run", "11"),
        ("Exceptions raised", "7"),
        ("Sanctions screening hit rate", "66.7%"),
        ("Transaction alerts", "3"),
        ("Dead letters", "3"),
    ):
        shown = rf'class="value">{re.escape(value)}</div>\s*<div class="label">{label}<'
        assert re.search(shown, page), label
    assert '<code>tx.structuring</code></td><td class="n">2</td>' in page
    assert '<code>documents.arrived</code></td><td class="n">2</td>' in page
    if not installed:
        assert "Case management not installed" in page

    pdf = pdfium.PdfDocument(f"{stem}.pdf")
    assert len(pdf) == pages
    title = pdf[0].get_textpage().get_text_range()
    for line in (
        "Documents checked 3",
        "Transactions screened 2",
        "Checks run 11",
        "Exceptions raised 7",
        "Sanctions screening hit rate 66.7%",
        "Transaction alerts 3",
        "Dead letters 3",
    ):
        assert line in title.replace("\r\n", "\n").splitlines(), title
    text = "\n".join(pdf[i].get_textpage().get_text_range() for i in range(len(pdf)))
    assert "Transaction alerts by typology" in text and "tx.structuring" in text

    for written in (page, Path(f"{stem}.csv").read_text(encoding="utf-8"), text):
        assert SURNAME not in written
        assert DOCUMENT_NUMBER not in written
        assert "customer-doc" not in written  # nor a customer id


def daily_report_of(prefix: str) -> DailyReport:
    settings = as_owner(topic_prefix=prefix)
    return daily_report(connect(settings.database_dsn), settings, DAY)


def case_decision(
    prefix: str, case: str, action: str, when: datetime, category: str, severity: str = "high"
) -> AuditRow:
    """A case management decision as its audit row (its schema ships with case management;
    the report reads only the stored type, action and category)."""
    env = envelope(
        event_type="CaseDecision",
        stage="cases",
        cause=f"{prefix}{case}",
        discriminator=f"{action}:{when.isoformat()}",
        correlation_id=case,
        subject_id=f"{prefix}{case}",
        causation_id=None,
        occurred_at=when,
    )
    return AuditRow(
        event_id=env["event_id"],
        event_type="CaseDecision",
        topic=f"{prefix}cases.decisions",
        partition=0,
        offset=int(when.timestamp()),
        kafka_key=env["subject_id"],
        correlation_id=case,
        causation_id=None,
        subject_id=env["subject_id"],
        occurred_at=when,
        schema_fingerprint=None,
        payload={
            "envelope": env,
            "case_id": case,
            "customer_id": f"{prefix}customer-{case}",
            "category": category,
            "action": action,
            "actor": "cases",
            "status": "open",
            "severity": severity,
        },
    )


def test_sla_breaches_are_counted_from_case_decisions_when_case_management_is_installed(
    engine: Engine, tmp_path: Path
) -> None:
    prefix = f"r{uuid.uuid4().hex[:10]}."
    rows = [
        case_decision(prefix, "case-1", "sla_breached", at(DAY, 8), "sanctions"),
        case_decision(prefix, "case-2", "sla_breached", at(DAY, 11), "kyc", "critical"),
        case_decision(prefix, "case-3", "sla_breached", at(DAY, 23), "sanctions"),
        case_decision(prefix, "case-3", "assigned", at(DAY, 9), "sanctions"),
        case_decision(prefix, "case-4", "sla_breached", at(DAY - timedelta(days=2), 10), "kyc"),
        case_decision(prefix, "case-5", "sla_breached", at(DAY + timedelta(days=1), 0), "kyc"),
    ]
    assert write_batch(engine, rows).written == len(rows)
    settings = as_owner(topic_prefix=prefix)

    report = daily_report(engine, settings, DAY, cases_installed=True)
    absent = daily_report(engine, settings, DAY, cases_installed=False)

    assert report.sla_breaches is not None
    assert report.sla_breaches.total == 3
    assert report.sla_breaches.by_category == {"sanctions": 2, "kyc": 1}
    assert report.sla_breaches.by_severity == {"high": 2, "critical": 1}
    figures = {(f.figure, f.dimension): f.value for f in report.figures()}
    assert figures[("sla_breaches", "")] == 3
    assert figures[("sla_breaches_by_day", "2025-03-12")] == 1
    assert figures[("sla_breaches_by_day", "2025-03-14")] == 3
    by_day = [v for (f, _), v in figures.items() if f == "sla_breaches_by_day"]
    assert by_day == [0, 0, 0, 0, 1, 0, 3]
    page = render.html(report, charts.every_chart(report))
    assert 'id="sla-breaches"' in page and "Case management not installed" not in page
    assert absent.sla_breaches is None
    assert "Case management not installed" in render.html(absent, charts.every_chart(absent))


def test_on_a_terminal_the_command_shows_a_line_per_step(prefix: str, tmp_path: Path) -> None:
    settings = as_owner(topic_prefix=prefix)
    controller, terminal = pty.openpty()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "compliance", "report", "daily", "--date", DAY.isoformat()],
            cwd=tmp_path,
            env=processor_env(settings),
            stdout=subprocess.PIPE,
            stderr=terminal,
            timeout=120,
        )
        os.close(terminal)
        shown = b""
        while chunk := _read(controller):
            shown += chunk
    finally:
        os.close(controller)

    assert done.returncode == 0
    steps = [line.split(" (")[0].strip() for line in shown.decode().splitlines() if " s)" in line]
    assert steps == [
        f"figures of {DAY.isoformat()} counted from the audit trail",
        "8 charts drawn" if not case_management_installed() else "9 charts drawn",
        "CSV written",
        "HTML written",
        "PDF written",
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        f"daily-{DAY.isoformat()}.{ext}" for ext in ("csv", "html", "pdf")
    ]


def _read(fd: int) -> bytes:
    try:
        return os.read(fd, 4096)
    except OSError:  # the other end closed (EIO on Linux)
        return b""
