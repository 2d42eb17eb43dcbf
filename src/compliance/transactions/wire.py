"""Reading a payment off ``transactions.submitted``, once per record and fast.

The screener reads every payment exactly as ``compliance.codec`` would (the same header,
fingerprint, trailing-bytes and bounds checks, the same record, its sealed personal fields
opened with the account's key), with one shortcut for the common case, a record written with
the current ``TransactionSubmitted`` schema: fastavro reads the body with the writer's schema
alone (no schema resolution), its two timestamps as integers, which are turned into the same
UTC datetimes here at a fraction of the cost, and the (few, top-level) personal fields are
opened directly, with the subject's key looked up once and values the key opened lately
remembered with it. Anything else (an earlier schema version, a record that is not ours)
takes the codec's own path.

``payment`` also says whether the payment's data subject (its account), or the account's
owner, was erased (``compliance.erased_subjects``: such a payment is refused, not screened),
and gives the transaction with its counterparty as a pseudonym under the account's key
(``compliance.sealing.pseudonym``): the screener's state never keeps who the other side is.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from fastavro import schemaless_reader
from fastavro.schema import parse_schema

from compliance.bounds import MAX_ID_BYTES, MAX_NAME_BYTES, check_bounds
from compliance.codec import HEADER_LEN, MAGIC, Record, SchemaRegistry
from compliance.errors import PoisonMessage
from compliance.sealing import (
    PREFIX,
    SubjectKey,
    open_text_cached,
    personal_field_names,
    pseudonym,
)
from compliance.transactions.model import Transaction, read_transaction

EVENT_TYPE = "TransactionSubmitted"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SHORT = min(MAX_ID_BYTES, MAX_NAME_BYTES) // 4


def _without_logical_types(schema: Any) -> Any:
    """The schema as the wire sees it: logical types read as their underlying type."""
    if isinstance(schema, dict):
        return {
            k: _without_logical_types(v)
            for k, v in schema.items()
            if k != "logicalType" and not k.startswith("__")
        }
    if isinstance(schema, list):
        return [_without_logical_types(v) for v in schema]
    return schema


class Payment(NamedTuple):
    record: Record  # as decoded; an erased subject's personal values left sealed
    tx: Transaction
    erased: bool  # the account or its owner was erased: refuse it, read nothing of it
    # The account's keyed pseudonyms (None without keys): what its state keeps of a
    # counterparty, for entries remembered before counterparties were pseudonymised.
    pseudonym: Callable[[str], str] | None = None


class TransactionReader:
    """``reader(data)``: the ``TransactionSubmitted`` record in ``data``, its personal values
    opened when the codec has a keyring (left sealed for an erased subject);
    ``PoisonMessage`` saying why it cannot be read. ``reader.payment(data)``: the same with
    the transaction and whether its subject was erased."""

    def __init__(self, codec: SchemaRegistry) -> None:
        schema = codec.by_type[EVENT_TYPE]
        self._codec = codec
        self._keyring = codec.keyring
        self._header = MAGIC + schema.fingerprint
        self._schema = parse_schema(_without_logical_types(schema.parsed))
        self._ids = tuple(f["name"] for f in schema.parsed["fields"] if f["name"].endswith("_id"))
        personal = personal_field_names(schema.parsed)
        if any("." in name for name in personal):  # only top-level fields are opened here
            raise ValueError(f"{EVENT_TYPE}: personal fields inside records: {personal}")
        self._personal = tuple(sorted(personal))

    def _check_bounds(self, record: Record) -> None:
        """``check_bounds``, called only when a value could be past a bound: one holding a
        NUL, or longer than a quarter of the smallest bound (a UTF-8 character is at most 4
        bytes, so a shorter one is within every bound)."""
        envelope = record["envelope"]
        producer = envelope["producer"]
        values = [
            envelope["event_id"],
            envelope["event_type"],
            envelope["correlation_id"],
            envelope["causation_id"],
            envelope["subject_id"],
            envelope["ruleset_version"],
            envelope["model"],
            producer["name"],
            producer["version"],
        ]
        values += [record[name] for name in self._ids]
        for value in values:
            if value is not None and (len(value) > _SHORT or "\x00" in value):
                check_bounds(EVENT_TYPE, record)
                return

    def __call__(self, data: bytes | None) -> Record:
        return self._read(data)[0]

    def payment(self, data: bytes | None) -> Payment:
        record, key = self._read(data)
        if self._keyring is None:
            return Payment(record, read_transaction(record), erased=False)
        owner = record["account_owner"]
        if key is None or (owner is not None and self._keyring.is_erased(owner)):
            return Payment(record, read_transaction(record), erased=True)

        def of(value: str) -> str:
            return pseudonym(key, value)

        return Payment(record, read_transaction(record, of), False, of)

    def _read(self, data: bytes | None) -> tuple[Record, SubjectKey | None]:
        """The record, its personal values opened, and the subject's key (None without a
        keyring, or for an erased subject)."""
        if not data or data[:HEADER_LEN] != self._header:
            event_type, slow = self._codec.decode(data)  # opens what it can
            if event_type != EVENT_TYPE:
                raise PoisonMessage(f"{event_type} does not belong on transactions.submitted")
            _require_account_subject(slow)
            keyring = self._keyring
            return slow, (
                None if keyring is None else keyring.sealing_key(slow["envelope"]["subject_id"])
            )
        record = self._fast_read(data)
        _require_account_subject(record)
        keyring = self._keyring
        if keyring is None:
            return record, None
        # The subject's key, created for a new subject as the screener's outputs need it;
        # None: the subject was erased, and its values stay sealed.
        key = keyring.sealing_key(record["envelope"]["subject_id"])
        if key is not None:
            for name in self._personal:
                value = record[name]
                if value is not None and value.startswith(PREFIX):
                    record[name] = open_text_cached(key, value)
        return record, key

    def _fast_read(self, data: bytes) -> Record:
        buffer = io.BytesIO(data)
        buffer.seek(HEADER_LEN)
        try:
            decoded = schemaless_reader(buffer, self._schema, None)
        except Exception as exc:  # fastavro raises several types on corrupt bodies
            raise PoisonMessage(f"corrupt {EVENT_TYPE} body: {exc}") from exc
        if buffer.tell() != len(data):
            raise PoisonMessage(f"{len(data) - buffer.tell()} trailing bytes after the body")
        if not isinstance(decoded, dict):
            raise PoisonMessage(f"{EVENT_TYPE} body is not a record")
        record: Record = decoded
        self._check_bounds(record)
        envelope = record["envelope"]
        envelope["occurred_at"] = _EPOCH + timedelta(milliseconds=envelope["occurred_at"])
        record["booked_at"] = _EPOCH + timedelta(milliseconds=record["booked_at"])
        return record


def _require_account_subject(record: Record) -> None:
    """A payment's data subject is its account: its values are sealed, its erasure decided
    and its window state kept under that one id. A record naming another subject would be
    opened, judged erased or not, and remembered under different ids: a content error."""
    if record["envelope"]["subject_id"] != record["account_id"]:
        raise PoisonMessage("a payment's envelope subject_id must be its account_id")
