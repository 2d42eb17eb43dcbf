"""Job ``daily-report``: the daily report (``compliance report daily``) of the UTC day before
the fire time, written into the folder of option ``out`` (HTML, CSV and PDF)."""

from __future__ import annotations

from datetime import UTC, timedelta
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from compliance.errors import ConfigurationError
from compliance.scheduler.registry import JobContext, Outcome


class DailyReportOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    out: Path = Path("reports/daily")


def run(context: JobContext) -> Outcome:
    from compliance.reports import charts, render
    from compliance.reports.daily import daily_report

    try:
        options = DailyReportOptions(**context.options)
    except ValidationError as exc:
        raise ConfigurationError(f"daily-report options: {exc}") from None
    day = (context.scheduled_for.astimezone(UTC) - timedelta(days=1)).date()
    try:
        options.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return Outcome.failed(f"cannot make the folder {options.out}: {exc.strerror}")
    report = daily_report(context.engine, context.settings, day)
    drawn = charts.every_chart(report)
    stem = render.file_stem(report)
    written = [
        render.write_csv(report, options.out / f"{stem}.csv"),
        render.write_html(report, drawn, options.out / f"{stem}.html"),
        render.write_pdf(report, drawn, options.out / f"{stem}.pdf"),
    ]
    return Outcome.ok(f"report of {day} written: " + ", ".join(str(p) for p in written))
