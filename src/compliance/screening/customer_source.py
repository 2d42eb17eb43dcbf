"""Existing customers, as the audit trail knows them: the details read from their
documents (``DocumentClassified`` events: ``full_name``, ``date_of_birth``,
``nationality``), the latest value of each winning.

The trail seals personal fields with the subject's key (crypto-shredding); they are opened
here with that key, and a customer whose key was erased has no details left to screen.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Engine, select

from compliance.audit.personal_data import reveal
from compliance.audit.store import audit_events
from compliance.audit.subject_keys import existing_keys
from compliance.screening.customers import CustomerProfile
from compliance.screening.tables import database

_FIELDS = {"full_name": "name", "date_of_birth": "dob", "nationality": "country"}
_BATCH = 2000


def _merge_fields(known: dict[str, str], fields: Any) -> None:
    if not isinstance(fields, list):  # erased: nothing readable
        return
    for field in fields:
        key = _FIELDS.get(field.get("name"))
        value = (field.get("value") or "").strip()
        if key and value:
            known[key] = value


def _latest_details(conn: Any, rows: Iterable[Any]) -> dict[str, dict[str, str]]:
    details: dict[str, dict[str, str]] = {}
    batch: list[Any] = []

    def flush() -> None:
        keys = existing_keys(conn, {row.subject_id for row in batch if row.subject_id})
        for row in batch:
            payload = reveal(str(row.event_id), row.payload, keys.get(row.subject_id))
            customer_id = payload.get("customer_id")
            if customer_id:
                _merge_fields(details.setdefault(customer_id, {}), payload.get("fields"))
        batch.clear()

    for row in rows:
        batch.append(row)
        if len(batch) >= _BATCH:
            flush()
    flush()
    return details


def customers_from_audit(
    engine: Engine, classified_topic: str, customer_id: str | None = None
) -> list[CustomerProfile]:
    """Every customer (or the one asked for) with a name on some document classified on
    ``classified_topic`` (the topic name with its prefix), in customer id order."""
    customer = audit_events.c.payload["customer_id"].astext
    query = (
        select(audit_events.c.event_id, audit_events.c.subject_id, audit_events.c.payload)
        .where(
            audit_events.c.topic == classified_topic,
            audit_events.c.event_type == "DocumentClassified",
            customer.is_not(None),
        )
        .order_by(audit_events.c.occurred_at, audit_events.c.recorded_at)
    )
    if customer_id is not None:
        query = query.where(customer == customer_id)
    with database(engine) as conn, database(engine) as key_conn:
        rows = conn.execution_options(yield_per=_BATCH).execute(query)
        details = _latest_details(key_conn, rows)
    return [
        CustomerProfile(
            customer_id=cid,
            name=known["name"],
            dob=known.get("dob"),
            countries=(known["country"],) if "country" in known else (),
        )
        for cid, known in sorted(details.items())
        if "name" in known
    ]
