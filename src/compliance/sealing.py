"""Personal values sealed on Kafka with their subject's key (crypto-shredding in flight).

A field marked ``"personal": true`` in an event schema (``schemas/*.avsc``) holds personal
data. Avro allows extra attributes, and the writer-schema fingerprint is taken over the
parsing canonical form, which leaves them out: marking a field changes no fingerprint and no
compatibility. The codec, given a ``Keyring``, seals every string and bytes value under a
marked field when it encodes an event (in maps and arrays too) and opens them when it decodes
one; the codec without a keyring writes what it is given and leaves sealed values sealed.

A sealed value keeps its Avro type, so schemas keep their types:

- a string becomes ``"sealed:v1:" + base64(key id | nonce | ciphertext)``;
- bytes become ``b"sealed:v1:" + key id | nonce | ciphertext``;

AES-256-GCM under the subject's key, the subject's id as associated data (a value cannot be
opened as another subject's), a 96-bit nonce derived from the value with a key of its own
(the same value of the same subject seals to the same bytes, so a replay re-produces an event
exactly); the key id is 4 bytes of a hash of the key.

The keys are the audit trail's own (``audit_subject_keys``), so ``compliance gdpr erase``
destroys both at once: afterwards no copy of a sealed value, in a topic, a dead letter or a
backup, can be opened.

For a subject already erased, the codec writes ``[erased]`` in place of every personal value:
nothing personal of the subject is produced again.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from compliance.errors import PoisonMessage

PREFIX = "sealed:v1:"
PREFIX_BYTES = PREFIX.encode("ascii")
_PREFIX_LEN = len(PREFIX)
ERASED = "[erased]"
ERASED_BYTES = ERASED.encode("ascii")
KEY_ID_BYTES = 4
NONCE_BYTES = 12
PERSONAL = "personal"
MEMO_ENTRIES = 64  # per subject key


@dataclass(frozen=True)
class SubjectKey:
    """A subject's key, ready to seal and open: the cipher, its id, the associated data."""

    subject: str
    key_id: bytes
    cipher: AESGCM
    aad: bytes
    nonce_key: bytes
    # Texts sealed lately: sealing is deterministic, and a document's values come back in
    # several events (a name in the classification, then in the inputs of several checks).
    # Lives as long as this object, which a keyring keeps only for its cache lifetime.
    sealed: dict[str, str] = field(default_factory=dict, compare=False, repr=False)
    # Values opened lately, by their sealed text (a payment's counterparty comes back with
    # each of the account's payments); the same lifetime, so nothing outlives the key.
    opened: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def of(cls, subject: str, key: bytes) -> SubjectKey:
        key_id = hashlib.sha256(b"compliance key id\x1f" + key).digest()[:KEY_ID_BYTES]
        aad = b"compliance seal\x1f" + subject.encode()
        nonce_key = hmac.digest(key, b"compliance nonce\x1f" + aad, "sha256")
        return cls(subject, key_id, AESGCM(key), aad, nonce_key)


class Keyring(Protocol):
    """Where the codec gets subjects' keys. ``sealing_key`` may create a key for a new subject;
    ``opening_key`` never does. Both return None for an erased subject."""

    def sealing_key(self, subject: str) -> SubjectKey | None: ...

    def opening_key(self, subject: str) -> SubjectKey | None: ...

    def is_erased(self, subject: str) -> bool: ...

    def prefetch(self, subjects: Iterable[str]) -> None: ...


class SubjectErased(PoisonMessage):
    """A record of a subject whose key is destroyed: its personal values cannot be opened."""

    def __init__(self, subject: str) -> None:
        super().__init__(f"subject {subject} was erased: its personal data cannot be read")
        self.subject = subject


def _nonce(key: SubjectKey, plain: bytes) -> bytes:
    """A synthetic nonce: a keyed hash of the value (BLAKE2b, a MAC, under a key of its own).
    Sealing is deterministic, so an event re-produced on a replay is byte for byte what it
    was (the audit trail compares them); all it shows is that two values of one subject are
    equal. Distinct values get distinct nonces but with the odds of a 96-bit collision."""
    return hashlib.blake2b(plain, key=key.nonce_key, digest_size=NONCE_BYTES).digest()


def seal_bytes(key: SubjectKey, plain: bytes) -> bytes:
    nonce = _nonce(key, plain)
    return PREFIX_BYTES + key.key_id + nonce + key.cipher.encrypt(nonce, plain, key.aad)


def seal_text(key: SubjectKey, plain: str) -> str:
    known = key.sealed.get(plain)
    if known is not None:
        return known
    data = plain.encode("utf-8")
    nonce = _nonce(key, data)
    sealed = PREFIX + base64.b64encode(
        key.key_id + nonce + key.cipher.encrypt(nonce, data, key.aad)
    ).decode("ascii")
    if len(key.sealed) < MEMO_ENTRIES:
        key.sealed[plain] = sealed
    return sealed


def open_text_cached(key: SubjectKey, sealed: str) -> str:
    """``open_text`` (the same checks, one step: for a reader opening a few values of every
    record), remembering the last ``MEMO_ENTRIES`` values opened with ``key``."""
    known = key.opened.get(sealed)
    if known is not None:
        return known
    try:
        body = binascii.a2b_base64(sealed[_PREFIX_LEN:], strict_mode=True)
    except (binascii.Error, ValueError):
        raise PoisonMessage(f"a sealed personal value of {key.subject} is garbled") from None
    if body[:KEY_ID_BYTES] != key.key_id:
        raise PoisonMessage(f"a personal value of {key.subject} was sealed with another key")
    try:
        known = key.cipher.decrypt(
            body[KEY_ID_BYTES : KEY_ID_BYTES + NONCE_BYTES],
            body[KEY_ID_BYTES + NONCE_BYTES :],
            key.aad,
        ).decode("utf-8")
    except InvalidTag:
        raise PoisonMessage(
            f"a sealed personal value of subject {key.subject} does not open (altered)"
        ) from None
    except UnicodeDecodeError:
        raise PoisonMessage(f"a sealed personal value of {key.subject} is garbled") from None
    if len(key.opened) >= MEMO_ENTRIES:
        key.opened.clear()
    key.opened[sealed] = known
    return known


PSEUDONYM_PREFIX = "p1:"


def pseudonym(key: SubjectKey, plain: str) -> str:
    """A keyed digest of ``plain`` under the subject's key, for state that must compare
    values without keeping them (e.g. counting an account's distinct counterparties): one
    subject's equal values give equal pseudonyms; once the key is destroyed, nothing links a
    pseudonym to its value, not even a guess of the value. 128 bits, ``p1:`` + base64."""
    digest = hashlib.blake2b(
        plain.encode("utf-8"), key=key.nonce_key, digest_size=16, person=b"pseudonym"
    ).digest()
    return PSEUDONYM_PREFIX + base64.b64encode(digest).decode("ascii").rstrip("=")


def is_sealed(value: object) -> bool:
    if isinstance(value, str):
        return value.startswith(PREFIX)
    if isinstance(value, bytes):
        return value.startswith(PREFIX_BYTES)
    return False


def open_bytes(key: SubjectKey, sealed: bytes) -> bytes:
    """The plain bytes of a sealed value; PoisonMessage when it is not this key's."""
    body = sealed[len(PREFIX_BYTES) :]
    if body[:KEY_ID_BYTES] != key.key_id:
        raise PoisonMessage(f"a personal value of {key.subject} was sealed with another key")
    nonce = body[KEY_ID_BYTES : KEY_ID_BYTES + NONCE_BYTES]
    try:
        return key.cipher.decrypt(nonce, body[KEY_ID_BYTES + NONCE_BYTES :], key.aad)
    except InvalidTag:
        raise PoisonMessage(
            f"a sealed personal value of subject {key.subject} does not open (altered)"
        ) from None


def open_text(key: SubjectKey, sealed: str) -> str:
    try:
        body = base64.b64decode(sealed[len(PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise PoisonMessage(f"a sealed personal value of {key.subject} is garbled") from None
    try:
        return open_bytes(key, PREFIX_BYTES + body).decode("utf-8")
    except UnicodeDecodeError:
        raise PoisonMessage(f"a sealed personal value of {key.subject} is garbled") from None


# --- applying it to records --------------------------------------------------------------

# What to do with one personal leaf value (a string or bytes): seal it, open it, erase it.
Leaf = Callable[[Any], Any]
# A record (or part of one) with its personal leaves transformed; a new value, the input is
# left as it was.
Transform = Callable[[Any, Leaf], Any]


def _personal(value: Any, leaf: Leaf) -> Any:
    """Every string and bytes value in ``value`` (a marked field's value) through ``leaf``."""
    if isinstance(value, str | bytes):
        return leaf(value)
    if isinstance(value, dict):
        return {k: _personal(v, leaf) for k, v in value.items()}
    if isinstance(value, list):
        return [_personal(v, leaf) for v in value]
    return value  # null, numbers, booleans: not sealed


def _record_plan(schema: Any, named: dict[str, Any], seen: frozenset[str]) -> Transform | None:
    """A transform for the personal fields inside ``schema`` (a parsed Avro schema), or None
    when it has none."""
    if isinstance(schema, str):
        definition = named.get(schema)
        if definition is None or schema in seen:
            return None  # a primitive, or a recursive reference already being planned
        return _record_plan(definition, named, seen | {schema})
    if isinstance(schema, list):
        branches = [p for p in (_record_plan(b, named, seen) for b in schema) if p is not None]
        if not branches:
            return None
        branch = branches[0]  # our unions hold at most one record-like branch
        return lambda value, leaf: branch(value, leaf) if value is not None else None
    if not isinstance(schema, dict):
        return None
    kind = schema.get("type")
    if kind == "record":
        fields: list[tuple[str, Transform]] = []
        for field in schema["fields"]:
            if field.get(PERSONAL):
                fields.append((field["name"], _personal))
                continue
            inner = _record_plan(field["type"], named, seen)
            if inner is not None:
                fields.append((field["name"], inner))
        if not fields:
            return None

        def record(value: Any, leaf: Leaf) -> Any:
            if not isinstance(value, dict):
                return value
            out = dict(value)
            for name, transform in fields:
                if name in out and out[name] is not None:
                    out[name] = transform(out[name], leaf)
            return out

        return record
    if kind == "array":
        items = _record_plan(schema["items"], named, seen)
        if items is None:
            return None
        return lambda value, leaf: [items(v, leaf) for v in value]
    if kind == "map":
        values = _record_plan(schema["values"], named, seen)
        if values is None:
            return None
        return lambda value, leaf: {k: values(v, leaf) for k, v in value.items()}
    if isinstance(kind, dict | list):
        return _record_plan(kind, named, seen)
    return None


def personal_plan(parsed: Any) -> Transform | None:
    """The transform of an event schema's personal fields (None when it marks none)."""
    named = parsed.get("__named_schemas", {}) if isinstance(parsed, dict) else {}
    return _record_plan(parsed, named, frozenset())


def personal_field_names(parsed: Any) -> set[str]:
    """Dotted paths of the fields marked personal in a parsed schema (for tests and docs)."""
    found: set[str] = set()

    def walk(schema: Any, path: str, seen: frozenset[str]) -> None:
        named = parsed.get("__named_schemas", {})
        if isinstance(schema, str) and schema in named and schema not in seen:
            walk(named[schema], path, seen | {schema})
        elif isinstance(schema, list):
            for branch in schema:
                walk(branch, path, seen)
        elif isinstance(schema, dict):
            kind = schema.get("type")
            if kind == "record":
                for field in schema["fields"]:
                    name = f"{path}.{field['name']}" if path else field["name"]
                    if field.get(PERSONAL):
                        found.add(name)
                    else:
                        walk(field["type"], name, seen)
            elif kind == "array":
                walk(schema["items"], path, seen)
            elif kind == "map":
                walk(schema["values"], path, seen)
            elif isinstance(kind, dict | list):
                walk(kind, path, seen)

    walk(parsed, "", frozenset())
    return found


def sealer(key: SubjectKey | None) -> Leaf:
    """Seals a leaf with ``key``; for an erased subject (None) writes ``[erased]`` instead.
    A value sealed already (an event passed on as it came) is left as it is."""
    if key is None:
        return lambda v: ERASED if isinstance(v, str) else ERASED_BYTES

    def seal(value: Any) -> Any:
        if isinstance(value, str):
            return value if value.startswith(PREFIX) else seal_text(key, value)
        return value if value.startswith(PREFIX_BYTES) else seal_bytes(key, value)

    return seal


def opener(subject: str, keyring: Keyring) -> Leaf:
    """Opens sealed leaves with the subject's key, looked up at the first sealed one; plain
    values (from a producer that does not seal) pass as they are. The key is gone: the leaf
    stays sealed when the subject was erased (``SubjectErased`` is for the stage to decide),
    otherwise the record is poison."""
    key: list[SubjectKey | None] = []

    def open_leaf(value: Any) -> Any:
        if not is_sealed(value):
            return value
        if not key:
            key.append(keyring.opening_key(subject))
        found = key[0]
        if found is None:
            if keyring.is_erased(subject):
                raise SubjectErased(subject)
            raise PoisonMessage(f"subject {subject} has no key: a sealed value cannot be opened")
        return open_text(found, value) if isinstance(value, str) else open_bytes(found, value)

    return open_leaf
