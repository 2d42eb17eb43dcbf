"""The screening stores pause on an unreachable database (RetryableError, one mapping in
compliance.db_errors), so a checker looking up a clearance waits instead of deciding."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine

from compliance.errors import RetryableError
from compliance.screening.clearance_store import ClearanceStore
from compliance.screening.list_store import ListStore

# Nothing listens on port 1: connecting is refused at once, as when PostgreSQL is down.
DOWN = "postgresql+psycopg2://compliance:compliance@127.0.0.1:1/compliance"


def test_a_clearance_lookup_with_the_database_down_pauses() -> None:
    store = ClearanceStore(create_engine(DOWN))
    with pytest.raises(RetryableError, match="screening database unavailable"):
        store.in_force("C-1", "OFAC-SDN:1", "v1", None)


def test_looking_for_a_new_list_version_with_the_database_down_pauses() -> None:
    store = ListStore(create_engine(DOWN), "t.")
    with pytest.raises(RetryableError, match="screening database unavailable"):
        store.current_marker()
