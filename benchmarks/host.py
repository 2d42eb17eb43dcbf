"""What the benchmarks say of the machine they ran on (imported by the *_bench.py scripts,
which run with this folder first on their path)."""

from __future__ import annotations

import json
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def cpu_model() -> str:
    """The processor's model name as the kernel reports it, else the platform's guess."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def write_results(path: Path, command: str, machine: str, figures: dict[str, Any]) -> None:
    """``path``: the benchmark's results, in the one shape every benchmark writes (command,
    date, machine, figures), and the figures printed."""
    result = {
        "command": command,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine,
        "figures": figures,
    }
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps(figures, indent=2, ensure_ascii=False))
