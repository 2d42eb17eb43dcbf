"""``ClearanceStore.in_force``: the one condition that makes a hit cleared, which both the
screener's ``is_cleared`` hook and the checker's clearance lookup (``LiveSanctions``) use.
The latest action is served from memory here; tests/integration has it from PostgreSQL."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import create_engine

from compliance.screening.clearance_store import ClearanceStore
from compliance.screening.events import Clearance

CUSTOMER, ENTITY = "C-1", "OFAC-SDN:901"


class MemoryClearances(ClearanceStore):
    """A clearance store whose latest actions are given, not read from the database."""

    def __init__(self, *actions: Clearance) -> None:
        super().__init__(create_engine("sqlite://"))  # never used: ``latest`` is overridden
        self.actions = list(actions)

    def latest(self, customer_id: str, entity_id: str) -> Clearance | None:
        mine = [a for a in self.actions if (a.customer_id, a.entity_id) == (customer_id, entity_id)]
        return mine[-1] if mine else None


def action(kind: str, entity_version: str = "e1", customer_version: str | None = "c1") -> Clearance:
    return Clearance(
        event_id=str(uuid.uuid4()), action=kind, customer_id=CUSTOMER, entity_id=ENTITY,
        entity_version=entity_version, customer_version=customer_version,
        officer="officer.jane", reason="different person, passport checked",
    )  # fmt: skip


def test_the_clearance_in_force_is_the_latest_action_when_it_clears_these_versions() -> None:
    cleared = action("clear")
    store = MemoryClearances(cleared)
    assert store.in_force(CUSTOMER, ENTITY, "e1", "c1") is cleared
    assert store.in_force(CUSTOMER, ENTITY, "e1") is cleared  # customer details not known
    assert store.in_force(CUSTOMER, ENTITY, "e2", "c1") is None  # the list entry changed
    assert store.in_force(CUSTOMER, ENTITY, "e1", "c2") is None  # the customer changed
    assert store.in_force("C-2", ENTITY, "e1", "c1") is None  # another customer
    assert store.in_force(CUSTOMER, "OFAC-SDN:902", "e1", "c1") is None  # another entity


def test_a_revocation_or_a_newer_clearance_decides() -> None:
    first = action("clear")
    assert MemoryClearances(first, action("revoke")).in_force(CUSTOMER, ENTITY, "e1") is None
    again = action("clear", "e2")
    store = MemoryClearances(first, action("revoke"), again)
    assert store.in_force(CUSTOMER, ENTITY, "e2", "c1") is again
    assert store.in_force(CUSTOMER, ENTITY, "e1", "c1") is None  # not the older clearance


@pytest.mark.parametrize(
    ("entity_version", "customer_version"),
    [("e1", "c1"), ("e1", None), ("e2", "c1"), ("e1", "c2"), ("e2", None)],
)
@pytest.mark.parametrize("given", [None, "c1"])
def test_is_cleared_is_in_force_as_a_yes_or_no(
    entity_version: str, customer_version: str | None, given: str | None
) -> None:
    for actions in ([], [action("clear", customer_version=given)], [action("revoke")]):
        store = MemoryClearances(*actions)
        found = store.in_force(CUSTOMER, ENTITY, entity_version, customer_version)
        cleared = store.is_cleared(CUSTOMER, ENTITY, entity_version, customer_version)
        assert cleared is (found is not None)
