"""The checker's sanctions rule on the lists in force, through the real broker and
PostgreSQL: a listed person is sent to an officer with the list version named; a list
version loaded while the checker runs is announced (and audited) as a ruleset change before
it decides, and then catches a newly listed name; an officer's clearance stops the hit for
that customer only, from the next document on."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from confluent_kafka import Producer
from sqlalchemy import Engine

from compliance.codec import registry
from compliance.config import Settings
from compliance.events import subject_key
from compliance.rules import load_ruleset
from compliance.screening.clearance_store import ClearanceStore
from compliance.screening.list_store import ListStore
from compliance.screening.live import bundled_in_force
from compliance.topics import DOCUMENTS_CLASSIFIED

from .conftest import Processes, wait_for
from .test_rules_checker import audited, exceptions_for, results_for
from .test_screening_support import classified_passport, cli, write_sdn

RULE = "aml.sanctions-name-screen"
BLIX = ("Zarathustra Blixquent", "1971-03-12", "IS")


def publish_classified(settings: Settings, customer_id: str, person: tuple[str, str, str]) -> str:
    """A DocumentClassified passport of ``person`` (name, birth date, nationality); its id."""
    record = classified_passport(customer_id, *person)
    document_id = str(record["document_id"])
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap})
    producer.produce(
        settings.topic(DOCUMENTS_CLASSIFIED),
        key=subject_key(record),
        value=registry().encode("DocumentClassified", record),
    )
    assert producer.flush(30) == 0
    return document_id


def screened(engine: Engine, settings: Settings, document_id: str) -> dict[str, Any] | None:
    return results_for(engine, settings, document_id).get(RULE)


def decided(
    engine: Engine, settings: Settings, processes: Processes, document_id: str
) -> dict[str, Any]:
    wait_for(
        lambda: screened(engine, settings, document_id) is not None,
        60,
        f"the sanctions result of {document_id} audited",
        processes,
    )
    result = screened(engine, settings, document_id)
    assert result is not None
    return result


def raised(
    engine: Engine, settings: Settings, processes: Processes, document_id: str
) -> dict[str, Any]:
    wait_for(
        lambda: RULE in exceptions_for(engine, settings, document_id),
        60,
        f"the sanctions exception of {document_id} audited",
        processes,
    )
    exception: dict[str, Any] = exceptions_for(engine, settings, document_id)[RULE]
    return exception


def test_checker_screens_the_lists_in_force_follows_a_load_and_applies_clearances(
    settings: Settings, processes: Processes, engine: Engine, tmp_path: Any
) -> None:
    started = datetime.now(UTC) - timedelta(minutes=1)
    tag = uuid.uuid4().hex[:8]
    listed, cleared, namesake = (f"C-{tag}-{n}" for n in ("listed", "cleared", "namesake"))
    offline = load_ruleset(settings.rules_dir)
    bundled = bundled_in_force(settings)
    processes.start("audit-sink")
    processes.start("checker", COMPLIANCE_SANCTIONS_POLL_S="0.3")

    # 1. Before any load: the bundled lists, the version `rules test` reports.
    zubaydah = publish_classified(settings, listed, ("Abu Zubaydah", "1971-03-12", "PS"))
    first = decided(engine, settings, processes, zubaydah)
    assert (first["outcome"], first["inputs"]["entity_id"]) == ("review", "OFAC-SDN:6905")
    assert first["inputs"]["list_version"] == bundled.fingerprint
    assert first["envelope"]["ruleset_version"] == offline.version
    exception = raised(engine, settings, processes, zubaydah)
    assert exception["kind"] == "needs_review"
    assert exception["details"]["list_version"] == bundled.fingerprint
    assert exception["envelope"]["ruleset_version"] == offline.version
    early = publish_classified(settings, namesake, BLIX)
    assert decided(engine, settings, processes, early)["outcome"] == "pass"  # not listed yet

    # 2. A list version loaded while the checker runs: announced, then in force.
    lists = write_sdn(tmp_path / "v1", [(901, "BLIXQUENT, Zarathustra"), (902, "DOE, Jane")])
    loaded = cli(settings, "sanctions", "load", lists, "--by", "ops.anna", "--no-rescreen")
    assert loaded.returncode == 0, loaded.stderr
    current = ListStore(engine, settings.topic_prefix).current()
    assert current is not None

    def list_change() -> list[dict[str, Any]]:
        return [
            r
            for r in audited(engine, settings, "RulesetChanged")
            if r["reason"] == f"sanctions lists changed: {current.version}"
        ]

    wait_for(lambda: len(list_change()) == 1, 60, "the list change announced", processes)
    [change] = list_change()
    assert change["accepted"] is True
    assert change["previous_version"] == offline.version
    new_version = change["version"]
    assert new_version != offline.version
    assert change["rules"] == {r.id: r.full_version for r in offline.rules}  # same rules
    assert change["lists_version"] == current.version  # stated, not only in the reason
    assert change["rules_version"] == f"sha256:{offline.rules_version[:16]}"

    blix = publish_classified(settings, cleared, BLIX)
    caught = decided(engine, settings, processes, blix)
    assert (caught["outcome"], caught["inputs"]["entity_id"]) == ("review", "OFAC-SDN:901")
    assert caught["inputs"]["list_version"] == current.version
    assert caught["envelope"]["ruleset_version"] == new_version
    assert raised(engine, settings, processes, blix)["details"]["list_version"] == current.version

    # 3. An officer clears that customer (details from the audit trail): the next document
    # of that customer passes and names the clearance; a namesake is still raised.
    wait_for(
        lambda: any(
            d["customer_id"] == cleared for d in audited(engine, settings, "DocumentClassified")
        ),
        60,
        "the customer's document audited",
        processes,
    )
    reason = "different person: passport shows another birth place, checked by phone"
    given = cli(
        settings, "sanctions", "clear", "--customer", cleared, "--entity", "OFAC-SDN:901",
        "--by", "officer.jane", "--reason", reason,
    )  # fmt: skip
    assert given.returncode == 0, given.stderr
    clearance = ClearanceStore(engine).latest(cleared, "OFAC-SDN:901")
    assert clearance is not None and clearance.action == "clear"

    again = publish_classified(settings, cleared, BLIX)
    other = publish_classified(settings, namesake, BLIX)
    passed = decided(engine, settings, processes, again)
    assert passed["outcome"] == "pass"
    assert passed["inputs"]["cleared_entities"] == "OFAC-SDN:901"
    assert passed["inputs"]["clearances"] == clearance.event_id
    assert passed["inputs"]["list_version"] == current.version
    assert "officer.jane cleared customer" in passed["explanation"]
    still = decided(engine, settings, processes, other)
    assert (still["outcome"], still["inputs"]["entity_id"]) == ("review", "OFAC-SDN:901")
    assert raised(engine, settings, processes, other)["customer_id"] == namesake
    assert RULE not in exceptions_for(engine, settings, again)
    processes.assert_alive()

    # 4. A backtest screens as the checker would now: the lists and clearances in force.
    report = cli(settings, "rules", "backtest", "--since", started.isoformat(), "--json")
    assert report.returncode == 0, report.stderr
    backtested = json.loads(report.stdout)
    assert backtested["ruleset_version"] == new_version
    assert backtested["lists_version"] == current.version
    changes = {
        (c["document_id"], c["rule_id"], c["before"], c["after"]) for c in backtested["changes"]
    }
    assert changes == {
        (zubaydah, RULE, "review", "pass"),  # not on the list now in force
        (early, RULE, "pass", "review"),  # listed since
        (blix, RULE, "review", "pass"),  # cleared since
    }
