"""The jobs' own logic that needs no services: the SLA sweep without case management, list
fetching from folders and over real HTTP (timeouts, errors), and the change check."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pytest

import compliance.scheduler.sla_sweep as sla_sweep
from compliance.config import Settings
from compliance.scheduler.list_fetch import ListFetchError, fetch_lists
from compliance.scheduler.registry import JobContext
from compliance.scheduler.sanctions_refresh import changed
from compliance.screening.list_store import ListVersion, StoredFile

from ..screening.ofac_files import write_sdn

FIRE = datetime(2026, 3, 10, 1, 15, tzinfo=UTC)


def test_the_sla_sweep_is_skipped_with_the_reason_without_case_management(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sla_sweep, "CASES_PACKAGE", "compliance.no_such_cases")
    context = JobContext(settings, cast(Any, None), FIRE, "a")  # no database needed
    outcome = sla_sweep.run(context)
    assert outcome.outcome == "skipped"
    assert "case management (compliance.no_such_cases) is not installed" in outcome.detail


def test_lists_are_taken_from_a_folder_with_their_hashes(tmp_path: Path) -> None:
    write_sdn(tmp_path / "src", [(1, "DOE, John", "")])
    (tmp_path / "src" / "README.md").write_text("notes")
    (tmp_path / "into").mkdir()
    fetched = fetch_lists([str(tmp_path / "src")], tmp_path / "into", timeout_s=5, max_bytes=10**6)
    assert [f.name for f in fetched] == ["sdn.csv"]
    assert len(fetched[0].sha256) == 64


def test_a_missing_folder_is_a_fetch_error(tmp_path: Path) -> None:
    with pytest.raises(ListFetchError, match="no such file or folder"):
        fetch_lists([str(tmp_path / "gone")], tmp_path, timeout_s=5, max_bytes=10**6)


class _Lists(http.server.BaseHTTPRequestHandler):
    body = b""
    delay_s = 0.0

    def do_GET(self) -> None:
        if self.path.endswith("/missing.csv"):
            self.send_error(404)
            return
        time.sleep(self.delay_s)
        try:
            self.send_response(200)
            self.send_header("Content-Length", str(len(self.body)))
            self.end_headers()
            self.wfile.write(self.body)
        except (BrokenPipeError, ConnectionResetError):  # the client timed out and left
            pass

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def list_server(tmp_path: Path) -> Iterator[str]:
    write_sdn(tmp_path / "served", [(1, "DOE, John", "")])
    _Lists.body = (tmp_path / "served" / "sdn.csv").read_bytes()
    _Lists.delay_s = 0.0
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Lists)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()  # waits for the handlers (a slow one sleeps at most 2 s)
    thread.join(5)


def test_lists_are_downloaded_under_the_name_in_their_url(list_server: str, tmp_path: Path) -> None:
    fetched = fetch_lists([f"{list_server}/ofac/sdn.csv"], tmp_path, timeout_s=5, max_bytes=10**6)
    assert [f.name for f in fetched] == ["sdn.csv"]
    assert (tmp_path / "sdn.csv").read_bytes() == _Lists.body


def test_a_download_error_names_the_url(list_server: str, tmp_path: Path) -> None:
    with pytest.raises(ListFetchError, match=r"missing\.csv: HTTP 404"):
        fetch_lists([f"{list_server}/missing.csv"], tmp_path, timeout_s=5, max_bytes=10**6)
    with pytest.raises(ListFetchError, match="larger than 10 bytes"):
        fetch_lists([f"{list_server}/sdn.csv"], tmp_path, timeout_s=5, max_bytes=10)


def test_a_slow_server_times_out(list_server: str, tmp_path: Path) -> None:
    _Lists.delay_s = 2.0
    with pytest.raises(ListFetchError, match="Timeout"):
        fetch_lists([f"{list_server}/sdn.csv"], tmp_path, timeout_s=0.5, max_bytes=10**6)


def test_only_a_changed_file_counts_as_a_change(tmp_path: Path) -> None:
    write_sdn(tmp_path / "src", [(1, "DOE, John", "")])
    fetched = fetch_lists([str(tmp_path / "src")], tmp_path, timeout_s=5, max_bytes=10**6)
    same = StoredFile("sdn.csv", "OFAC-SDN", fetched[0].sha256, 1, 1)
    other = StoredFile("sdn.csv", "OFAC-SDN", "0" * 64, 1, 1)
    version = ListVersion(1, "lists:x", None, "e", "ops", None, (same,))
    assert not changed(fetched, version)
    assert changed(fetched, ListVersion(1, "lists:x", None, "e", "ops", None, (other,)))
    assert changed(fetched, None)
