"""Reading cases: the queue and one case with everything behind it.

Used by the review application and the command line; both change cases only through
``compliance.cases.desk``. Personal values (an exception's reason and details, comments,
the audit trail's personal fields) are kept sealed in the tables and opened here: a case's
reason, details and comments with its customer's key (the key the decisions sealed them
with), the trail's with each event's subject's; an erased subject's show ``[erased]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, CompoundSelect, Engine, Row, Select, and_, or_, select, union

from compliance.audit.personal_data import reveal
from compliance.audit.subject_keys import existing_keys
from compliance.audit.tables import audit_events
from compliance.cases.decisions import FOUR_EYES
from compliance.cases.tables import OPEN_STATUSES, case_exceptions, case_history, cases
from compliance.codec import SchemaRegistry
from compliance.errors import PoisonMessage
from compliance.sealing import ERASED, Keyring, is_sealed, open_text


@dataclass(frozen=True)
class CaseSummary:
    case_id: str
    customer_id: str
    category: str
    severity: str
    status: str
    assignee: str | None
    title: str
    opened_at: datetime
    updated_at: datetime
    sla_due_at: datetime | None
    sla_breached: bool
    exception_count: int
    pending_outcome: str | None
    pending_by: str | None
    pending_at: datetime | None
    last_event_id: str
    pending_event_id: str | None = None  # the pending decision's event id

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def needs_four_eyes(self) -> bool:
        """A clear or confirm of this case needs a second officer's approval."""
        return self.severity in FOUR_EYES


@dataclass(frozen=True)
class EvidenceRef:
    kind: str  # event, document, check_result or transaction
    ref: str


@dataclass(frozen=True)
class ExceptionView:
    event_id: str
    subject_id: str
    document_id: str | None
    kind: str
    rule_id: str | None
    rule_version: str | None
    severity: str
    raised_at: datetime
    sla_due_at: datetime | None
    reason: str  # opened ("[erased]" when it no longer opens)
    details: dict[str, str | None]  # opened
    evidence: tuple[EvidenceRef, ...]


@dataclass(frozen=True)
class TrailEntry:
    """An audit-trail row behind the case (an evidence ref), its personal fields opened."""

    event_id: str
    event_type: str
    occurred_at: datetime
    stage: str  # the producer that wrote it
    topic: str
    payload: dict[str, Any]
    explanation: str | None = None  # check results: why the rule decided as it did
    inputs: dict[str, Any] | None = None  # check results: what the rule read


@dataclass(frozen=True)
class HistoryEntry:
    event_id: str
    at: datetime
    actor: str
    action: str
    comment: str | None  # opened
    detail: dict[str, Any]


@dataclass(frozen=True)
class TransactionView:
    """A payment behind a transaction-monitoring case, from the audit trail."""

    event_id: str
    transaction_id: str
    booked_at: str  # ISO 8601, as the trail keeps it
    amount: str
    currency: str
    direction: str
    account_id: str
    counterparty: str | None
    counterparty_account: str | None
    counterparty_country: str | None


@dataclass(frozen=True)
class CaseView:
    case: CaseSummary
    exceptions: list[ExceptionView]
    trail: list[TrailEntry]
    history: list[HistoryEntry]
    transactions: list[TransactionView] = field(default_factory=list)


def summary(row: Row[Any]) -> CaseSummary:
    return CaseSummary(
        case_id=row.case_id,
        customer_id=row.customer_id,
        category=row.category,
        severity=row.severity,
        status=row.status,
        assignee=row.assignee,
        title=row.title,
        opened_at=row.opened_at,
        updated_at=row.updated_at,
        sla_due_at=row.sla_due_at,
        sla_breached=row.sla_breached,
        exception_count=row.exception_count,
        pending_outcome=row.pending_outcome,
        pending_by=row.pending_by,
        pending_at=row.pending_at,
        last_event_id=row.last_event_id,
        pending_event_id=row.pending_event_id,
    )


def queue(
    engine: Engine,
    *,
    statuses: Sequence[str] | None = None,
    category: str | None = None,
    severity: str | None = None,
    assignee: str | None = None,
    search: str | None = None,
    limit: int = 50,
    offset: int = 0,
    scope: str | None,
) -> list[CaseSummary]:
    """Cases sorted by SLA due time (none last), then by when they opened. ``search``
    matches the customer id or a document id of the case, exactly or as a prefix; ``scope``
    (a topic prefix) limits the cases to one deployment's, None: every case."""
    query = queue_query(
        statuses=statuses,
        category=category,
        severity=severity,
        assignee=assignee,
        search=search,
        limit=limit,
        offset=offset,
        scope=scope,
    )
    with engine.connect() as conn:
        return [summary(r) for r in conn.execute(query)]


def queue_query(
    *,
    statuses: Sequence[str] | None = None,
    category: str | None = None,
    severity: str | None = None,
    assignee: str | None = None,
    search: str | None = None,
    limit: int = 50,
    offset: int = 0,
    scope: str | None,
) -> Select[Any]:
    """The statement of ``queue``: its order is that of the tables' queue indexes."""
    c = cases.c
    query = select(cases)
    if statuses:
        query = query.where(c.status.in_(list(statuses)))
    if category:
        query = query.where(c.category == category)
    if severity:
        query = query.where(c.severity == severity)
    if assignee:
        query = query.where(c.assignee == assignee)
    query = query.where(*visible(scope))
    if search:
        query = query.where(c.case_id.in_(_searched(search, scope)))
    query = (
        query.order_by(c.sla_due_at.asc().nulls_last(), c.opened_at, c.case_id)
        .limit(limit)
        .offset(offset)
    )
    return query


def _searched(search: str, scope: str | None) -> CompoundSelect[str]:
    """The ids of the cases whose customer id, or a document id of theirs, is ``search`` or
    starts with it: a union of two index lookups (``cases_customer_prefix``,
    ``case_exceptions_document_prefix``), not a scan of the cases with an OR."""
    pattern = _prefix_pattern(search)
    c = cases.c
    by_customer = select(c.case_id).where(c.customer_id.like(pattern, escape="\\"))
    by_customer = by_customer.where(*visible(scope))
    by_document = select(case_exceptions.c.case_id).where(
        case_exceptions.c.document_id.like(pattern, escape="\\")
    )
    return union(by_customer, by_document)


def _prefix_pattern(search: str) -> str:
    escaped = search.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


def visible(scope: str | None) -> list[ColumnElement[bool]]:
    """The access check of every read of cases: the conditions a case meets to be shown to
    a reader of the deployment ``scope`` (its topic prefix; None: an operator's tool reading
    every deployment's)."""
    return [] if scope is None else [cases.c.scope == scope]


def one_case(case_id: str, scope: str | None) -> Select[Any]:
    """The statement reading one case through the access check."""
    return select(cases).where(cases.c.case_id == case_id, *visible(scope))


def find_case(engine: Engine, case_id: str, *, scope: str | None) -> CaseSummary | None:
    """The case, if the reader of ``scope`` may see it (``visible``), else None."""
    with engine.connect() as conn:
        row = conn.execute(one_case(case_id, scope)).first()
    return summary(row) if row is not None else None


def case_view(
    engine: Engine,
    codec_or_keyring: SchemaRegistry | Keyring,
    case_id: str,
    *,
    scope: str | None,
) -> CaseView | None:
    """The case with its exceptions (reason and details opened), the audit-trail rows of their
    evidence, its history (comments opened) and, for a transaction-monitoring case, the
    payments behind its alerts; None when there is no such case the reader of ``scope`` may
    see (``visible``)."""
    keyring = _keyring(codec_or_keyring)
    with engine.connect() as conn:
        row = conn.execute(one_case(case_id, scope)).first()
        if row is None:
            return None
        case = summary(row)
        exception_rows = list(
            conn.execute(
                select(case_exceptions)
                .where(case_exceptions.c.case_id == case_id)
                .order_by(case_exceptions.c.raised_at, case_exceptions.c.exception_event_id)
            )
        )
        history_rows = list(
            conn.execute(
                select(case_history)
                .where(case_history.c.case_id == case_id)
                .order_by(case_history.c.at, case_history.c.event_id)
            )
        )
        exceptions = [_exception(r, keyring, case.customer_id) for r in exception_rows]
        trail_rows = _trail_rows(conn, exceptions)
        keys = existing_keys(conn, {r.subject_id for r in trail_rows if r.subject_id})
    trail = [_trail_entry(r, keys.get(r.subject_id)) for r in trail_rows]
    history = [
        HistoryEntry(
            event_id=r.event_id,
            at=r.at,
            actor=r.actor,
            action=r.action,
            comment=_open(keyring, case.customer_id, r.comment) if r.comment is not None else None,
            detail=dict(r.detail or {}),
        )
        for r in history_rows
    ]
    transactions = [_transaction(t) for t in trail if t.event_type == "TransactionSubmitted"]
    transactions.sort(key=lambda t: t.booked_at)
    return CaseView(case, exceptions, trail, history, transactions)


def _keyring(codec_or_keyring: SchemaRegistry | Keyring) -> Keyring | None:
    if isinstance(codec_or_keyring, SchemaRegistry):
        return codec_or_keyring.keyring
    return codec_or_keyring


def _open(keyring: Keyring | None, subject: str, value: str) -> str:
    """A sealed value opened with the subject's key; ``[erased]`` when it no longer opens."""
    if not is_sealed(value):
        return value
    key = keyring.opening_key(subject) if keyring is not None else None
    if key is None:
        return ERASED
    try:
        return open_text(key, value)
    except PoisonMessage:
        return ERASED


def _exception(r: Row[Any], keyring: Keyring | None, customer: str) -> ExceptionView:
    """The exception with its reason and details opened with the customer's key: the
    decisions carry them sealed with it whatever the exception's subject (an account, for a
    transaction alert), as ``processors.cases.CaseGrouper`` seals them."""
    details = {
        k: (_open(keyring, customer, v) if isinstance(v, str) else v)
        for k, v in (r.details or {}).items()
    }
    return ExceptionView(
        event_id=r.exception_event_id,
        subject_id=r.subject_id,
        document_id=r.document_id,
        kind=r.kind,
        rule_id=r.rule_id,
        rule_version=r.rule_version,
        severity=r.severity,
        raised_at=r.raised_at,
        sla_due_at=r.sla_due_at,
        reason=_open(keyring, customer, r.reason),
        details=details,
        evidence=tuple(EvidenceRef(e["kind"], e["ref"]) for e in r.evidence or []),
    )


_DOCUMENT_EVENTS = ("DocumentArrived", "DocumentClassified")


def _trail_rows(conn: Any, exceptions: list[ExceptionView]) -> list[Row[Any]]:
    """The audit rows of the exceptions and their evidence: events by id, documents by their
    arrival and classification, transactions by their submission."""
    event_ids = {e.event_id for e in exceptions}
    documents: set[str] = set()
    transactions: set[str] = set()
    for e in exceptions:
        for ref in e.evidence:
            if ref.kind in ("event", "check_result"):
                event_ids.add(ref.ref)
            elif ref.kind == "document":
                documents.add(ref.ref)
            elif ref.kind == "transaction":
                transactions.add(ref.ref)
    c = audit_events.c
    wanted: list[ColumnElement[bool]] = [c.event_id.in_(sorted(_uuids(event_ids)))]
    if documents:
        wanted.append(
            and_(c.correlation_id.in_(sorted(documents)), c.event_type.in_(_DOCUMENT_EVENTS))
        )
    if transactions:
        wanted.append(
            and_(c.correlation_id.in_(sorted(transactions)), c.event_type == "TransactionSubmitted")
        )
    query = (
        select(c.event_id, c.event_type, c.occurred_at, c.topic, c.subject_id, c.payload)
        .where(or_(*wanted))
        .order_by(c.occurred_at, c.topic, c.partition, c.offset)
    )
    seen: set[str] = set()
    rows = []
    for r in conn.execute(query):
        if str(r.event_id) not in seen:  # an event recorded again in a conflict row
            seen.add(str(r.event_id))
            rows.append(r)
    return rows


def _uuids(ids: set[str]) -> set[str]:
    import uuid

    valid = set()
    for i in ids:
        try:
            valid.add(str(uuid.UUID(i)))
        except ValueError:
            continue
    return valid


def _trail_entry(r: Row[Any], key: bytes | None) -> TrailEntry:
    payload = reveal(str(r.event_id), r.payload, key)
    producer = (payload.get("envelope") or {}).get("producer") or {}
    explanation = payload.get("explanation") if r.event_type == "CheckResult" else None
    inputs = payload.get("inputs") if r.event_type == "CheckResult" else None
    return TrailEntry(
        event_id=str(r.event_id),
        event_type=r.event_type,
        occurred_at=r.occurred_at,
        stage=str(producer.get("name", "?")),
        topic=r.topic,
        payload=payload,
        explanation=explanation if isinstance(explanation, str) else None,
        inputs=inputs if isinstance(inputs, dict) else None,
    )


def _transaction(t: TrailEntry) -> TransactionView:
    p = t.payload
    return TransactionView(
        event_id=t.event_id,
        transaction_id=str(p.get("transaction_id")),
        booked_at=str(p.get("booked_at")),
        amount=str(p.get("amount")),
        currency=str(p.get("currency")),
        direction=str(p.get("direction")),
        account_id=str(p.get("account_id")),
        counterparty=p.get("counterparty_name"),
        counterparty_account=p.get("counterparty_account"),
        counterparty_country=p.get("counterparty_country"),
    )
