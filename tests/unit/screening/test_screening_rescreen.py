"""Re-screening customers on a list change, the customer version, the events it makes."""

from __future__ import annotations

import dataclasses
from typing import Any

from compliance.codec import registry
from compliance.screening import SanctionsList, Screener
from compliance.screening.customers import CustomerProfile, customer_version
from compliance.screening.events import (
    Clearance,
    ListFile,
    ListSummary,
    clearance_event,
    lists_loaded_event,
    rescreen_event_id,
)
from compliance.screening.rescreen import new_hits, rescreen_exceptions

ZAWAHIRI = CustomerProfile("c-1", "Ayman al-Zawahiri", "1951-06-19", ("Egypt",))
PLAIN = CustomerProfile("c-2", "Henrietta Oakenshield")
PUTIN = CustomerProfile("c-3", "Vladimir Putin", "1952-10-07")


def test_customer_version_ignores_spelling_of_the_same_details_and_sees_changes() -> None:
    base = customer_version("Vladimir Putin", "1952-10-07", ["RU"])
    assert base == customer_version("PUTIN, Vladimir", "07/10/1952", ["Russia"])
    assert base != customer_version("Vladimir Putin", "1952-10-08", ["RU"])
    assert base != customer_version("Vladimir Putin", "1952-10-07", ["FR"])
    assert base != customer_version("Vladimir V Putin", "1952-10-07", ["RU"])
    # a surname spelt like a legal form is part of the name, as the screener reads it
    assert customer_version("Sabrina Sá") != customer_version("Sabrina")
    assert customer_version("P. P. Ivanov") != customer_version("Ivanov")


def test_only_hits_the_previous_lists_did_not_give_are_new(
    make: type, small_list: SanctionsList
) -> None:
    before_list = make.make_list(*[e for e in small_list.entities if e.entity_id != "TEST:1"])
    before, after = Screener([before_list]), Screener([small_list])
    found = list(new_hits([ZAWAHIRI, PLAIN, PUTIN], before, after))
    assert [(f.customer.customer_id, f.hit.entity_id) for f in found] == [("c-3", "TEST:1")]
    # no previous lists: every hit is new
    first = list(new_hits([ZAWAHIRI, PLAIN, PUTIN], None, after))
    assert [f.customer.customer_id for f in first] == ["c-1", "c-3"]


def test_a_changed_entity_entry_is_a_new_hit(make: type, small_list: SanctionsList) -> None:
    changed = [
        dataclasses.replace(e, remarks="new designation") if e.entity_id == "TEST:3" else e
        for e in small_list.entities
    ]
    found = list(new_hits([ZAWAHIRI], Screener([small_list]), Screener([make.make_list(*changed)])))
    assert [f.hit.entity_id for f in found] == ["TEST:3"]


def test_cleared_hits_are_not_raised_and_the_hook_gets_the_customer_version(
    small_list: SanctionsList,
) -> None:
    calls: list[tuple[Any, ...]] = []

    def is_cleared(
        customer_id: str, entity_id: str, entity_version: str, customer_version: str | None = None
    ) -> bool:
        calls.append((customer_id, entity_id, customer_version))
        return entity_id == "TEST:1" and customer_version == PUTIN.version

    after = Screener([small_list], is_cleared=is_cleared)
    assert list(new_hits([PUTIN], None, after)) == []
    assert calls == [("c-3", "TEST:1", PUTIN.version)]
    moved = dataclasses.replace(PUTIN, countries=("FR",))  # the customer changed: not cleared
    assert [f.hit.entity_id for f in new_hits([moved], None, after)] == ["TEST:1"]


def test_rescreen_exceptions_have_ids_from_list_version_customer_and_entity(
    small_list: SanctionsList,
) -> None:
    after = Screener([small_list])
    records = list(
        rescreen_exceptions([PUTIN], None, after, list_version="lists:abc", cause_event_id="e-1")
    )
    again = list(
        rescreen_exceptions([PUTIN], None, after, list_version="lists:abc", cause_event_id="e-1")
    )
    (record,) = records
    assert record["envelope"]["event_id"] == again[0]["envelope"]["event_id"]
    assert record["envelope"]["event_id"] == rescreen_event_id("lists:abc", "c-3", "TEST:1")
    assert record["envelope"]["event_id"] != rescreen_event_id("lists:abd", "c-3", "TEST:1")
    assert record["kind"] == "sanctions_rescreen_hit" and record["customer_id"] == "c-3"
    assert record["envelope"]["causation_id"] == "e-1"
    assert record["details"]["entity_id"] == "TEST:1"
    assert "matched primary name" in record["details"]["explanation"]
    event_type, decoded = registry().decode(registry().encode("ComplianceException", record))
    assert event_type == "ComplianceException" and decoded["details"] == record["details"]


def test_clearance_and_lists_loaded_events_encode() -> None:
    clearance = Clearance(
        "7d1f0c4e-2a55-4d8e-9a7b-2c1d0e9f8a71", "clear", "c-1", "TEST:1", "v" * 64, "c" * 64,
        "officer.jane", "different person: born 1988 in Oslo",
    )  # fmt: skip
    record = clearance_event(clearance)
    assert record["envelope"]["event_id"] == clearance.event_id
    _, decoded = registry().decode(registry().encode("SanctionsClearance", record))
    assert decoded["officer"] == "officer.jane" and decoded["customer_id"] == "c-1"
    loaded = lists_loaded_event(
        "lists:new", "lists:old", "ops", [ListFile("sdn.csv", "OFAC-SDN", "a" * 64, 10)],
        [ListSummary("OFAC-SDN", "sha256:" + "a" * 64, 1)],
    )  # fmt: skip
    _, decoded = registry().decode(registry().encode("SanctionsListsLoaded", loaded))
    assert decoded["files"][0]["name"] == "sdn.csv" and decoded["lists"][0]["entities"] == 1
