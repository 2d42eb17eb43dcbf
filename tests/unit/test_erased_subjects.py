"""A record of an erased subject is refused with one exception naming only the ids: the stage
never sees it, nothing personal is written, no key is made; a consent statement, which holds
no personal fields, still reaches the stage."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from compliance.codec import registry
from compliance.erased_subjects import (
    KIND,
    refusing_erased_subjects,
    refusing_erased_subjects_in_batch,
)
from compliance.errors import PoisonMessage
from compliance.outgoing import Outgoing
from compliance.sealing import ERASED

from .test_codec import BUILDERS
from .test_sealing import DictKeyring


def test_a_late_document_of_an_erased_subject_gets_an_exception_and_is_not_processed() -> None:
    keyring = DictKeyring()
    arrival = BUILDERS["DocumentArrived"]()
    subject = arrival["envelope"]["subject_id"]
    keyring.erase(subject)
    seen: list[str] = []

    def stage(event_type: str, record: dict[str, Any]) -> list[Outgoing]:
        seen.append(event_type)
        return []

    [out] = refusing_erased_subjects(stage, keyring, "classifier")("DocumentArrived", arrival)
    assert seen == []
    assert (out.event_type, out.record["kind"]) == ("ComplianceException", KIND)
    assert out.record["document_id"] == arrival["document_id"]
    assert out.record["envelope"]["subject_id"] == subject
    _, written = registry().decode(
        registry().with_keyring(keyring).encode(out.event_type, out.record)
    )
    assert written["reason"] == ERASED and written["details"] == {}
    assert keyring.keys[subject] is None  # no new key


def test_a_subject_not_erased_and_a_consent_statement_reach_the_stage() -> None:
    keyring = DictKeyring()
    consent = BUILDERS["ConsentRecorded"]()
    keyring.erase(consent["envelope"]["subject_id"])
    classified = BUILDERS["DocumentClassified"]()
    seen: list[str] = []

    def stage(event_type: str, record: dict[str, Any]) -> list[Outgoing]:
        seen.append(event_type)
        return []

    refusing = refusing_erased_subjects(stage, keyring, "checker")
    assert refusing("ConsentRecorded", consent) == []
    assert refusing("DocumentClassified", classified) == []
    assert seen == ["ConsentRecorded", "DocumentClassified"]


def test_a_batch_stage_gets_only_records_of_subjects_not_erased_in_order() -> None:
    keyring = DictKeyring()
    kept, erased = BUILDERS["DocumentClassified"](), BUILDERS["DocumentClassified"]()
    erased = {**erased, "envelope": {**erased["envelope"], "subject_id": "C-erased"}}
    keyring.erase("C-erased")
    given: list[list[str]] = []

    def batch(inputs: Sequence[tuple[str, dict[str, Any]]]) -> list[Sequence[Outgoing]]:
        given.append([r["envelope"]["subject_id"] for _, r in inputs])
        return [[Outgoing("compliance.checks", "CheckResult", r)] for _, r in inputs]

    refusing = refusing_erased_subjects_in_batch(batch, keyring, "checker")
    answers = refusing([("DocumentClassified", erased), ("DocumentClassified", kept)])
    assert given == [[kept["envelope"]["subject_id"]]]
    first, second = answers
    assert not isinstance(first, PoisonMessage) and not isinstance(second, PoisonMessage)
    assert [o.record["kind"] for o in first] == [KIND]
    assert [o.event_type for o in second] == ["CheckResult"]
