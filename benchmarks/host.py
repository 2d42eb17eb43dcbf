"""What the benchmarks share (imported by the *_bench.py scripts, which run with this folder
first on their path): the checkout they import the project from, what they say of the machine
they ran on, and the one shape of their results file."""

from __future__ import annotations

import json
import os
import platform
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEVELOPMENT_MODE = "COMPLIANCE_DEVELOPMENT_MODE"
# The commands of the runs whose figures share one results file: joined as the file already
# joins them (" && " or " ; "; "; " is read too), " ; " in a new one.
COMMANDS_JOINED = (" && ", " ; ")
COMMANDS_SPLIT = re.compile(r"\s*;\s+|\s+&&\s+")


def use_checkout(*, development_mode: bool = False, tests: bool = False) -> None:
    """Imports of ``compliance`` come from this checkout's src/ (installed or not); with
    ``tests``, the tests' support modules (``tests.support``...) are importable too. With
    ``development_mode``, ``COMPLIANCE_DEVELOPMENT_MODE`` is true unless the environment says
    otherwise: the local Kafka and PostgreSQL's built-in passwords are accepted, so the script
    runs the same directly as under `make bench`, which sets it too. Call it before importing
    from ``compliance``."""
    sys.path.insert(0, str(ROOT / "src"))
    if tests:
        sys.path.insert(0, str(ROOT))
    if development_mode:
        os.environ.setdefault(DEVELOPMENT_MODE, "true")


def cpu_model() -> str:
    """The processor's model name as the kernel reports it, else the platform's guess."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average() -> str:
    """The machine's 1-minute load average: other work on the same cores skews the figures."""
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except OSError:
        return "unknown"


def brief_machine() -> str:
    """The architecture, the number of cores and the processor, Python, the system and the
    load average, in brief, at the end of a run."""
    return (
        f"{platform.machine()}, {os.cpu_count()} cores ({cpu_model()}), Python "
        f"{platform.python_version()}, {platform.system()}; load average {load_average()} at "
        "the end of the run"
    )


def machine(cpus: str = "", then: str = "") -> str:
    """The system, the processor, the number of CPUs (``cpus`` says how the run shares or
    pins them) and Python; ``then``: what follows (the load average, say)."""
    return (
        f"{platform.system()} {platform.release()} {platform.machine()}; {cpu_model()}; "
        f"{os.cpu_count()} CPUs{cpus}; Python {platform.python_version()}{then}"
    )


def write_results(
    path: Path,
    command: str,
    machine: str,
    figures: dict[str, Any],
    *,
    keep_others: bool = False,
) -> dict[str, Any]:
    """``path``: the benchmark's results, in the one shape every benchmark writes (command,
    date, machine, figures), the figures printed first; returns what was written.

    With ``keep_others`` (a file several benchmarks write into): the figures already there
    stay unless this run measured them again, and so do the commands that measured them; an
    earlier command of the same script gives way to this one, unless it is this one (then it
    stays as it is, with any note written after it)."""
    result: dict[str, Any] = {
        "command": command,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine,
        "figures": figures,
    }
    print(json.dumps(figures, indent=2, ensure_ascii=False))
    earlier: dict[str, Any] = {}
    if keep_others and path.exists():
        try:
            earlier = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:  # unreadable: this run's figures start it anew
            print(f"{path} unreadable ({exc}); writing this run's figures alone")
    if earlier:
        result["command"] = _commands(str(earlier.get("command") or ""), command)
        result["figures"] = {**earlier.get("figures", {}), **figures}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return result


def _split_commands(joined: str) -> list[str]:
    """The commands joined in ``joined``, split where they were joined: never inside a
    bracketed note after a command ("(first run; second engine)")."""
    commands, start = [], 0
    for found in COMMANDS_SPLIT.finditer(joined):
        depth = 0  # brackets open before the joint (a stray ")" opens none)
        for char in joined[: found.start()]:
            depth = depth + 1 if char == "(" else max(0, depth - 1) if char == ")" else depth
        if depth:
            continue  # inside a note
        commands.append(joined[start : found.start()])
        start = found.end()
    commands.append(joined[start:])
    return commands


def _commands(earlier: str, command: str) -> str:
    """``earlier`` (commands joined) with ``command`` in the place of its script's."""
    joined = next((j for j in COMMANDS_JOINED if j in earlier), COMMANDS_JOINED[-1])
    commands = [c for c in _split_commands(earlier) if c]
    if any(c == command or c.startswith(f"{command} (") for c in commands):
        return joined.join(commands)
    script = next((word for word in command.split() if word.endswith(".py")), command)
    return joined.join([*(c for c in commands if script not in c.split()), command])
