"""Dead letters must always fit in a Kafka message, say what they cut, and decode within the
identifier bounds themselves (an over-long key is replaced by its SHA-256, never cut)."""

from __future__ import annotations

import hashlib
from typing import Any

from compliance.bounds import MAX_ID_BYTES
from compliance.codec import registry
from compliance.dead_letters import DEAD_LETTER_MAX_VALUE_BYTES, dead_letter


class FakeRecord:
    """The coordinates and bytes of a consumed record (a plain value object, no broker)."""

    def __init__(self, value: bytes | None, key: bytes | None = b"C-1") -> None:
        self._value, self._key = value, key

    def topic(self) -> str:
        return "documents.arrived"

    def partition(self) -> int:
        return 2

    def offset(self) -> int:
        return 41

    def key(self) -> bytes | None:
        return self._key

    def value(self) -> bytes | None:
        return self._value


def _dead(value: bytes | None, key: bytes | None = b"C-1") -> dict[str, Any]:
    msg: Any = FakeRecord(value, key)
    return dead_letter(msg, ValueError("not avro"), "classifier")


def test_a_small_poison_record_is_kept_whole() -> None:
    record = _dead(b"\x00garbage")
    assert record["original_value"] == b"\x00garbage"
    assert record["error"] == "not avro"


def test_a_near_megabyte_poison_record_is_cut_and_the_cut_is_stated() -> None:
    value = bytes(range(256)) * 3900  # 998,400 bytes: fits Kafka, its dead letter would not
    record = _dead(value, key=b"k" * 10_000)
    assert record["original_value"] == value[:DEAD_LETTER_MAX_VALUE_BYTES]
    assert hashlib.sha256(value).hexdigest() in record["error"]
    assert f"of {len(value)} bytes" in record["error"]
    encoded = registry().encode("DeadLetter", record)
    assert len(encoded) < 1_000_000 - 10_000


def test_an_over_long_key_is_replaced_by_its_sha256_and_the_reason_says_so() -> None:
    key = b"k" * 10_000  # longer than the old 4 kB cut, and than any index entry
    record = _dead(b"\x00garbage", key=key)
    digest = "sha256:" + hashlib.sha256(key).hexdigest()
    assert record["source_key"] == digest.encode("ascii")
    assert record["envelope"]["subject_id"] == digest
    assert f"key of 10000 bytes replaced by its {digest}" in record["error"]
    # the dead letter itself decodes within the bounds, so the audit sink can record it
    _, decoded = registry().decode(registry().encode("DeadLetter", record))
    assert decoded["envelope"]["subject_id"] == digest


def test_a_key_at_the_bound_is_kept_as_it_is() -> None:
    key = b"C" * MAX_ID_BYTES
    record = _dead(b"x", key=key)
    assert record["source_key"] == key
    assert record["envelope"]["subject_id"] == key.decode()


def test_a_short_key_of_undecodable_bytes_whose_text_would_pass_the_bound_is_hashed_too() -> None:
    key = b"\xff" * 300  # 300 bytes, but each becomes a 3-byte replacement character
    record = _dead(b"x", key=key)
    assert record["envelope"]["subject_id"] == "sha256:" + hashlib.sha256(key).hexdigest()
    registry().decode(registry().encode("DeadLetter", record))  # within bounds


def test_the_dead_letter_id_depends_only_on_the_coordinates() -> None:
    first = _dead(b"a")["envelope"]["event_id"]
    assert _dead(b"b" * 300_000)["envelope"]["event_id"] == first


def test_a_key_holding_a_nul_is_replaced_by_its_sha256() -> None:
    key = b"C-1\x00"
    record = _dead(b"x", key=key)
    digest = "sha256:" + hashlib.sha256(key).hexdigest()
    assert record["source_key"] == digest.encode("ascii")
    assert record["envelope"]["subject_id"] == digest
    registry().decode(registry().encode("DeadLetter", record))  # within bounds
