"""Re-screening existing customers when the lists change: the hits the new lists give that
the previous lists did not (a new entity, or a listed entity whose entry changed), minus
those an officer has cleared. No Kafka and no database here: the caller supplies the
customers and the two screeners, and publishes the exceptions."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from compliance.codec import Record
from compliance.screening.customers import CustomerProfile
from compliance.screening.events import rescreen_exception
from compliance.screening.hits import Hit
from compliance.screening.model import EntityType
from compliance.screening.screener import Screener


@dataclass(frozen=True, slots=True)
class NewHit:
    customer: CustomerProfile
    hit: Hit


def _screen(screener: Screener, customer: CustomerProfile) -> list[Hit]:
    return screener.screen(
        customer.name,
        dob=customer.dob,
        countries=customer.countries,
        entity_type=EntityType.PERSON,
        customer_id=customer.customer_id,
    )


def new_hits(
    customers: Iterable[CustomerProfile], before: Screener | None, after: Screener
) -> Iterator[NewHit]:
    """Hits of ``after`` (which applies the clearances) not given by ``before``."""
    for customer in customers:
        hits = _screen(after, customer)
        if not hits:
            continue
        known = set()
        if before is not None:
            known = {(h.entity_id, h.entity_version) for h in _screen(before, customer)}
        for hit in hits:
            if (hit.entity_id, hit.entity_version) not in known:
                yield NewHit(customer, hit)


def rescreen_exceptions(
    customers: Iterable[CustomerProfile],
    before: Screener | None,
    after: Screener,
    *,
    list_version: str,
    cause_event_id: str,
) -> Iterator[Record]:
    """One ``ComplianceException`` per new hit, with ids derived from the list version, the
    customer and the entity (a re-run yields the same events)."""
    for found in new_hits(customers, before, after):
        yield rescreen_exception(
            found.hit, found.customer.customer_id, found.customer.name, list_version, cause_event_id
        )
