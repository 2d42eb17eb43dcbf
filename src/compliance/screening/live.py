"""The lists in force, and a screener that stays on them: what processors and commands use.

The version in force is the latest one loaded into the database (``compliance sanctions
load``); before any load, the bundled lists in ``COMPLIANCE_SANCTIONS_DIR`` (default
``rules/watchlists``).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from compliance.config import Settings
from compliance.errors import ConfigurationError
from compliance.screening.clearance_store import ClearanceStore
from compliance.screening.config import ScreeningConfig
from compliance.screening.list_store import ListStore
from compliance.screening.list_watcher import ListWatcher
from compliance.screening.loaders import load_directory
from compliance.screening.model import SanctionsList
from compliance.screening.screener import Screener
from compliance.screening.tables import create_screening_schema


@dataclass(frozen=True, slots=True)
class ListsInForce:
    lists: list[SanctionsList]
    version: str | None  # the stored list version; None for the bundled folder
    version_id: int | None
    description: str


def bundled_lists(settings: Settings) -> list[SanctionsList]:
    folder = settings.sanctions_dir
    if not folder.is_dir():
        raise ConfigurationError(
            f"sanctions list folder {folder} does not exist (set COMPLIANCE_SANCTIONS_DIR)"
        )
    lists = load_directory(folder)
    if not lists:
        raise ConfigurationError(f"no recognised sanctions list files in {folder}")
    return lists


def lists_in_force(settings: Settings, engine: Engine) -> ListsInForce:
    store = ListStore(engine, settings.topic_prefix)
    current = store.current()
    if current is None:
        return ListsInForce(
            bundled_lists(settings), None, None, f"bundled lists in {settings.sanctions_dir}"
        )
    return ListsInForce(
        store.lists(current.id),
        current.version,
        current.id,
        f"list version {current.version} (loaded "
        f"{current.loaded_at.isoformat(timespec='seconds') if current.loaded_at else '?'} by "
        f"{current.loaded_by})",
    )


def start_screener(
    settings: Settings, engine: Engine, config: ScreeningConfig | None = None
) -> tuple[Screener, ListWatcher]:
    """A screener on the lists in force, applying the officers' clearances, and the started
    watcher that swaps newer versions in (stop it when done)."""
    create_screening_schema(engine)
    in_force = lists_in_force(settings, engine)
    screener = Screener(in_force.lists, config=config, is_cleared=ClearanceStore(engine).is_cleared)
    watcher = ListWatcher(
        screener,
        ListStore(engine, settings.topic_prefix),
        interval_s=settings.sanctions_poll_s,
        version=in_force.version,
    )
    return screener, watcher.start()
