"""Every panel of the provisioned Grafana dashboard queries metrics that exist: each metric
name in its PromQL is one compliance.metrics defines (a counter's ``_total``, a histogram's
``_bucket``/``_sum``/``_count`` included); Prometheus scrapes every processor's service."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY

from compliance import metrics
from compliance.config import PROJECT_ROOT

DASHBOARD = PROJECT_ROOT / "infra" / "grafana" / "dashboards" / "compliance.json"
PROMETHEUS = PROJECT_ROOT / "infra" / "prometheus" / "prometheus.yml"
# PromQL words that are not metric names.
PROMQL = {
    "sum", "min", "max", "avg", "count", "stddev", "stdvar", "topk", "bottomk", "quantile",
    "count_values", "group", "by", "without", "on", "ignoring", "group_left", "group_right",
    "and", "or", "unless", "bool", "offset", "rate", "irate", "increase", "delta", "idelta",
    "histogram_quantile", "abs", "clamp_min", "clamp_max", "time", "vector", "scalar",
    "label_replace", "absent", "sum_over_time", "avg_over_time", "max_over_time",
    "min_over_time", "deriv", "predict_linear", "resets", "changes", "inf", "nan",
}  # fmt: skip
SUFFIXES = ("", "_total", "_bucket", "_sum", "_count", "_created")


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads: its identifiers once label matchers,
    grouping clauses, ranges, strings and numbers are taken out."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)
    expr = re.sub(r"\{[^}]*\}", "", expr)
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    expr = re.sub(r"\[[^\]]*\]", "", expr)
    words = re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", expr)
    return {w for w in words if w.lower() not in PROMQL}


def defined() -> set[str]:
    assert metrics.processed is not None  # compliance.metrics registers every metric
    names = set()
    for family in REGISTRY.collect():
        names |= {family.name + suffix for suffix in SUFFIXES}
    return names


def panels() -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = json.loads(DASHBOARD.read_text(encoding="utf-8"))["panels"]
    return found


def test_the_metric_names_of_an_expression_are_found() -> None:
    quantile = (
        "histogram_quantile(0.95, sum by (le, processor) "
        '(rate(compliance_stage_seconds_bucket{x="a b"}[5m])))'
    )
    assert metric_names(quantile) == {"compliance_stage_seconds_bucket"}
    assert metric_names("sum(rate(a_total[1h])) / sum(rate(b_total[1h]))") == {"a_total", "b_total"}


def test_a_misspelt_metric_is_caught() -> None:
    assert "compliance_records_inn_total" not in defined()
    assert "compliance_records_in_total" in defined()


@pytest.mark.parametrize("panel", panels(), ids=lambda p: str(p["title"]))
def test_every_panel_queries_metrics_that_exist(panel: dict[str, Any]) -> None:
    names = set().union(*(metric_names(t["expr"]) for t in panel["targets"]))
    assert names, "a panel without a metric"
    assert names <= defined(), f"not defined in compliance.metrics: {names - defined()}"


def test_every_metric_family_of_a_processor_is_on_the_dashboard() -> None:
    shown = set().union(*(metric_names(t["expr"]) for p in panels() for t in p["targets"]))
    ours = {
        f.name
        for f in REGISTRY.collect()
        if f.name.startswith("compliance_") and f.name != "compliance_llm_document_cost_usd"
    }
    missing = {name for name in ours if not any(name + s in shown for s in SUFFIXES)}
    assert not missing, f"metrics no panel shows: {missing}"


def test_prometheus_scrapes_every_processor_on_the_metrics_port() -> None:
    from compliance.cli import _processors

    config = yaml.safe_load(PROMETHEUS.read_text(encoding="utf-8"))
    [job] = config["scrape_configs"]
    [dns] = job["dns_sd_configs"]
    assert dns["port"] == 9400
    assert set(_processors()) <= set(dns["names"])
