"""Clearing a sanctions case as a false positive: a clearance for each listed entity the
case's exceptions matched, through the existing allowlist (``compliance.screening``), so the
same hit does not come back for the customer.

The screening rule names what it screened in the exception's details (``entity_id``, the
screened name under the rule's field, the birth date and nationality when it used them): the
clearance is given against the entity as the lists in force describe it now and against the
customer's screened details, exactly as ``compliance sanctions clear`` gives one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from sqlalchemy import Engine

from compliance.cases.queries import ExceptionView
from compliance.config import Settings
from compliance.screening.clearance_store import ClearanceStore
from compliance.screening.customers import customer_version
from compliance.screening.events import Clearance
from compliance.screening.live import lists_in_force
from compliance.screening.model import entity_version
from compliance.sealing import ERASED

log = logging.getLogger(__name__)
# Where the screening rules put the screened name (their ``field``), in order of preference.
NAME_FIELDS = ("full_name", "business_name", "issuer", "name", "counterparty_name")
DOB_FIELD = "date_of_birth"
COUNTRY_FIELD = "nationality"


def record_clearances(
    settings: Settings,
    engine: Engine,
    *,
    customer_id: str,
    exceptions: Sequence[ExceptionView],
    officer: str,
    reason: str,
    announce: Callable[[Clearance], None],
) -> list[str]:
    """A clearance for every entity the exceptions matched (none twice, none already in
    force); returns the entity ids cleared or found cleared."""
    wanted: dict[str, ExceptionView] = {}
    for e in exceptions:
        matched = e.details.get("entity_id")
        if matched and matched != ERASED:
            wanted.setdefault(matched, e)
    if not wanted:
        return []
    entities = {}
    in_force = lists_in_force(settings, engine)
    for lst in in_force.lists:
        for listed in lst.entities:
            if listed.entity_id in wanted:
                entities[listed.entity_id] = (listed, in_force.version or lst.version)
    store = ClearanceStore(engine)
    done = []
    for entity_id, e in sorted(wanted.items()):
        found = entities.get(entity_id)
        if found is None:
            log.warning(
                "cases: entity %s is no longer on the lists in force: not cleared", entity_id
            )
            continue
        entity, list_version = found
        version = entity_version(entity)
        details = _customer_version(e)
        if store.in_force(customer_id, entity_id, version, details) is None:
            store.clear(
                customer_id=customer_id,
                entity_id=entity_id,
                entity_version=version,
                customer_version=details,
                officer=officer,
                reason=reason,
                entity_name=entity.name,
                list_version=list_version,
                announce=announce,
            )
        done.append(entity_id)
    return done


def _customer_version(e: ExceptionView) -> str | None:
    name = next((e.details[f] for f in NAME_FIELDS if e.details.get(f)), None)
    if not name or name == ERASED:
        return None
    dob = e.details.get(DOB_FIELD) or None
    country = e.details.get(COUNTRY_FIELD)
    return customer_version(name, dob, [country] if country else [])
