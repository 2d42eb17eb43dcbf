"""The benchmarks' results writer (benchmarks/host.py): every results file has one shape,
{"command", "date", "machine", "figures": {name: {"value", "unit", "target"}}}, and a file
several benchmarks share keeps the figures and commands of the others."""

from __future__ import annotations

import importlib.util
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType

import pytest

HOST = Path(__file__).resolve().parents[2] / "benchmarks" / "host.py"


@pytest.fixture(scope="module")
def host() -> ModuleType:
    """benchmarks/host.py, loaded from its file (benchmarks/ is not a package)."""
    spec = importlib.util.spec_from_file_location("benchmark_host", HOST)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def figure(value: float, unit: str, target: float | None = None) -> dict[str, object]:
    return {"value": value, "unit": unit, "target": target}


def test_a_results_file_has_command_date_machine_and_the_figures_as_given(
    host: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "results" / "sealing.json"  # its folder is made if missing
    figures = {
        "classifier: sealing cost per document, keys read": figure(57.0, "µs/document", 100.0),
        "checker: codec work per document, plain": figure(112.4, "µs/document"),
    }

    host.write_results(path, ".venv/bin/python benchmarks/x_bench.py", "Linux; 2 CPUs", figures)

    text = path.read_text(encoding="utf-8")
    written = json.loads(text)
    assert list(written) == ["command", "date", "machine", "figures"]
    assert written["command"] == ".venv/bin/python benchmarks/x_bench.py"
    assert written["machine"] == "Linux; 2 CPUs"
    assert written["figures"] == figures
    assert list(written["figures"]) == list(figures)  # in the order measured
    date = datetime.fromisoformat(written["date"])
    assert date.utcoffset() == timedelta(0)
    assert abs(datetime.now(UTC) - date) < timedelta(minutes=1)
    assert "µs/document" in text and text.endswith("}\n")  # readable, one line ending
    assert json.loads(capsys.readouterr().out) == figures  # printed too


def test_a_run_replaces_the_file_of_an_earlier_run_unless_told_to_keep_the_others(
    host: ModuleType, tmp_path: Path
) -> None:
    path = tmp_path / "rules.json"
    host.write_results(path, "python benchmarks/rules_bench.py", "m", {"a": figure(1, "s")})

    host.write_results(path, "python benchmarks/rules_bench.py", "m", {"b": figure(2, "s")})

    assert json.loads(path.read_text())["figures"] == {"b": figure(2, "s")}


def test_an_unreadable_shared_file_is_written_anew_with_this_runs_figures(
    host: ModuleType, tmp_path: Path
) -> None:
    path = tmp_path / "cases.json"
    path.write_text('{"command": "python benchmarks/cases_bench.py", "figu')  # cut short
    host.write_results(
        path, "python benchmarks/notifier_bench.py", "m", {"n": figure(3, "s")}, keep_others=True
    )
    written = json.loads(path.read_text())
    assert written["figures"] == {"n": figure(3, "s")}
    assert written["command"] == "python benchmarks/notifier_bench.py"


def test_a_shared_file_keeps_the_other_benchmarks_figures_and_commands(
    host: ModuleType, tmp_path: Path
) -> None:
    path = tmp_path / "cases.json"
    notifier = "python benchmarks/notifier_bench.py --exceptions 200"
    path.write_text(
        json.dumps(
            {
                "command": f"{notifier} ; python benchmarks/cases_bench.py --exceptions 100",
                "date": "2026-12-01T00:00:00+00:00",
                "machine": "earlier",
                "figures": {
                    "notes/s": figure(900, "1/s", 1000),
                    "cases/s": figure(50, "1/s"),
                    "cases: wall time": figure(30, "s"),
                },
            }
        )
    )
    cases = "python benchmarks/cases_bench.py --exceptions 300"

    measured = {"cases/s": figure(60, "1/s"), "cases: CPU": figure(9, "ms")}
    host.write_results(path, cases, "now", measured, keep_others=True)

    written = json.loads(path.read_text())
    assert list(written) == ["command", "date", "machine", "figures"]
    assert written["figures"] == {
        "notes/s": figure(900, "1/s", 1000),  # the other benchmark's
        "cases/s": figure(60, "1/s"),  # measured again: replaced
        "cases: wall time": figure(30, "s"),  # not measured this time: kept
        "cases: CPU": figure(9, "ms"),
    }
    assert written["machine"] == "now"
    assert written["date"] != "2026-12-01T00:00:00+00:00"
    # the earlier command of the same script gives way to this one
    assert written["command"] == f"{notifier} ; {cases}"


def test_the_commands_of_a_shared_file_keep_their_joining_order_and_notes(
    host: ModuleType, tmp_path: Path
) -> None:
    path = tmp_path / "documents_quality.json"
    mrz = "python benchmarks/mrz_quality_bench.py"
    ocr = "python benchmarks/ocr_quality_bench.py"
    noted = f"{ocr} (second engine: the same bench with it installed)"
    path.write_text(
        json.dumps(
            {"command": f"{mrz} && {noted}", "date": "", "machine": "", "figures": {}},
        )
    )

    host.write_results(path, ocr, "m", {"ocr": figure(0.9, "fraction")}, keep_others=True)
    assert json.loads(path.read_text())["command"] == f"{mrz} && {noted}"

    quality = "python benchmarks/classifier_quality_bench.py"
    host.write_results(path, quality, "m", {"types": figure(1, "fraction")}, keep_others=True)
    host.write_results(path, mrz, "m", {"mrz": figure(1, "fraction")}, keep_others=True)
    assert json.loads(path.read_text())["command"] == f"{mrz} && {noted} && {quality}"


def test_a_note_after_a_command_keeps_its_own_semicolons(host: ModuleType, tmp_path: Path) -> None:
    path = tmp_path / "documents_quality.json"
    mrz = "python benchmarks/mrz_quality_bench.py"
    ocr = "python benchmarks/ocr_quality_bench.py"
    noted = f"{ocr} (second engine; the same bench with it installed)"
    path.write_text(
        json.dumps({"command": f"{noted} ; {mrz}", "date": "", "machine": "", "figures": {}})
    )

    host.write_results(path, mrz, "m", {"mrz": figure(1, "fraction")}, keep_others=True)
    assert json.loads(path.read_text())["command"] == f"{noted} ; {mrz}"


def test_the_machine_line_names_system_processor_cpus_and_python(host: ModuleType) -> None:
    line = host.machine(" (evaluation pinned to 1)", "; load average 0.5 at the start")

    assert line.endswith("; load average 0.5 at the start")
    assert " CPUs (evaluation pinned to 1); Python 3." in line
    assert f"; {host.cpu_model()}; " in line
