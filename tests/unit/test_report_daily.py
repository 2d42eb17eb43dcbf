"""The daily report's rendering, without a database: figures, CSV, HTML, PDF, progress."""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from contextlib import redirect_stderr
from datetime import date
from pathlib import Path

import pypdfium2 as pdfium
import pytest

from compliance.cli import build_parser
from compliance.commands.report_daily import Steps
from compliance.reports import charts, render
from compliance.reports.daily import DailyReport, RuleFailures, Screening, SlaBreaches

DAY = date(2026, 2, 27)


def a_report(sla: SlaBreaches | None = None) -> DailyReport:
    report = DailyReport(day=DAY, topic_prefix="")
    report.documents_checked = 41
    report.checks_by_outcome = Counter({"pass": 120, "fail": 7, "review": 3})
    report.checks_by_hour = {10: Counter({"pass": 100, "fail": 7}), 11: Counter({"review": 3})}
    report.checks_by_day = {DAY: Counter(report.checks_by_outcome)}
    report.exceptions_by_category = Counter({"kyc": 6, "sanctions": 3, "odd<category>": 1})
    report.exceptions_by_severity = Counter({"high": 9, "critical": 1})
    report.exceptions_by_hour = {10: Counter({"kyc": 6}), 11: Counter({"sanctions": 3})}
    report.exceptions_by_day = {DAY: Counter({"kyc": 6, "sanctions": 3})}
    report.top_failing_rules = [RuleFailures("identity.not-expired", 5, 0)]
    report.screening = Screening(screened=40, hits=3, errors=1)
    report.alerts_by_typology = Counter({"tx.structuring": 2})
    report.dead_letters_by_topic = Counter({"documents.arrived": 1})
    report.sla_breaches = sla
    return report


def test_every_figure_has_one_row_and_the_known_dimensions_are_listed_even_when_zero() -> None:
    figures = a_report().figures()
    keys = [(f.figure, f.dimension) for f in figures]

    assert len(keys) == len(set(keys))
    values = dict(zip(keys, (f.value for f in figures), strict=True))
    assert values[("checks_run", "")] == 130
    assert values[("checks_by_outcome", "error")] == 0
    assert values[("exceptions_by_category", "gdpr")] == 0
    assert values[("exceptions_by_category", "odd<category>")] == 1
    assert values[("checks_by_hour", "10:00 fail")] == 7
    assert values[("checks_by_hour", "23:00 pass")] == 0
    assert values[("screening_hit_rate", "")] == pytest.approx(3 / 40)
    assert ("sla_breaches", "") not in values


def test_sla_breaches_are_figures_only_when_case_management_is_installed() -> None:
    breaches = SlaBreaches(
        total=2, by_category={"kyc": 2}, by_severity={"high": 2}, by_day={DAY: 2}
    )
    values = {(f.figure, f.dimension): f.value for f in a_report(breaches).figures()}

    assert values[("sla_breaches", "")] == 2
    assert values[("sla_breaches_by_category", "kyc")] == 2
    assert values[("sla_breaches_by_category", "gdpr")] == 0
    assert values[("sla_breaches_by_severity", "high")] == 2
    assert values[("sla_breaches_by_day", DAY.isoformat())] == 2
    assert values[("sla_breaches_by_day", "2026-02-21")] == 0


def test_a_hit_rate_with_nothing_screened_is_not_a_number_but_n_a() -> None:
    assert Screening(0, 0, 2).hit_rate is None
    assert render.figure_text(None, "screening_hit_rate") == "n/a"
    assert render.csv_value(None) == ""
    assert render.figure_text(0.075, "screening_hit_rate") == "7.5%"
    assert render.figure_text(12345) == "12,345"
    assert render.csv_value(2 / 3) == "0.666667"


def test_the_csv_has_a_row_per_figure_with_the_date(tmp_path: Path) -> None:
    report = a_report()
    path = render.write_csv(report, tmp_path / "r.csv")

    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["date", "figure", "dimension", "value"]
    assert len(rows) - 1 == len(report.figures())
    assert ["2026-02-27", "documents_checked", "", "41"] in rows
    assert ["2026-02-27", "screening_hit_rate", "", "0.075000"] in rows


def test_the_page_is_self_contained_with_a_chart_per_section_and_escaped_values() -> None:
    report = a_report()
    drawn = charts.every_chart(report)
    page = render.html(report, drawn)

    assert len(re.findall(r"<svg\b", page)) == len(drawn) == 8
    assert "<script" not in page and "<link" not in page and "src=" not in page
    assert "odd&lt;category&gt;" in page and "odd<category>" not in page
    assert 'class="value">7.5%</div>' in page
    assert "Case management not installed" in page
    # Each chart's ids are its own: several SVGs share the page.
    ids = re.findall(r'<clipPath id="([^"]+)"', page)
    assert len(ids) == len(set(ids))


def test_an_empty_day_still_makes_every_chart(tmp_path: Path) -> None:
    report = DailyReport(day=DAY, topic_prefix="p.")
    drawn = charts.every_chart(report)

    page = render.html(report, drawn)
    render.write_pdf(report, drawn, tmp_path / "empty.pdf")

    assert page.count("no data") == len(drawn)
    assert len(pdfium.PdfDocument(tmp_path / "empty.pdf")) == 1 + len(drawn)


def test_the_pdf_opens_with_the_headline_figures_on_its_title_page(tmp_path: Path) -> None:
    breaches = SlaBreaches(total=4, by_category={"kyc": 4}, by_severity={"low": 4}, by_day={DAY: 4})
    report = a_report(breaches)
    drawn = charts.every_chart(report)
    path = render.write_pdf(report, drawn, tmp_path / "r.pdf")

    pdf = pdfium.PdfDocument(path)
    assert len(pdf) == 1 + len(drawn) == 10
    title = pdf[0].get_textpage().get_text_range().replace("\r\n", "\n").splitlines()
    assert "Compliance daily report" in title
    assert "Checks run 130" in title
    assert "Sanctions screening hit rate 7.5%" in title
    assert "SLA breaches 4" in title
    assert "SLA breaches, 7 days" in pdf[len(pdf) - 1].get_textpage().get_text_range()


def test_progress_lines_go_to_a_terminal_only() -> None:
    quiet, shown = io.StringIO(), io.StringIO()
    with redirect_stderr(quiet):
        Steps(enabled=False).done("CSV written")
    with redirect_stderr(shown):
        Steps(enabled=True).done("CSV written")

    assert quiet.getvalue() == ""
    assert shown.getvalue().startswith("  CSV written (")


def test_the_command_takes_a_day_and_a_folder_and_refuses_a_malformed_day(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = build_parser().parse_args(["report", "daily", "--date", "2026-02-27", "--out", "x"])
    assert (args.date, args.out) == (DAY, Path("x"))
    assert build_parser().parse_args(["report", "daily", "--date", "2026-02-27"]).out == Path(".")

    with pytest.raises(SystemExit) as refused:
        build_parser().parse_args(["report", "daily", "--date", "27/02/2026"])
    assert refused.value.code == 2
    assert "not a date (YYYY-MM-DD): '27/02/2026'" in capsys.readouterr().err
