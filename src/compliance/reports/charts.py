"""The daily report's charts, drawn with matplotlib (no pyplot: no global state, no display).

Each chart is a ``Figure`` that the renderer saves as inline SVG (text kept as text) for the
HTML page and as a page of the PDF.
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from compliance.exception_routing import CATEGORIES, SEVERITIES
from compliance.reports.daily import OUTCOMES, DailyReport

matplotlib.use("Agg")  # never a window, whatever the environment says

COLOURS = {
    "pass": "#4c9f70",
    "fail": "#c8553d",
    "review": "#f2a541",
    "error": "#6c757d",
    "kyc": "#3d5a80",
    "sanctions": "#c8553d",
    "transaction_monitoring": "#f2a541",
    "gdpr": "#6a4c93",
    "document_quality": "#8d99ae",
    "low": "#8d99ae",
    "medium": "#f2a541",
    "high": "#e07a5f",
    "critical": "#9b2226",
}
SIZE = (9.0, 5.0)  # inches; a chart is a page of the PDF
BAR_SLOTS = 6  # horizontal bar charts leave room for this many bars at least


@dataclass(frozen=True)
class Chart:
    key: str
    title: str
    figure: Figure

    def __post_init__(self) -> None:
        self.figure.suptitle(self.title, fontsize=11)


def _figure() -> tuple[Figure, Axes]:
    figure = Figure(figsize=SIZE, layout="constrained")
    return figure, figure.add_subplot()


def _no_data(ax: Axes) -> None:
    ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def _stacked(
    ax: Axes, labels: Sequence[str], series: Sequence[Counter[str]], keys: Sequence[str]
) -> None:
    """Stacked bars: one bar per label, one layer per key (keys with no count left out)."""
    present = [k for k in keys if any(s[k] for s in series)]
    present += sorted({k for s in series for k in s if s[k] and k not in keys})
    if not present:
        _no_data(ax)
        return
    bottom = [0] * len(labels)
    positions = list(range(len(labels)))
    for key in present:
        heights = [s[key] for s in series]
        ax.bar(positions, heights, bottom=bottom, label=key, color=COLOURS.get(key))
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    ax.set_xticks(positions, labels, rotation=0, fontsize=7)
    ax.legend(fontsize=7, loc="upper left", frameon=False)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))


def _slots(ax: Axes, bars: int) -> None:
    """A few bars keep the width of a bar among many (not one bar filling the chart)."""
    ax.set_ylim(bars - max(bars, BAR_SLOTS) - 0.5, bars - 0.5)  # the bars at the top
    ax.margins(x=0.08)  # room for the labels at the bars' ends


def _horizontal(ax: Axes, counts: Sequence[tuple[str, int]], colour: str) -> None:
    if not counts:
        _no_data(ax)
        return
    names = [name for name, _ in reversed(counts)]
    values = [value for _, value in reversed(counts)]
    bars = ax.barh(names, values, color=colour, height=0.6)
    ax.bar_label(bars, fontsize=7)
    _slots(ax, len(names))
    ax.tick_params(axis="y", labelsize=7)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def checks_by_hour(report: DailyReport) -> Chart:
    figure, ax = _figure()
    hours = [report.checks_by_hour.get(h, Counter()) for h in range(24)]
    _stacked(ax, [f"{h:02d}" for h in range(24)], hours, OUTCOMES)
    ax.set_xlabel("hour (UTC)")
    ax.set_ylabel("checks")
    return Chart("checks-by-hour", "Checks by outcome, per hour", figure)


def exceptions_by_hour(report: DailyReport) -> Chart:
    figure, ax = _figure()
    hours = [report.exceptions_by_hour.get(h, Counter()) for h in range(24)]
    _stacked(ax, [f"{h:02d}" for h in range(24)], hours, CATEGORIES)
    ax.set_xlabel("hour (UTC)")
    ax.set_ylabel("exceptions")
    return Chart("exceptions-by-hour", "Exceptions by category, per hour", figure)


def last_days(report: DailyReport) -> Chart:
    """Checks and exceptions by category, a line per series over the last days."""
    figure, ax = _figure()
    labels = [d.strftime("%a %d %b") for d in report.days]
    positions = list(range(len(labels)))
    checks = [sum(report.checks_by_day.get(d, Counter()).values()) for d in report.days]
    per_day = [report.exceptions_by_day.get(d, Counter()) for d in report.days]
    categories: list[str] = [c for c in CATEGORIES if any(day[c] for day in per_day)]
    categories += sorted({c for day in per_day for c in day if c not in CATEGORIES})
    if not any(checks) and not categories:
        _no_data(ax)
    else:
        ax.plot(positions, checks, marker="o", color="#293241", label="checks")
        for category in categories:
            values = [day[category] for day in per_day]
            ax.plot(
                positions,
                values,
                marker=".",
                color=COLOURS.get(category),
                label=f"exceptions: {category}",
            )
        ax.set_xticks(positions, labels, fontsize=7)
        ax.legend(fontsize=7, loc="upper left", frameon=False)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    title = f"Checks and exceptions by category, {len(report.days)} days"
    return Chart("last-days", title, figure)


def exceptions_by_severity(report: DailyReport) -> Chart:
    figure, ax = _figure()
    seen = report.exceptions_by_severity
    keys = list(SEVERITIES) + sorted(k for k in seen if k not in SEVERITIES)
    values = [report.exceptions_by_severity[k] for k in keys]
    if not any(values):
        _no_data(ax)
    else:
        bars = ax.bar(keys, values, color=[COLOURS.get(k, "#8d99ae") for k in keys])
        ax.bar_label(bars, fontsize=7)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    return Chart("exceptions-by-severity", "Exceptions by severity", figure)


def top_failing_rules(report: DailyReport) -> Chart:
    figure, ax = _figure()
    rules = list(reversed(report.top_failing_rules))
    if not rules:
        _no_data(ax)
    else:
        names = [r.rule_id for r in rules]
        failures = [r.failures for r in rules]
        reviews = [r.reviews for r in rules]
        ax.barh(names, failures, color=COLOURS["fail"], label="failures", height=0.6)
        ax.barh(names, reviews, left=failures, color=COLOURS["review"], label="reviews", height=0.6)
        _slots(ax, len(names))
        ax.tick_params(axis="y", labelsize=7)
        ax.legend(fontsize=7, frameon=False)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    return Chart("top-failing-rules", "Top failing rules", figure)


def screening(report: DailyReport) -> Chart:
    figure, ax = _figure()
    s = report.screening
    if not s.screened and not s.errors:
        _no_data(ax)
    else:
        counts = [("screened", s.screened), ("hits", s.hits), ("errors", s.errors)]
        _horizontal(ax, counts, "#3d5a80")
        rate = s.hit_rate
        if rate is not None:
            ax.set_title(f"hit rate {rate:.1%}", fontsize=9)
    return Chart("screening", "Sanctions screening", figure)


def alerts_by_typology(report: DailyReport) -> Chart:
    figure, ax = _figure()
    _horizontal(ax, report.alerts_by_typology.most_common(), COLOURS["transaction_monitoring"])
    return Chart("alerts-by-typology", "Transaction alerts by typology", figure)


def dead_letters(report: DailyReport) -> Chart:
    figure, ax = _figure()
    _horizontal(ax, report.dead_letters_by_topic.most_common(), "#6c757d")
    return Chart("dead-letters", "Dead letters by topic", figure)


def sla_breaches(report: DailyReport) -> Chart | None:
    if report.sla_breaches is None:
        return None
    figure, ax = _figure()
    values = [report.sla_breaches.by_day.get(d, 0) for d in report.days]
    if not any(values):
        _no_data(ax)
    else:
        labels = [d.strftime("%a %d %b") for d in report.days]
        bars = ax.bar(labels, values, color=COLOURS["critical"])
        ax.bar_label(bars, fontsize=7)
        ax.tick_params(axis="x", labelsize=7)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    return Chart("sla-breaches", f"SLA breaches, {len(report.days)} days", figure)


def every_chart(report: DailyReport) -> list[Chart]:
    charts = [
        checks_by_hour(report),
        exceptions_by_hour(report),
        last_days(report),
        exceptions_by_severity(report),
        top_failing_rules(report),
        screening(report),
        alerts_by_typology(report),
        dead_letters(report),
    ]
    breaches = sla_breaches(report)
    return charts if breaches is None else [*charts, breaches]


def svg(chart: Chart) -> str:
    """The chart as an ``<svg>`` element to inline in HTML: text as text, ids unique to the
    chart (several share a page)."""
    out = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": chart.key}):
        chart.figure.savefig(out, format="svg", metadata={"Date": None})
    text = out.getvalue()
    return text[text.index("<svg") :]
