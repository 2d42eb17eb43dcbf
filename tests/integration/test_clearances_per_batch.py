"""The checker reads the officers' clearances once per batch: within ``LiveSanctions.batch``,
a hit of a customer and entity no officer ever acted on is answered without a query, one that
has clearance records is looked up as before (the clearance in force is named), and a
clearance recorded for a new pair meanwhile counts from the next batch. Real PostgreSQL."""

from __future__ import annotations

import uuid

from sqlalchemy import Engine, event

from compliance.config import Settings
from compliance.screening.clearance_store import ClearanceStore
from compliance.screening.customers import customer_version
from compliance.screening.live import LiveSanctions
from compliance.screening.tables import create_screening_schema

ENTITY = "OFAC-SDN:2676"  # AL ZAWAHIRI, Dr. Ayman, in the bundled lists
OTHER = "OFAC-SDN:6365"


def test_a_batch_reads_which_pairs_have_clearances_once_and_looks_up_only_those(
    engine: Engine, base_settings: Settings
) -> None:
    create_screening_schema(engine)
    store = ClearanceStore(engine)
    live = LiveSanctions(base_settings, engine)
    cleared, uncleared = (f"C-{uuid.uuid4().hex[:12]}" for _ in range(2))
    person = customer_version("Ayman Zawahiri", "1951-06-19")
    given = store.clear(
        customer_id=cleared, entity_id=ENTITY, entity_version="v1", customer_version=person,
        officer="officer.jane", reason="different person: passport shows born 1988 in Oslo",
    )  # fmt: skip
    queries: list[str] = []

    def count(*args: object) -> None:
        queries.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", count)
    try:
        with live.batch([cleared, uncleared]):
            assert len(queries) == 1  # the pairs with records, for the whole batch
            found = live.clearance(cleared, ENTITY, "v1", person)
            assert found is not None and found.event_id == given.event_id
            looked_up = len(queries)
            for _ in range(3):
                assert live.clearance(uncleared, ENTITY, "v1", person) is None
                assert live.clearance(cleared, OTHER, "v1", person) is None
            assert len(queries) == looked_up  # no query for pairs nobody acted on
            store.clear(
                customer_id=uncleared, entity_id=ENTITY, entity_version="v1",
                customer_version=person, officer="officer.jane", reason="a different person",
            )  # fmt: skip
            assert live.clearance(uncleared, ENTITY, "v1", person) is None  # next batch
        with live.batch([uncleared]):
            assert live.clearance(uncleared, ENTITY, "v1", person) is not None
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert live.clearance(uncleared, ENTITY, "v1", person) is not None  # outside a batch
