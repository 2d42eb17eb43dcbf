"""The false-positive allowlist, in PostgreSQL: officers clear a customer against one
listed entity, and may revoke it.

Each action is a row of the append-only ``sanctions_clearances`` table (who, when, why,
against which entity version and customer version) and a ``SanctionsClearance`` event on
``sanctions.clearances``, which the audit sink records. The row is committed only after the
broker has acknowledged the event: a clearance never takes effect unaudited (at worst, if
the database commit then fails, the audit trail shows an attempt that had no effect, and the
officer sees the error).

The officer's reason is free text about the customer: it is sealed with the customer's key
(``compliance.sealing``) in the row and in the event, so ``compliance gdpr erase`` makes it
unreadable in both (it reads ``[erased]`` afterwards); a customer already erased cannot be
cleared. The rest of a row (who, when, which entity and versions) stays readable: it is what
an auditor checks.

A clearance is in force while the latest action for the customer and entity is a clearance
given against the entity version screened now and, when the caller knows it, the customer
version screened now: a changed list entry or changed customer details bring the hit back.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from sqlalchemy import Engine, select

from compliance.errors import PoisonMessage
from compliance.screening.errors import ClearanceError
from compliance.screening.events import Clearance
from compliance.screening.tables import clearances, database
from compliance.sealing import ERASED, Keyring, is_sealed, open_text, seal_text
from compliance.subject_keyring import DatabaseKeyring

Announce = Callable[[Clearance], None]
_MIN_REASON = 10


def _row_to_clearance(row: object, keyring: Keyring) -> Clearance:
    m = row._mapping  # type: ignore[attr-defined]
    return Clearance(
        event_id=str(m["event_id"]),
        action=m["action"],
        customer_id=m["customer_id"],
        entity_id=m["entity_id"],
        entity_version=m["entity_version"],
        customer_version=m["customer_version"],
        officer=m["officer"],
        reason=_opened(m["reason"], m["customer_id"], keyring),
        entity_name=m["entity_name"],
        list_version=m["list_version"],
        recorded_at=m["recorded_at"],
    )


def _opened(reason: str, customer_id: str, keyring: Keyring) -> str:
    """The reason as the officer wrote it; ``[erased]`` once the customer's key is gone."""
    if not is_sealed(reason):
        return reason  # recorded before reasons were sealed
    key = keyring.opening_key(customer_id)
    if key is None:
        return ERASED
    try:
        return open_text(key, reason)
    except PoisonMessage:
        return ERASED


def _require_text(value: str, what: str, minimum: int = 1) -> str:
    value = " ".join(value.split())
    if len(value) < minimum:
        raise ClearanceError(
            f"{what} is required" + (f" ({minimum}+ characters)" if minimum > 1 else "")
        )
    return value


class ClearanceStore:
    """Clearances in PostgreSQL. ``is_cleared`` is the screener's ``is_cleared`` hook."""

    def __init__(self, engine: Engine, keyring: Keyring | None = None) -> None:
        self.engine = engine
        self.keyring = keyring or DatabaseKeyring(engine)

    def latest(self, customer_id: str, entity_id: str) -> Clearance | None:
        """The latest action for this customer and entity, if any."""
        query = (
            select(clearances)
            .where(clearances.c.customer_id == customer_id, clearances.c.entity_id == entity_id)
            .order_by(clearances.c.id.desc())
            .limit(1)
        )
        with database(self.engine) as conn:
            row = conn.execute(query).first()
        return None if row is None else _row_to_clearance(row, self.keyring)

    def in_force(
        self,
        customer_id: str,
        entity_id: str,
        entity_version: str,
        customer_version: str | None = None,
    ) -> Clearance | None:
        """The clearance that clears this customer against this entity now, if one does: the
        latest action is a clearance given against ``entity_version`` and, when the caller
        knows it, against ``customer_version``."""
        latest = self.latest(customer_id, entity_id)
        if latest is None or latest.action != "clear" or latest.entity_version != entity_version:
            return None
        if customer_version is not None and latest.customer_version != customer_version:
            return None
        return latest

    def is_cleared(
        self,
        customer_id: str,
        entity_id: str,
        entity_version: str,
        customer_version: str | None = None,
    ) -> bool:
        """Is a clearance in force (``in_force``)? The screener's ``is_cleared`` hook."""
        return self.in_force(customer_id, entity_id, entity_version, customer_version) is not None

    def clear(
        self,
        *,
        customer_id: str,
        entity_id: str,
        entity_version: str,
        customer_version: str | None,
        officer: str,
        reason: str,
        entity_name: str | None = None,
        list_version: str | None = None,
        announce: Announce | None = None,
    ) -> Clearance:
        """Record a clearance; ``announce`` publishes its event before the row commits."""
        clearance = Clearance(
            event_id=str(uuid.uuid4()),
            action="clear",
            customer_id=_require_text(customer_id, "a customer id"),
            entity_id=_require_text(entity_id, "an entity id"),
            entity_version=_require_text(entity_version, "an entity version"),
            customer_version=customer_version,
            officer=_require_text(officer, "the officer's name"),
            reason=_require_text(reason, "a reason", _MIN_REASON),
            entity_name=entity_name,
            list_version=list_version,
        )
        return self._record(clearance, announce)

    def revoke(
        self,
        *,
        customer_id: str,
        entity_id: str,
        officer: str,
        reason: str,
        announce: Announce | None = None,
    ) -> Clearance:
        """Revoke the clearance in force for this customer and entity."""
        latest = self.latest(customer_id, entity_id)
        if latest is None or latest.action != "clear":
            raise ClearanceError(
                f"customer {customer_id} is not cleared against {entity_id}: nothing to revoke"
            )
        revocation = Clearance(
            event_id=str(uuid.uuid4()),
            action="revoke",
            customer_id=customer_id,
            entity_id=entity_id,
            entity_version=latest.entity_version,
            customer_version=latest.customer_version,
            officer=_require_text(officer, "the officer's name"),
            reason=_require_text(reason, "a reason", _MIN_REASON),
            entity_name=latest.entity_name,
            list_version=latest.list_version,
        )
        return self._record(revocation, announce)

    def history(
        self, customer_id: str | None = None, entity_id: str | None = None
    ) -> list[Clearance]:
        """Every action, oldest first, for a customer and/or an entity."""
        query = select(clearances).order_by(clearances.c.id)
        if customer_id is not None:
            query = query.where(clearances.c.customer_id == customer_id)
        if entity_id is not None:
            query = query.where(clearances.c.entity_id == entity_id)
        with database(self.engine) as conn:
            rows = list(conn.execute(query))
        return [_row_to_clearance(row, self.keyring) for row in rows]

    def _record(self, clearance: Clearance, announce: Announce | None) -> Clearance:
        key = self.keyring.sealing_key(clearance.customer_id)
        if key is None:
            raise ClearanceError(
                f"customer {clearance.customer_id} was erased (GDPR): nothing is recorded "
                "about them any more"
            )
        values = {
            name: getattr(clearance, name) for name in clearance.__slots__ if name != "recorded_at"
        }
        sealed = {**values, "reason": seal_text(key, clearance.reason)}
        with database(self.engine, write=True) as conn:
            recorded_at = conn.execute(
                clearances.insert().values(sealed).returning(clearances.c.recorded_at)
            ).scalar_one()
            if announce is not None:
                # The event carries the sealed reason as it is (a codec leaves it sealed);
                # raises when the broker does not acknowledge: rollback.
                announce(Clearance(**{**sealed, "recorded_at": recorded_at}))
        return Clearance(**{**values, "recorded_at": recorded_at})
