"""Crypto-shredding: personal data in audit payloads is sealed with its subject's key.

The fields listed in ``PERSONAL_FIELDS`` are replaced, before a row is written and hashed,
by ``{"$aes256gcm": base64(nonce || ciphertext)}``: AES-256-GCM under the subject's key, with
the event id and field name as associated data (a sealed value cannot be moved to another row
or field). Keys live in ``audit_subject_keys``, apart from the rows; erasing a subject destroys
its key, so its rows stay (and their hashes still verify) but can no longer be read.
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from compliance.audit.jsontext import dumps

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
    "DeadLetter": ("source_key", "original_value"),
}


class _Nonces:
    """Random 96-bit GCM nonces, read from the OS in blocks (one read per 512 nonces)."""

    def __init__(self) -> None:
        self._block = b""
        self._at = 0

    def __call__(self) -> bytes:
        if self._at >= len(self._block):
            self._block, self._at = os.urandom(NONCE_BYTES * 512), 0
        nonce = self._block[self._at : self._at + NONCE_BYTES]
        self._at += NONCE_BYTES
        return nonce


_nonce = _Nonces()


def new_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def _aad(event_id: str, field: str) -> bytes:
    return f"{event_id}\x1f{field}".encode()


def seal(event_type: str, event_id: str, payload: dict[str, Any], cipher: AESGCM | None) -> None:
    """Seal the personal fields of ``payload`` in place with the subject's ``cipher``. None
    means the subject was erased before this event arrived: its personal fields are not
    recorded at all."""
    for field in PERSONAL_FIELDS.get(event_type, ()):
        value = payload.get(field)
        if value is None:
            continue
        if cipher is None:
            payload[field] = ERASED
            continue
        plain = dumps(value)
        nonce = _nonce()
        sealed = nonce + cipher.encrypt(nonce, plain, _aad(event_id, field))
        payload[field] = {SEALED: base64.b64encode(sealed).decode("ascii")}


def is_sealed(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and SEALED in value


def reveal(event_id: str, payload: dict[str, Any], key: bytes | None) -> dict[str, Any]:
    """A copy of ``payload`` with sealed fields opened, or ``ERASED`` where the key is gone."""
    opened = dict(payload)
    for field, value in payload.items():
        if not is_sealed(value):
            continue
        opened[field] = _open(event_id, field, value[SEALED], key)
    return opened


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
