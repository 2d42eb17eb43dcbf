"""Crypto-shredding: personal data in audit payloads is sealed with its subject's key.

The fields listed in ``PERSONAL_FIELDS`` are replaced, before a row is written and hashed,
by ``{"$aes256gcm": base64(nonce || ciphertext)}``: AES-256-GCM under the subject's key, with
the event id and field name as associated data (a sealed value cannot be moved to another row
or field). Keys live in ``audit_subject_keys``, apart from the rows; erasing a subject destroys
its key, so its rows stay (and their hashes still verify) but can no longer be read.

Events arrive from Kafka with their personal values sealed already by their producer, with the
same key (``compliance.sealing``); the sink records them as they came, so ``reveal`` opens
those too, anywhere in the payload, and shows ``[erased]`` for what no longer opens.
"""

from __future__ import annotations

import base64
import json
import os
from binascii import b2a_base64
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from compliance.audit.jsontext import dumps
from compliance.errors import PoisonMessage
from compliance.sealing import PREFIX, PREFIX_BYTES, SubjectKey, open_bytes, open_text

SEALED = "$aes256gcm"
ERASED = "[erased]"
NONCE_BYTES = 12

# Event type -> top-level payload fields that may hold personal data. Identifiers the trail is
# searched by (document, customer, subject ids) and the decision itself (rule, outcome,
# severity, versions) stay readable: they are what the regulator audits.
PERSONAL_FIELDS: dict[str, tuple[str, ...]] = {
    "DocumentArrived": ("uri", "filename", "inline_content", "metadata"),
    "DocumentClassified": ("fields",),
    "CheckResult": ("inputs", "explanation"),
    "ComplianceException": ("reason", "details"),
    # The error may quote the record it could not read.
    "DeadLetter": ("source_key", "original_value", "error"),
    # An officer's free text about the customer.
    "SanctionsClearance": ("reason",),
    # Who the other side of a payment is, and its free text (the account and its owner are
    # identifiers, as above).
    "TransactionSubmitted": ("counterparty_name", "counterparty_account", "reference"),
}


# Random 96-bit GCM nonces, read from the OS in blocks of 512 and handed out from the end of a
# list: a pop is one C call, atomic between threads, so no nonce is handed out twice (one per
# sealed field, tens of thousands a second).
_NONCES: list[bytes] = []
_NONCE_BLOCK = 512


def _fresh_nonce() -> bytes:
    """A nonce once the pool has run dry: the pool refilled from the OS."""
    block = os.urandom(NONCE_BYTES * (_NONCE_BLOCK + 1))
    _NONCES.extend(block[i : i + NONCE_BYTES] for i in range(NONCE_BYTES, len(block), NONCE_BYTES))
    return block[:NONCE_BYTES]


_FIELD_BYTES = {f: f.encode() for fields in PERSONAL_FIELDS.values() for f in fields}


def new_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def _aad(event_id: str, field: str) -> bytes:
    return f"{event_id}\x1f{field}".encode()


def seal(event_type: str, event_id: str, payload: dict[str, Any], cipher: AESGCM | None) -> None:
    """Seal the personal fields of ``payload`` in place with the subject's ``cipher``. None
    means the subject was erased before this event arrived: its personal fields are not
    recorded at all. (The sink seals every event it records: the associated data is built
    once per event and base64 made without the line the codec module would add and strip.)"""
    fields = PERSONAL_FIELDS.get(event_type)
    if not fields:
        return
    prefix = _aad(event_id, "")
    for field in fields:
        value = payload.get(field)
        if value is None:
            continue
        if cipher is None:
            payload[field] = ERASED
            continue
        try:
            nonce = _NONCES.pop()
        except IndexError:
            nonce = _fresh_nonce()
        sealed = cipher.encrypt(nonce, dumps(value), prefix + _FIELD_BYTES[field])
        payload[field] = {SEALED: b2a_base64(nonce + sealed, newline=False).decode("ascii")}


def is_sealed(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and SEALED in value


def reveal(event_id: str, payload: dict[str, Any], key: bytes | None) -> dict[str, Any]:
    """A copy of ``payload`` with sealed fields opened, or ``ERASED`` where the key is gone;
    values sealed on Kafka by their producer (``compliance.sealing``) are opened too."""
    opened = dict(payload)
    for field, value in payload.items():
        if is_sealed(value):
            opened[field] = _open(event_id, field, value[SEALED], key)
    envelope = payload.get("envelope")
    subject = envelope.get("subject_id") if isinstance(envelope, dict) else None
    subject_key = SubjectKey.of(subject, key) if subject and key is not None else None
    return {field: _open_in_flight(value, subject_key) for field, value in opened.items()}


def _open_in_flight(value: Any, key: SubjectKey | None) -> Any:
    """``value`` (a JSON payload's part) with values its producer sealed opened with ``key``;
    ``ERASED`` for those that do not open (no key: the subject was erased)."""
    if isinstance(value, str):
        if not value.startswith(PREFIX):
            return value
        try:
            return ERASED if key is None else open_text(key, value)
        except PoisonMessage:
            return ERASED
    if isinstance(value, dict):
        data = value.get("$base64") if len(value) == 1 else None
        if isinstance(data, str):
            raw = base64.b64decode(data)
            if not raw.startswith(PREFIX_BYTES):
                return value
            try:
                plain = ERASED.encode() if key is None else open_bytes(key, raw)
            except PoisonMessage:
                plain = ERASED.encode()
            return {"$base64": base64.b64encode(plain).decode("ascii")}
        return {k: _open_in_flight(v, key) for k, v in value.items()}
    if isinstance(value, list):
        return [_open_in_flight(v, key) for v in value]
    return value


def _open(event_id: str, field: str, sealed_b64: str, key: bytes | None) -> Any:
    if key is None:
        return ERASED
    sealed = base64.b64decode(sealed_b64)
    try:
        plain = AESGCM(key).decrypt(
            sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], _aad(event_id, field)
        )
    except InvalidTag:
        return ERASED  # not this subject's key (e.g. erased and re-created): unreadable
    return json.loads(plain)
