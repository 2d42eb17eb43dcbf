"""Helpers shared by the screening integration tests (no tests here): running the CLI as an
officer would, and reading what the shared audit trail recorded on this test's topics."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sqlalchemy import Engine, func, select

from compliance.audit.store import audit_events
from compliance.config import Settings

from .conftest import processor_env


def cli(settings: Settings, *args: str | Path) -> subprocess.CompletedProcess[str]:
    """``compliance <args>`` in a process of its own, on this test's topics."""
    return subprocess.run(
        [sys.executable, "-m", "compliance", *map(str, args)],
        env=processor_env(settings),
        capture_output=True,
        text=True,
        timeout=120,
    )


def audited(engine: Engine, settings: Settings, event_type: str) -> dict[str, dict[str, object]]:
    """event id -> payload of the events of one type audited from this test's topics."""
    query = select(audit_events.c.event_id, audit_events.c.payload).where(
        audit_events.c.topic.startswith(settings.topic_prefix),
        audit_events.c.event_type == event_type,
    )
    with engine.connect() as conn:
        return {str(event_id): payload for event_id, payload in conn.execute(query)}


def rows_with_event_id(engine: Engine, event_id: str) -> int:
    query = select(func.count()).where(audit_events.c.event_id == event_id)
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def write_sdn(folder: Path, people: list[tuple[int, str]]) -> Path:
    """An OFAC sdn.csv (official format, no header) listing ``people`` as individuals."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = [f'{num},"{name}","individual","SDGT"' + ",-0- " * 8 for num, name in people]
    (folder / "sdn.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return folder
