"""What one route shows of one exception: the notice, built when the exception is read.

The notice is what the outbox keeps until the notification is delivered, so it holds nothing
the route does not show, every masked value already masked, and its personal values (the
reason, the rule's inputs) sealed with the subject's key (``compliance.sealing``): a subject
erased before delivery is shown as ``[erased]``. Once delivered, the outbox drops the notice.

A notice is plain JSON: ``{"title", "fields": [{"name", "label", "value", "sealed"}],
"link", "exception_event_id", "raised_at", "subject_id"}``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

from compliance.codec import Record
from compliance.errors import PoisonMessage
from compliance.exception_routing import current_policy
from compliance.notify.masking import mask_text, mask_value
from compliance.notify.routes import DETAILS_PREFIX, RouteConfig, is_personal
from compliance.sealing import ERASED, Keyring, SubjectErased, is_sealed, opener, seal_text

Notice = dict[str, Any]
LABELS = {
    "category": "Category",
    "severity": "Severity",
    "kind": "Kind",
    "rule_id": "Rule",
    "customer_id": "Customer",
    "document_id": "Document",
    "raised_at": "Raised",
    "sla_due_at": "Due by",
    "reason": "Reason",
}
CATEGORY_NAMES = {
    "kyc": "KYC",
    "sanctions": "Sanctions",
    "transaction_monitoring": "Transaction monitoring",
    "gdpr": "GDPR",
    "document_quality": "Document quality",
}


def category_of(record: Record) -> str:
    """The exception's category; events written before routing existed are routed now."""
    category = record.get("category")
    if isinstance(category, str) and category:
        return category
    return current_policy().category(record["kind"], record.get("rule_id"))


class Personal:
    """The exception's personal values, opened once and only when a route shows one."""

    def __init__(self, record: Record, keyring: Keyring) -> None:
        self.record = record
        self.keyring = keyring
        self.subject: str = record["envelope"]["subject_id"]
        self._opened: tuple[str, dict[str, str | None]] | None = None
        self.erased = False

    def opened(self) -> tuple[str, dict[str, str | None]]:
        if self._opened is None:
            leaf = opener(self.subject, self.keyring)
            try:
                reason = leaf(self.record["reason"])
                details = {k: (None if v is None else leaf(v)) for k, v in self.details()}
            except SubjectErased:
                self.erased = True
                reason, details = ERASED, {k: ERASED for k, _ in self.details()}
            self._opened = (str(reason), details)
        return self._opened

    def details(self) -> list[tuple[str, str | None]]:
        details = self.record.get("details") or {}
        return list(details.items())

    def seal(self, value: str) -> str:
        if self.erased:
            return ERASED
        key = self.keyring.sealing_key(self.subject)
        return ERASED if key is None else seal_text(key, value)


def build_notice(
    record: Record,
    route: RouteConfig,
    keyring: Keyring,
    review_base_url: str | None,
    personal: Personal | None = None,
) -> Notice:
    """The notice of exception ``record`` on ``route``; ``personal``: the exception's personal
    values, when another route of the same exception has opened them already."""
    personal = personal or Personal(record, keyring)
    fields = []
    for name in route.show:
        value = _value(record, name, route, personal)
        if value is None:
            continue
        sealed = is_personal(name) and value != ERASED
        fields.append(
            {
                "name": name,
                "label": _label(name),
                "value": personal.seal(value) if sealed else value,
                "sealed": sealed,
            }
        )
    return {
        "exception_event_id": record["envelope"]["event_id"],
        "subject_id": personal.subject,
        "title": _title(record),
        "fields": fields,
        "raised_at": _iso(record["envelope"]["occurred_at"]),
        "link": _link(record, route, review_base_url),
    }


def open_notice(notice: Notice, keyring: Keyring) -> Notice:
    """The notice with its sealed values opened, ``[erased]`` where the subject was erased
    since (or a value does not open: then it is not shown at all)."""
    leaf = opener(notice["subject_id"], keyring)
    fields = []
    for field in notice["fields"]:
        value = field["value"]
        if field["sealed"] and is_sealed(value):
            try:
                value = leaf(value)
            except SubjectErased:
                value = ERASED
            except PoisonMessage:
                value = "[cannot be opened]"
        fields.append({**field, "value": value, "sealed": False})
    return {**notice, "fields": fields}


def _value(record: Record, name: str, route: RouteConfig, personal: Personal) -> str | None:
    keep = route.mask_keep_last
    if name == "reason":
        reason, details = personal.opened()
        if reason == ERASED or not route.masks(name):
            return reason
        return mask_text(reason, keep, (v for v in details.values() if v))
    if name.startswith(DETAILS_PREFIX):
        _, details = personal.opened()
        found = details.get(name[len(DETAILS_PREFIX) :])
        if found is None or found == ERASED or not route.masks(name):
            return found
        return mask_value(found, keep)
    value = category_of(record) if name == "category" else _plain(record, name)
    if value is None:
        return None
    return mask_value(value, keep) if route.masks(name) else value


def _plain(record: Record, name: str) -> str | None:
    if name == "raised_at":
        return _iso(record["envelope"]["occurred_at"])
    value = record.get(name)
    if isinstance(value, datetime):
        return _iso(value)
    return None if value is None else str(value)


def _label(name: str) -> str:
    if name.startswith(DETAILS_PREFIX):
        return name[len(DETAILS_PREFIX) :].replace("_", " ").capitalize()
    return LABELS[name]


def _title(record: Record) -> str:
    category = CATEGORY_NAMES.get(category_of(record), category_of(record))
    what = record.get("rule_id") or record["kind"]
    return f"{record['severity'].capitalize()} {category} exception: {what}"


def _link(record: Record, route: RouteConfig, base: str | None) -> str | None:
    """The review application's queue, searched for the customer when the route shows the
    customer id (a link never carries more than the message shows)."""
    if not base:
        return None
    base = base.rstrip("/")
    customer = record.get("customer_id")
    if customer and "customer_id" in route.show:
        return f"{base}/?q={quote(customer, safe='')}"
    return f"{base}/"


def _iso(at: datetime) -> str:
    return at.isoformat(timespec="seconds")
