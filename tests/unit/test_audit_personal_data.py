"""Crypto-shredding of personal fields: sealed with the subject's key, opened with it,
unreadable without it, bound to their event and field."""

from __future__ import annotations

import base64
import threading

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from compliance.audit.personal_data import (
    ERASED,
    NONCE_BYTES,
    SEALED,
    is_sealed,
    new_key,
    reveal,
    seal,
)

EVENT = "6b3f0000-0000-5000-8000-000000000001"


def check_result() -> dict[str, object]:
    return {
        "rule_id": "aml.sanctions-name-screen",
        "outcome": "review",
        "inputs": {"surname": "HALVORSEN", "given_names": "INGRID"},
        "explanation": "Possible sanctions match: INGRID HALVORSEN",
    }


def test_personal_fields_are_sealed_and_the_decision_stays_readable() -> None:
    payload = check_result()
    seal("CheckResult", EVENT, payload, AESGCM(new_key()))
    assert is_sealed(payload["inputs"]) and is_sealed(payload["explanation"])
    assert payload["rule_id"] == "aml.sanctions-name-screen" and payload["outcome"] == "review"
    assert "HALVORSEN" not in str(payload)


def test_the_subjects_key_opens_them() -> None:
    key = new_key()
    payload = check_result()
    seal("CheckResult", EVENT, payload, AESGCM(key))
    assert reveal(EVENT, payload, key) == check_result()


def test_without_the_key_they_are_erased_and_another_key_cannot_open_them() -> None:
    payload = check_result()
    seal("CheckResult", EVENT, payload, AESGCM(new_key()))
    assert reveal(EVENT, payload, None)["inputs"] == ERASED
    assert reveal(EVENT, payload, new_key())["explanation"] == ERASED


def test_a_sealed_value_moved_to_another_event_does_not_open() -> None:
    key = new_key()
    payload = check_result()
    seal("CheckResult", EVENT, payload, AESGCM(key))
    assert reveal(EVENT.replace("1", "2"), payload, key)["inputs"] == ERASED


def test_events_of_an_already_erased_subject_are_recorded_without_personal_data() -> None:
    payload = check_result()
    seal("CheckResult", EVENT, payload, None)
    assert payload["inputs"] == ERASED and payload["explanation"] == ERASED
    assert payload["outcome"] == "review"


def test_values_sealed_on_kafka_open_with_the_same_key_and_read_erased_without_it() -> None:
    from compliance.sealing import SubjectKey, seal_bytes, seal_text

    key = new_key()
    in_flight = SubjectKey.of("C-7", key)
    payload: dict[str, object] = {
        "envelope": {"subject_id": "C-7"},
        "error": seal_text(in_flight, "bad date 1990-01-31 for INGRID HALVORSEN"),
        "original_value": {"$base64": base64.b64encode(seal_bytes(in_flight, b"raw")).decode()},
        "source_topic": "documents.arrived",
    }
    seal("DeadLetter", EVENT, payload, AESGCM(key))
    assert is_sealed(payload["error"])  # sealed again for the trail, bound to the event
    opened = reveal(EVENT, payload, key)
    assert opened["error"] == "bad date 1990-01-31 for INGRID HALVORSEN"
    assert opened["original_value"] == {"$base64": base64.b64encode(b"raw").decode()}
    erased = reveal(EVENT, payload, None)
    assert erased["error"] == ERASED and erased["source_topic"] == "documents.arrived"


def test_a_clearance_reason_is_sealed_in_the_trail() -> None:
    payload = {"action": "clear", "reason": "same name, born 1961-04-02 in Oslo, not him"}
    seal("SanctionsClearance", EVENT, payload, AESGCM(new_key()))
    assert is_sealed(payload["reason"]) and payload["action"] == "clear"


def test_no_nonce_is_used_twice_by_threads_sealing_at_once() -> None:
    """Nonces come from a shared pool refilled in blocks: four threads sealing thousands of
    fields each, across many refills, never get the same one (a repeated GCM nonce under one
    key would leak the XOR of two plaintexts)."""
    cipher = AESGCM(new_key())
    sealed: list[list[dict[str, object]]] = [[] for _ in range(4)]

    def seal_many(into: list[dict[str, object]]) -> None:
        for _ in range(1500):
            payload = check_result()
            seal("CheckResult", EVENT, payload, cipher)
            into.append(payload)

    threads = [threading.Thread(target=seal_many, args=(out,)) for out in sealed]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    nonces = [
        base64.b64decode(payload[field][SEALED])[:NONCE_BYTES]  # type: ignore[index]
        for out in sealed
        for payload in out
        for field in ("inputs", "explanation")
    ]
    assert len(nonces) == 4 * 1500 * 2
    assert len(set(nonces)) == len(nonces)
