"""List updates against the real PostgreSQL and broker: a validated load puts a version in
force, running screeners swap to it while queries go on, existing customers are re-screened
and new hits become audited exceptions, once; a truncated file changes nothing."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

from sqlalchemy import Engine

from compliance.codec import registry
from compliance.config import Settings
from compliance.screening.events import rescreen_event_id
from compliance.screening.list_store import ListStore, prepare_version
from compliance.screening.live import start_screener
from compliance.screening.sending import EventSender
from compliance.screening.tables import create_screening_schema
from compliance.topics import COMPLIANCE_EXCEPTIONS, DOCUMENTS_CLASSIFIED

from .conftest import Processes, read_topic, wait_for
from .test_screening_support import (
    audited,
    classified_passport,
    cli,
    rows_with_event_id,
    write_sdn,
)


def test_load_rescreens_customers_into_audited_exceptions_once(
    settings: Settings, processes: Processes, engine: Engine, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:8]
    blix, plain, listed = (f"C-{tag}-{n}" for n in ("blix", "plain", "zawahiri"))
    sender = EventSender(settings)
    for customer, name, dob, country in (
        (blix, "Zarathustra Blixquent", "1971-03-12", "IS"),
        (plain, "Henrietta Oakenshield", "1980-01-01", "GB"),
        (listed, "Aiman Zawahiri", "1951-06-19", "EG"),  # on the bundled lists already
    ):
        sender.send(
            DOCUMENTS_CLASSIFIED,
            "DocumentClassified",
            classified_passport(customer, name, dob, country),
        )
    sender.flush()
    processes.start("audit-sink")
    wait_for(
        lambda: len(audited(engine, settings, "DocumentClassified")) == 3,
        60, "the customers' documents audited", processes,
    )  # fmt: skip

    lists = write_sdn(tmp_path / "v1", [(901, "BLIXQUENT, Zarathustra"), (902, "DOE, Placeholder")])
    loaded = cli(settings, "sanctions", "load", lists, "--by", "ops.anna")
    assert loaded.returncode == 0, loaded.stderr
    store = ListStore(engine, settings.topic_prefix)
    current = store.current()
    assert current is not None and current.loaded_by == "ops.anna"
    assert f"list version {current.version} in force" in loaded.stdout
    assert "re-screened 3 customer(s)" in loaded.stdout and "1 new hit(s)" in loaded.stdout

    expected = rescreen_event_id(current.version, blix, "OFAC-SDN:901")
    wait_for(
        lambda: expected in audited(engine, settings, "ComplianceException")
        and current.event_id in audited(engine, settings, "SanctionsListsLoaded"),
        60, "the re-screen exception and the list event audited", processes,
    )  # fmt: skip
    exception = audited(engine, settings, "ComplianceException")[expected]
    assert exception["kind"] == "sanctions_rescreen_hit" and exception["customer_id"] == blix
    assert exception["envelope"]["causation_id"] == current.event_id  # type: ignore[index]

    again = cli(settings, "sanctions", "rescreen")
    assert again.returncode == 0, again.stderr
    on_topic = [registry().decode(v)[1] for v in read_topic(settings, COMPLIANCE_EXCEPTIONS.name)]
    assert [r["envelope"]["event_id"] for r in on_topic] == [expected, expected]
    wait_for(
        lambda: processes.assert_alive() is None and rows_with_event_id(engine, expected) == 1,
        10, "the audit trail", processes,
    )  # fmt: skip
    assert len(audited(engine, settings, "ComplianceException")) == 1  # recorded once

    truncated = write_sdn(tmp_path / "v2", [(901, "BLIXQUENT, Zarathustra"), (903, "ROE, Other")])
    sdn = truncated / "sdn.csv"
    sdn.write_bytes(sdn.read_bytes()[:-25])
    rejected = cli(settings, "sanctions", "load", truncated, "--by", "ops.anna")
    assert rejected.returncode == 2
    assert f"cannot load {sdn}, line 2" in rejected.stderr
    assert store.current() == current  # the previous version stays in force
    screened = cli(settings, "screen", "Zarathustra Blixquent")
    assert screened.returncode == 3 and current.version in screened.stdout


def test_running_screener_swaps_to_new_versions_while_queries_run(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    create_screening_schema(engine)
    fast = settings.model_copy(update={"sanctions_poll_s": 0.05})
    screener, watcher = start_screener(fast, engine)
    store = ListStore(engine, settings.topic_prefix)
    names = {"A": "Zarathustra Blixquent", "B": "Hieronymus Quaxwell"}
    files = {
        "A": write_sdn(tmp_path / "A", [(901, "BLIXQUENT, Zarathustra")]),
        "B": write_sdn(tmp_path / "B", [(902, "QUAXWELL, Hieronymus")]),
    }
    label_of = {
        prepare_version([folder]).lists[0].version: label for label, folder in files.items()
    }
    problems: list[str] = []
    seen: set[tuple[str, bool]] = set()
    stop = threading.Event()

    def query() -> None:
        while not stop.is_set():
            for label, name in names.items():
                before = screener.index
                try:
                    hit = bool(screener.screen(name))
                except Exception as exc:  # any failure during a swap is a bug
                    problems.append(repr(exc))
                    continue
                if screener.index is not before:
                    continue  # a swap happened during the call: either answer is right
                in_force = label_of.get(before.lists[0].version) if before.lists else None
                seen.add((label, hit))
                if hit != (in_force == label):
                    problems.append(f"{name}: hit={hit} with version {in_force} in force")

    threads = [threading.Thread(target=query) for _ in range(3)]
    try:
        for thread in threads:
            thread.start()
        assert screener.screen(names["A"]) == []  # the bundled lists are in force
        for round_no, label in enumerate("ABAB"):
            prepared = prepare_version([files[label]], replace_all=True)
            saved = store.save(prepared, loaded_by="test", based_on=store.current())
            wait_for(lambda v=saved.version: watcher.version == v, 20, f"swap {round_no}")
            assert [h.entity_id for h in screener.screen(names[label])] == [
                f"OFAC-SDN:{901 if label == 'A' else 902}"
            ]
    finally:
        stop.set()
        for thread in threads:
            thread.join(10)
        watcher.stop()
    assert problems == []
    assert watcher.swaps == 4
    assert {("A", True), ("B", True), ("A", False), ("B", False)} <= seen
