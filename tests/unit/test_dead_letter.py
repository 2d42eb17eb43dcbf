"""Dead letters must always fit in a Kafka message, and say what they cut."""

from __future__ import annotations

import hashlib
from typing import Any

from compliance.codec import registry
from compliance.runner import DEAD_LETTER_MAX_VALUE_BYTES, dead_letter


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
    assert len(record["source_key"]) < 10_000 and "key cut" in record["error"]
    encoded = registry().encode("DeadLetter", record)
    assert len(encoded) < 1_000_000 - 10_000


def test_the_dead_letter_id_depends_only_on_the_coordinates() -> None:
    first = _dead(b"a")["envelope"]["event_id"]
    assert _dead(b"b" * 300_000)["envelope"]["event_id"] == first
