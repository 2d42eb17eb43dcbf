"""``compliance report daily --date D``: the day's figures from the audit trail, as an HTML
page with charts, a CSV of the figures and a PDF, in one folder."""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date
from pathlib import Path

from compliance.config import Settings
from compliance.errors import ComplianceError


class Steps:
    """A line per step on stderr, with its time, when stderr is a terminal; silent otherwise
    (cron, CI, a pipe)."""

    def __init__(self, enabled: bool | None = None) -> None:
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self._since = time.monotonic()

    def done(self, what: str) -> None:
        if self.enabled:
            now = time.monotonic()
            print(f"  {what} ({now - self._since:.1f} s)", file=sys.stderr, flush=True)
            self._since = now


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {value!r}") from None


def cmd_report_daily(settings: Settings, args: argparse.Namespace) -> int:
    from compliance.audit.store import connect, require_database
    from compliance.reports import charts, render
    from compliance.reports.daily import daily_report

    out: Path = args.out
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ComplianceError(f"cannot make the output folder {out}: {exc.strerror}") from None
    steps = Steps()
    engine = connect(settings.database_dsn)
    require_database(engine)
    report = daily_report(engine, settings, args.date)
    steps.done(f"figures of {args.date} counted from the audit trail")
    drawn = charts.every_chart(report)
    steps.done(f"{len(drawn)} charts drawn")
    stem = render.file_stem(report)
    written = [render.write_csv(report, out / f"{stem}.csv")]
    steps.done("CSV written")
    written.append(render.write_html(report, drawn, out / f"{stem}.html"))
    steps.done("HTML written")
    written.append(render.write_pdf(report, drawn, out / f"{stem}.pdf"))
    steps.done("PDF written")
    for path in written:
        print(path)
    return 0


def register(report: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``daily`` to the ``report`` command's sub-commands."""
    daily = report.add_parser(
        "daily", help="the day's figures from the audit trail: HTML with charts, CSV and PDF"
    )
    daily.add_argument("--date", type=_day, required=True, help="the UTC day, YYYY-MM-DD")
    daily.add_argument(
        "--out", type=Path, default=Path("."), help="folder to write into (default: here)"
    )
    daily.set_defaults(func=cmd_report_daily)
