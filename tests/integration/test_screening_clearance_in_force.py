"""``ClearanceStore.in_force`` against the real PostgreSQL, and the checker's clearance lookup
(``LiveSanctions.clearance``) going through it: the clearance named is the one recorded, and
it stops counting when revoked or when the entity or the customer changes."""

from __future__ import annotations

import uuid

from sqlalchemy import Engine

from compliance.config import Settings
from compliance.screening.clearance_store import ClearanceStore
from compliance.screening.customers import customer_version
from compliance.screening.live import LiveSanctions
from compliance.screening.tables import create_screening_schema

ENTITY = "OFAC-SDN:2676"  # AL ZAWAHIRI, Dr. Ayman, in the bundled lists


def test_the_live_lookup_names_the_clearance_in_force_until_it_lapses(
    engine: Engine, base_settings: Settings
) -> None:
    create_screening_schema(engine)
    store = ClearanceStore(engine)
    live = LiveSanctions(base_settings, engine)
    customer = f"C-{uuid.uuid4().hex[:12]}"
    person = customer_version("Ayman Zawahiri", "1951-06-19")
    assert store.in_force(customer, ENTITY, "v1", person) is None
    assert live.clearance(customer, ENTITY, "v1", person) is None
    given = store.clear(
        customer_id=customer, entity_id=ENTITY, entity_version="v1", customer_version=person,
        officer="officer.jane", reason="different person: passport shows born 1988 in Oslo",
    )  # fmt: skip
    for lookup in (store.in_force, live.clearance):
        found = lookup(customer, ENTITY, "v1", person)
        assert found is not None and found.event_id == given.event_id
        assert found.officer == "officer.jane" and found.recorded_at is not None
        assert lookup(customer, ENTITY, "v2", person) is None  # the entity changed
        other = customer_version("Ayman Zawahiri", "1960")
        assert lookup(customer, ENTITY, "v1", other) is None  # the customer changed
    assert store.in_force(customer, ENTITY, "v1") == store.in_force(customer, ENTITY, "v1", person)
    store.revoke(
        customer_id=customer, entity_id=ENTITY, officer="officer.max",
        reason="new intelligence links the customer to the entity",
    )  # fmt: skip
    assert store.in_force(customer, ENTITY, "v1", person) is None
    assert live.clearance(customer, ENTITY, "v1", person) is None
    assert not store.is_cleared(customer, ENTITY, "v1", person)
