"""Job ``sanctions-refresh``: the sanctions list files fetched from their configured
locations (``sources``: http(s) URLs, files or folders), and put in force as a new list
version only when their content changed (SHA-256 of each file against the version in force).

The files go through the same validation as ``compliance sanctions load``
(``prepare_version``: recognised formats, complete files, no list shrinking by more than
``max_shrink``), and the version is stored and announced (``SanctionsListsLoaded``) as that
command does. On any error (a download failing or timing out, a malformed or truncated file)
nothing is stored: the version in force stays in force and the run's outcome is ``failed``
with the reason. Running screeners (the checker, the transaction screener) poll for a new
version every ``COMPLIANCE_SANCTIONS_POLL_S`` and swap to it; existing customers are then
re-screened against the new version (``rescreen``, unless ``rescreen: false``): a new hit is
raised as a ``ComplianceException``, as ``compliance sanctions rescreen`` does.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import Engine

from compliance.config import Settings
from compliance.errors import ComplianceError, ConfigurationError
from compliance.scheduler.list_fetch import FetchedFile, fetch_lists
from compliance.scheduler.registry import JobContext, Outcome
from compliance.screening.list_store import ListStore, ListVersion, PreparedVersion
from compliance.screening.model import SanctionsList

LOADED_BY = "scheduler:sanctions-refresh"


class RefreshOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sources: list[str] = Field(min_length=1)
    timeout_s: float = Field(60.0, gt=0)
    max_bytes: int = Field(500_000_000, gt=0)
    max_shrink: float = Field(0.5, ge=0, le=1)
    replace_all: bool = False
    rescreen: bool = True


def changed(fetched: list[FetchedFile], current: ListVersion | None) -> bool:
    """Whether any fetched file differs from the same-named file of the version in force."""
    in_force = {f.name: f.sha256 for f in current.files} if current else {}
    return any(in_force.get(f.name) != f.sha256 for f in fetched)


def _store_version(
    settings: Settings, store: ListStore, prepared: PreparedVersion, current: ListVersion | None
) -> ListVersion:
    from compliance import kafka_io
    from compliance.screening.events import lists_loaded_event
    from compliance.screening.sending import EventSender
    from compliance.topics import SANCTIONS_LISTS

    kafka_io.require_broker(settings)
    sender = EventSender(settings)

    def announce(version: ListVersion) -> None:
        record = lists_loaded_event(
            version.version,
            version.previous_version,
            LOADED_BY,
            [f.info for f in prepared.files],
            prepared.summaries,
        )
        record["envelope"]["event_id"] = version.event_id
        sender.send(SANCTIONS_LISTS, "SanctionsListsLoaded", record)
        sender.flush()

    return store.save(prepared, loaded_by=LOADED_BY, based_on=current, announce=announce)


def _bundled_or_none(settings: Settings) -> list[SanctionsList] | None:
    from compliance.screening.live import bundled_lists

    try:
        return bundled_lists(settings)
    except ComplianceError:  # no bundled lists: every hit of the new version is new
        return None


def rescreen(
    settings: Settings, engine: Engine, store: ListStore, version: ListVersion
) -> tuple[int, int]:
    """Existing customers screened against ``version`` and the version before it; a hit only
    ``version`` gives is raised as an exception. Returns (customers, new hits)."""
    from compliance.progress import progress
    from compliance.screening import Screener
    from compliance.screening.clearance_store import ClearanceStore
    from compliance.screening.customer_source import customers_from_audit
    from compliance.screening.rescreen import rescreen_exceptions
    from compliance.screening.sending import EventSender
    from compliance.subject_keyring import sealing_codec
    from compliance.topics import COMPLIANCE_EXCEPTIONS, DOCUMENTS_CLASSIFIED

    previous = store.version_before(version.id)
    before_lists = store.lists(previous.id) if previous else _bundled_or_none(settings)
    before = Screener(before_lists) if before_lists is not None else None
    after = Screener(store.lists(version.id), is_cleared=ClearanceStore(engine).is_cleared)
    customers = customers_from_audit(engine, settings.topic(DOCUMENTS_CLASSIFIED))
    sender = EventSender(settings, codec=sealing_codec(engine))  # exceptions name customers
    for record in rescreen_exceptions(
        progress(customers, what="re-screened", unit="customer"),
        before,
        after,
        list_version=version.version,
        cause_event_id=version.event_id,
    ):
        sender.send(COMPLIANCE_EXCEPTIONS, "ComplianceException", record)
    sender.flush()
    return len(customers), sender.sent


def run(context: JobContext) -> Outcome:
    from compliance.screening.list_store import prepare_version

    try:
        options = RefreshOptions(**context.options)
    except ValidationError as exc:
        raise ConfigurationError(f"sanctions-refresh options: {exc}") from None
    store = ListStore(context.engine, context.settings.topic_prefix)
    current = store.current()
    with tempfile.TemporaryDirectory(prefix="sanctions-refresh-") as folder:
        try:
            fetched = fetch_lists(
                options.sources,
                Path(folder),
                timeout_s=options.timeout_s,
                max_bytes=options.max_bytes,
            )
            if not changed(fetched, current):
                assert current is not None
                return Outcome.ok(
                    f"lists unchanged ({len(fetched)} file(s)); {current.version} stays in force"
                )
            prepared = prepare_version(
                [f.path for f in fetched],
                store.files(current.id) if current else (),
                replace_all=options.replace_all,
                max_shrink=options.max_shrink,
            )
            saved = _store_version(context.settings, store, prepared, current)
        except ComplianceError as exc:
            kept = current.version if current else "the bundled lists"
            return Outcome.failed(f"{exc}; {kept} stays in force")
    detail = f"list version {saved.version} in force (id {saved.id}), was " + (
        current.version if current else "the bundled lists"
    )
    if not options.rescreen:
        return Outcome.ok(detail)
    customers, hits = rescreen(context.settings, context.engine, store, saved)
    return Outcome.ok(f"{detail}; re-screened {customers} customer(s): {hits} new hit(s) raised")
