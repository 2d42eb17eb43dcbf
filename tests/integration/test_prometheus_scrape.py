"""A real Prometheus (Debian's package, installed by infra/setup.sh) scrapes a real checker
process: the target is up, and the records-in counter it stores reaches the backlog the
checker read, with the consumer lag back to 0."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from compliance.config import Settings
from compliance.topics import DOCUMENTS_CLASSIFIED

from .conftest import Processes, wait_for
from .test_metrics_endpoint import free_port, get, publish_backlog

PROMETHEUS = shutil.which("prometheus")


class Prometheus:
    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"

    def query(self, promql: str) -> list[float]:
        url = self.base + "/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                body = json.loads(answer.read())
        except OSError:
            return []
        return [float(r["value"][1]) for r in body["data"]["result"]]


@pytest.fixture
def prometheus_scraping(tmp_path: Path) -> Iterator[tuple[Prometheus, int]]:
    assert PROMETHEUS, "prometheus is not installed: run infra/setup.sh (Debian's prometheus)"
    target, port = free_port(), free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s}\n"
        "scrape_configs:\n"
        "  - job_name: compliance\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{target}']}}]\n",
        encoding="utf-8",
    )
    log = (tmp_path / "prometheus.log").open("wb")
    server = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield Prometheus(port), target
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def test_prometheus_scrapes_a_checker_and_stores_its_counters_and_lag(
    settings: Settings, processes: Processes, prometheus_scraping: tuple[Prometheus, int]
) -> None:
    prometheus, target = prometheus_scraping
    publish_backlog(settings, 300)
    processes.start(
        "checker", COMPLIANCE_METRICS_PORT=str(target), COMPLIANCE_METRICS_STATS_INTERVAL_MS="200"
    )
    topic = settings.topic(DOCUMENTS_CLASSIFIED)
    selector = f'processor="checker",topic="{topic}"'

    def scraped_everything() -> bool:
        records_in = prometheus.query(f"sum(compliance_records_in_total{{{selector}}})")
        lag = prometheus.query(f"sum(compliance_consumer_lag{{{selector}}})")
        return records_in == [300.0] and lag == [0.0]

    wait_for(scraped_everything, 60, "Prometheus to store the backlog read", processes)
    assert prometheus.query('up{job="compliance"}') == [1.0]
    assert prometheus.query('compliance_ready{processor="checker"}') == [1.0]
    assert get(f"http://127.0.0.1:{target}/readyz")[0] == 200
