"""Writing the daily report: a self-contained HTML page (Jinja2, charts as inline SVG, no
JavaScript), a CSV of every figure, and a PDF (matplotlib's PdfPages: a title page with the
headline figures, then a page per chart)."""

from __future__ import annotations

import csv
import logging
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import matplotlib
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure

from compliance.exception_routing import CATEGORIES, SEVERITIES
from compliance.reports.charts import Chart, svg
from compliance.reports.daily import OUTCOMES, DailyReport

CSV_COLUMNS = ("date", "figure", "dimension", "value")
# Font subsetting for the PDF logs every table it touches at INFO: not news for anyone.
logging.getLogger("fontTools").setLevel(logging.WARNING)
RATES = frozenset({"screening_hit_rate"})
A4_PORTRAIT = (8.27, 11.69)  # inches


def file_stem(report: DailyReport) -> str:
    return f"daily-{report.day.isoformat()}"


def figure_text(value: int | float | None, name: str = "") -> str:
    """A figure as people read it: rates as percentages, n/a where there is nothing to rate."""
    if value is None:
        return "n/a"
    if name in RATES:
        return f"{value:.1%}"
    return f"{value:,}" if isinstance(value, int) else f"{value:.4g}"


def csv_value(value: int | float | None) -> str:
    if value is None:
        return ""
    return str(value) if isinstance(value, int) else f"{value:.6f}"


def write_csv(report: DailyReport, path: Path) -> Path:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for f in report.figures():
            writer.writerow((report.day.isoformat(), f.figure, f.dimension, csv_value(f.value)))
    return path


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("compliance.reports", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )
    env.filters["figure"] = figure_text
    return env


def _rows(counts: Counter[str], known: Sequence[str]) -> list[tuple[str, int]]:
    keys = list(known) + sorted(k for k in counts if k not in known)
    return [(k, counts[k]) for k in keys]


def html(report: DailyReport, charts: Sequence[Chart], generated: datetime | None = None) -> str:
    template = _environment().get_template("daily.html.j2")
    return template.render(
        report=report,
        generated=(generated or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC"),
        # Our own SVG, inlined as it is (the template marks it safe); every other value is
        # escaped.
        charts={c.key: f'<figure id="{c.key}">{svg(c)}</figure>' for c in charts},
        checks_by_outcome=_rows(report.checks_by_outcome, OUTCOMES),
        exceptions_by_category=_rows(report.exceptions_by_category, CATEGORIES),
        exceptions_by_severity=_rows(report.exceptions_by_severity, SEVERITIES),
    )


def write_html(report: DailyReport, charts: Sequence[Chart], path: Path) -> Path:
    path.write_text(html(report, charts), encoding="utf-8")
    return path


def title_page(report: DailyReport) -> Figure:
    page = Figure(figsize=A4_PORTRAIT)
    page.text(0.08, 0.92, "Compliance daily report", fontsize=22, weight="bold")
    page.text(0.08, 0.885, f"{report.day.isoformat()} (UTC)", fontsize=14)
    scope = f"topics prefixed {report.topic_prefix}" if report.topic_prefix else "all topics"
    page.text(0.08, 0.86, f"From the audit trail, {scope}.", fontsize=9, color="#555")
    y = 0.80
    for name, label, value in report.headline():
        page.text(0.08, y, label, fontsize=12)
        page.text(0.72, y, figure_text(value, name), fontsize=12, weight="bold", ha="right")
        y -= 0.035
    if report.sla_breaches is None:
        page.text(0.08, y, "SLA breaches: case management not installed", fontsize=10)
        y -= 0.035
    page.text(
        0.08,
        y - 0.02,
        "Counts, rule ids and categories only: no personal data.",
        fontsize=9,
        color="#555",
    )
    return page


def write_pdf(report: DailyReport, charts: Sequence[Chart], path: Path) -> Path:
    # TrueType fonts embedded (not Type 3): the text can be searched and extracted.
    title = f"Compliance daily report {report.day}"
    with (
        matplotlib.rc_context({"pdf.fonttype": 42}),
        PdfPages(path, metadata={"Title": title}) as pdf,
    ):
        pdf.savefig(title_page(report))
        for chart in charts:
            pdf.savefig(chart.figure)
    return path
