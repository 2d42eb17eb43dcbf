"""The false-positive allowlist against the real PostgreSQL, and its audit through the
real broker: cleared stays cleared, a changed entity or customer is no longer cleared,
revocation, append-only history, and every action audited."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from compliance.config import Settings
from compliance.screening import Screener, load_directory
from compliance.screening.clearance_store import ClearanceStore
from compliance.screening.customers import customer_version
from compliance.screening.errors import ClearanceError
from compliance.screening.tables import create_screening_schema

from .conftest import Processes, wait_for
from .test_screening_support import audited, cli, rows_with_event_id

ENTITY = "OFAC-SDN:2676"  # AL ZAWAHIRI, Dr. Ayman, in the bundled lists


@pytest.fixture
def store(engine: Engine) -> ClearanceStore:
    create_screening_schema(engine)
    return ClearanceStore(engine)


def _customer() -> str:
    return f"C-{uuid.uuid4().hex[:12]}"


def test_cleared_stays_cleared_until_the_entity_or_the_customer_changes(
    store: ClearanceStore,
) -> None:
    customer = _customer()
    person = customer_version("Ayman Zawahiri", "1951-06-19")
    assert not store.is_cleared(customer, ENTITY, "v1", person)
    store.clear(
        customer_id=customer, entity_id=ENTITY, entity_version="v1", customer_version=person,
        officer="officer.jane", reason="different person: passport shows born 1988 in Oslo",
    )  # fmt: skip
    assert store.is_cleared(customer, ENTITY, "v1", person)
    assert store.is_cleared(customer, ENTITY, "v1")  # caller without customer details
    assert store.is_cleared(
        customer, ENTITY, "v1", customer_version("ZAWAHIRI, Ayman", "1951-06-19")
    )
    assert not store.is_cleared(customer, ENTITY, "v2", person)  # the entity changed
    assert not store.is_cleared(customer, ENTITY, "v1", customer_version("Ayman Zawahiri", "1960"))
    assert not store.is_cleared(_customer(), ENTITY, "v1", person)  # another customer
    assert not store.is_cleared(customer, "OFAC-SDN:1", "v1", person)  # another entity


def test_revocation_ends_a_clearance_and_is_kept_in_the_history(store: ClearanceStore) -> None:
    customer = _customer()
    store.clear(
        customer_id=customer, entity_id=ENTITY, entity_version="v1", customer_version=None,
        officer="officer.jane", reason="different person, checked passport",
    )  # fmt: skip
    revoked = store.revoke(
        customer_id=customer, entity_id=ENTITY, officer="officer.max",
        reason="new intelligence links the customer to the entity",
    )  # fmt: skip
    assert revoked.action == "revoke" and revoked.entity_version == "v1"
    assert not store.is_cleared(customer, ENTITY, "v1")
    with pytest.raises(ClearanceError, match="nothing to revoke"):
        store.revoke(customer_id=customer, entity_id=ENTITY, officer="x", reason="once more please")
    history = store.history(customer)
    assert [(c.action, c.officer) for c in history] == [
        ("clear", "officer.jane"),
        ("revoke", "officer.max"),
    ]
    assert all(c.recorded_at is not None for c in history)


def test_clearance_history_cannot_be_rewritten(store: ClearanceStore, engine: Engine) -> None:
    customer = _customer()
    store.clear(
        customer_id=customer, entity_id=ENTITY, entity_version="v1", customer_version=None,
        officer="officer.jane", reason="different person, checked passport",
    )  # fmt: skip
    for statement in (
        "UPDATE sanctions_clearances SET officer = 'someone else' WHERE customer_id = :c",
        "DELETE FROM sanctions_clearances WHERE customer_id = :c",
    ):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement), {"c": customer})
    assert [c.officer for c in store.history(customer)] == ["officer.jane"]


def test_a_clearance_needs_an_officer_and_a_reason(store: ClearanceStore) -> None:
    with pytest.raises(ClearanceError, match="a reason is required"):
        store.clear(
            customer_id=_customer(), entity_id=ENTITY, entity_version="v1",
            customer_version=None, officer="officer.jane", reason="fp",
        )  # fmt: skip


def test_the_screener_leaves_out_cleared_hits_through_the_store(
    store: ClearanceStore, settings: Settings
) -> None:
    screener = Screener(load_directory(settings.sanctions_dir), is_cleared=store.is_cleared)
    customer = _customer()
    hits = screener.screen("Aiman Zawahiri", dob="1951", customer_id=customer)
    by_id = {h.entity_id: h for h in hits}
    assert ENTITY in by_id and "UN-SC:QDi.006" in by_id
    store.clear(
        customer_id=customer, entity_id=ENTITY, entity_version=by_id[ENTITY].entity_version,
        customer_version=customer_version("Aiman Zawahiri", "1951"),
        officer="officer.jane", reason="different person, checked passport",
    )  # fmt: skip
    left = screener.screen("Aiman Zawahiri", dob="1951", customer_id=customer)
    assert [h.entity_id for h in left] == ["UN-SC:QDi.006"]
    # the same customer with other details is screened afresh
    moved = screener.screen("Aiman Zawahiri", dob="1951", countries=["EG"], customer_id=customer)
    assert ENTITY in {h.entity_id for h in moved}


def test_clear_and_revoke_commands_are_recorded_and_audited(
    settings: Settings, processes: Processes, engine: Engine, store: ClearanceStore
) -> None:
    processes.start("audit-sink")
    customer = _customer()
    details = ["--name", "Aiman Zawahiri", "--dob", "1951"]
    done = cli(
        settings, "sanctions", "clear", "--customer", customer, "--entity", ENTITY,
        "--by", "officer.jane", "--reason", "different person, checked passport", *details,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"customer {customer} cleared against {ENTITY}" in done.stdout

    screened = cli(settings, "screen", "Aiman Zawahiri", "--dob", "1951", "--customer", customer)
    assert screened.returncode == 3, screened.stderr  # the UN entry still hits
    assert "1 hit(s), 1 cleared" in screened.stdout
    assert f"[cleared for {customer} by officer.jane]" in screened.stdout

    revoked = cli(
        settings, "sanctions", "revoke", "--customer", customer, "--entity", ENTITY,
        "--by", "officer.max", "--reason", "new intelligence on the customer",
    )  # fmt: skip
    assert revoked.returncode == 0, revoked.stderr
    unknown = cli(
        settings, "sanctions", "clear", "--customer", customer, "--entity", "OFAC-SDN:0",
        "--by", "officer.jane", "--reason", "no such entity at all", *details,
    )  # fmt: skip
    assert unknown.returncode == 2 and "no entity OFAC-SDN:0" in unknown.stderr

    history = store.history(customer)
    assert [c.action for c in history] == ["clear", "revoke"]
    wait_for(
        lambda: len(audited(engine, settings, "SanctionsClearance")) == 2,
        60,
        "both clearance actions audited",
        processes,
    )
    events = audited(engine, settings, "SanctionsClearance")
    assert set(events) == {c.event_id for c in history}
    assert sorted((e["action"], e["officer"]) for e in events.values()) == [
        ("clear", "officer.jane"),
        ("revoke", "officer.max"),
    ]
    assert all(rows_with_event_id(engine, c.event_id) == 1 for c in history)
