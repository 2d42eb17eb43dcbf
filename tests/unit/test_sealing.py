"""Personal fields sealed on Kafka: marked in the schemas without changing a fingerprint,
sealed by a codec with a keyring, opened by one, left sealed by one without, unreadable with
another subject's key or after the subject is erased."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import pytest

from compliance.audit.personal_data import new_key
from compliance.codec import SchemaRegistry, bundled_schema_sources, registry
from compliance.errors import PoisonMessage
from compliance.sealing import (
    ERASED,
    MEMO_ENTRIES,
    PREFIX,
    PREFIX_BYTES,
    SubjectKey,
    is_sealed,
    open_text,
    personal_field_names,
    seal_text,
)

from .test_codec import BUILDERS

NAME = "INGRID HALVORSEN"


class DictKeyring:
    """Keys held in a dict, for the codec's own tests (the processors' keyring reads them from
    PostgreSQL; tests/integration/test_gdpr_erasure.py runs that one)."""

    def __init__(self) -> None:
        self.keys: dict[str, bytes | None] = {}
        self.prefetched: list[str] = []

    def sealing_key(self, subject: str) -> SubjectKey | None:
        if subject not in self.keys:
            self.keys[subject] = new_key()
        key = self.keys[subject]
        return None if key is None else SubjectKey.of(subject, key)

    def opening_key(self, subject: str) -> SubjectKey | None:
        key = self.keys.get(subject)
        return None if key is None else SubjectKey.of(subject, key)

    def is_erased(self, subject: str) -> bool:
        return subject in self.keys and self.keys[subject] is None

    def prefetch(self, subjects: Iterable[str]) -> None:
        self.prefetched.extend(subjects)

    def erase(self, subject: str) -> None:
        self.keys[subject] = None


def _strings(value: Any) -> list[str | bytes]:
    if isinstance(value, str | bytes):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def _personal_values(event_type: str, record: dict[str, Any]) -> list[str | bytes]:
    """Every string and bytes value under the fields the schema marks personal."""
    found: list[str | bytes] = []
    for path in personal_field_names(registry().by_type[event_type].parsed):
        parts = path.split(".")
        values: list[Any] = [record]
        for part in parts:
            nxt: list[Any] = []
            for v in values:
                items = v if isinstance(v, list) else [v]
                nxt.extend(i[part] for i in items if isinstance(i, dict) and part in i)
            values = nxt
        found.extend(s for v in values for s in _strings(v))
    return found


def test_the_personal_fields_are_the_ones_that_hold_personal_data() -> None:
    marked = {t: personal_field_names(s.parsed) for t, s in registry().by_type.items()}
    assert marked["DocumentArrived"] == {"uri", "filename", "inline_content", "metadata"}
    assert marked["DocumentClassified"] == {"fields.value"}
    assert marked["CheckResult"] == {"inputs", "explanation"}
    assert marked["ComplianceException"] == {"reason", "details"}
    assert marked["DeadLetter"] == {"error", "original_value"}
    assert marked["SanctionsClearance"] == {"reason"}
    assert marked["ConsentRecorded"] == marked["RulesetChanged"] == set()


def _without_personal(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {k: _without_personal(v) for k, v in schema.items() if k != "personal"}
    if isinstance(schema, list):
        return [_without_personal(v) for v in schema]
    return schema


@pytest.mark.parametrize("event_type", sorted(BUILDERS))
def test_marking_fields_personal_changes_no_fingerprint(event_type: str) -> None:
    sources = bundled_schema_sources()
    unmarked = {f: json.dumps(_without_personal(json.loads(t))) for f, t in sources.items()}
    assert SchemaRegistry(unmarked).by_type[event_type].fingerprint == (
        registry().by_type[event_type].fingerprint
    )
    assert sources != unmarked or not personal_field_names(registry().by_type[event_type].parsed)


@pytest.mark.parametrize("event_type", sorted(BUILDERS))
def test_a_codec_with_a_keyring_seals_every_personal_value_and_opens_it_again(
    event_type: str,
) -> None:
    keyring = DictKeyring()
    codec = registry().with_keyring(keyring)
    record = BUILDERS[event_type]()
    personal = [v for v in _personal_values(event_type, record) if v]
    data = codec.encode(event_type, record)

    _, still_sealed = registry().decode(data)  # no keyring: sealed values stay sealed
    assert all(is_sealed(v) for v in _personal_values(event_type, still_sealed) if v)
    assert not set(personal) & set(_personal_values(event_type, still_sealed))
    assert codec.decode(data) == registry().decode(registry().encode(event_type, record))


def test_a_planted_name_is_nowhere_in_the_bytes_on_the_wire() -> None:
    record = BUILDERS["CheckResult"]()
    record["inputs"] = {"full_name": NAME, "mrz_name": None}
    record["explanation"] = f"the name {NAME} matches a listed entity"
    assert NAME.encode() in registry().encode("CheckResult", record)
    assert NAME.encode() not in registry().with_keyring(DictKeyring()).encode("CheckResult", record)


def test_the_record_given_to_encode_is_left_as_it_was() -> None:
    record = BUILDERS["DocumentClassified"]()
    before = json.dumps(record, default=str)
    registry().with_keyring(DictKeyring()).encode("DocumentClassified", record)
    assert json.dumps(record, default=str) == before


def test_only_the_personal_values_are_sealed_and_the_decision_stays_readable() -> None:
    codec = registry().with_keyring(DictKeyring())
    record = BUILDERS["CheckResult"]()
    _, seen = registry().decode(codec.encode("CheckResult", record))
    assert seen["outcome"] == record["outcome"] and seen["rule_id"] == record["rule_id"]
    assert seen["inputs"].keys() == record["inputs"].keys()
    assert all(v is None or v.startswith(PREFIX) for v in seen["inputs"].values())
    assert seen["explanation"].startswith(PREFIX)


def test_sealed_bytes_stay_bytes_and_open_to_the_same_bytes() -> None:
    codec = registry().with_keyring(DictKeyring())
    record = BUILDERS["DeadLetter"]()
    record["original_value"] = b"\x00\xffraw " + NAME.encode()
    data = codec.encode("DeadLetter", record)
    _, sealed = registry().decode(data)
    assert sealed["original_value"].startswith(PREFIX_BYTES)
    assert codec.decode(data)[1]["original_value"] == record["original_value"]


def test_after_erasure_sealed_values_stay_sealed_and_new_ones_are_written_erased() -> None:
    keyring = DictKeyring()
    codec = registry().with_keyring(keyring)
    record = BUILDERS["DocumentClassified"]()
    subject = record["envelope"]["subject_id"]
    data = codec.encode("DocumentClassified", record)
    keyring.erase(subject)

    _, after = codec.decode(data)  # the stage decides what an erased subject's record gets
    assert all(is_sealed(f["value"]) for f in after["fields"] if f["value"])
    _, written = registry().decode(codec.encode("DocumentClassified", record))
    assert {f["value"] for f in written["fields"] if f["value"]} == {ERASED}


def test_a_value_sealed_for_one_subject_does_not_open_as_another_subjects() -> None:
    one, other = SubjectKey.of("C-1", new_key()), SubjectKey.of("C-2", new_key())
    sealed = seal_text(one, NAME)
    assert open_text(one, sealed) == NAME
    with pytest.raises(PoisonMessage):
        open_text(other, sealed)
    same_key_other_subject = SubjectKey.of("C-2", new_key())
    with pytest.raises(PoisonMessage):
        open_text(same_key_other_subject, sealed)


def test_an_altered_sealed_value_makes_the_record_poison() -> None:
    keyring = DictKeyring()
    codec = registry().with_keyring(keyring)
    record = BUILDERS["ComplianceException"]()
    event_type, sealed = registry().decode(codec.encode("ComplianceException", record))
    body = sealed["reason"][len(PREFIX) :]
    sealed["reason"] = PREFIX + body[:-4] + ("AAAA" if body[-4:] != "AAAA" else "BBBB")
    tampered = registry().encode(event_type, sealed)  # no keyring: written as given
    with pytest.raises(PoisonMessage):
        codec.decode(tampered)


def test_a_replayed_event_seals_to_the_same_bytes_and_other_subjects_values_differ() -> None:
    keyring = DictKeyring()
    codec = registry().with_keyring(keyring)
    record = BUILDERS["DocumentClassified"]()
    assert codec.encode("DocumentClassified", record) == codec.encode("DocumentClassified", record)
    one, other = SubjectKey.of("C-1", new_key()), SubjectKey.of("C-2", new_key())
    assert seal_text(one, NAME) == seal_text(one, NAME) != seal_text(other, NAME)
    assert seal_text(one, NAME) != seal_text(one, NAME + " ")


def test_plain_values_from_a_producer_that_does_not_seal_are_read_as_they_are() -> None:
    record = BUILDERS["DocumentArrived"]()
    data = registry().encode("DocumentArrived", record)
    assert registry().with_keyring(DictKeyring()).decode(data) == registry().decode(data)


def test_prefetch_reaches_the_keyring_and_is_nothing_without_one() -> None:
    keyring = DictKeyring()
    registry().with_keyring(keyring).prefetch_keys(["C-1", "C-2"])
    registry().prefetch_keys(["C-3"])
    assert keyring.prefetched == ["C-1", "C-2"]


def test_values_sealed_again_come_from_a_bounded_memo_and_still_open() -> None:
    key = SubjectKey.of("C-1", new_key())
    values = [f"{NAME} {i}" for i in range(MEMO_ENTRIES * 2)]
    first = [seal_text(key, v) for v in values]
    assert [seal_text(key, v) for v in values] == first
    assert len(key.sealed) == MEMO_ENTRIES
    assert [open_text(key, s) for s in first] == values
