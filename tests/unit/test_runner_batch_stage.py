"""A stage that takes the whole batch: the runner decodes every record, dead-letters the ones
that do not decode, calls the stage once with the others in order, and dead-letters the
records the stage names as poison; every other output is produced in batch order."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from compliance.codec import Record, registry
from compliance.config import Settings
from compliance.errors import PoisonMessage
from compliance.publisher import arrival_event
from compliance.runner import Outgoing, TransactionalRunner

from .conftest import SAMPLES
from .runner_fakes import FakeConsumer, FakeMessage, FakeProducer


def _arrival(name: str) -> bytes:
    return registry().encode("DocumentArrived", arrival_event(SAMPLES / name, source_system="t"))


def test_a_batch_stage_is_called_once_and_its_poison_and_undecodable_records_are_dead_lettered(
    settings: Settings,
) -> None:
    batch: list[Any] = [
        FakeMessage("documents.arrived", 0, 10, _arrival("passport_halvorsen.txt"), b"C-1"),
        FakeMessage("documents.arrived", 0, 11, b"not avro", b"C-1"),
        FakeMessage("documents.arrived", 1, 4, _arrival("utility_bill_halvorsen.txt"), b"C-2"),
        FakeMessage("documents.arrived", 1, 5, _arrival("scan_truncated.pdf"), b"C-2"),
    ]
    calls: list[list[str]] = []

    def stage(inputs: Sequence[tuple[str, Record]]) -> list[Sequence[Outgoing] | PoisonMessage]:
        calls.append([record["document_id"] for _, record in inputs])
        answers: list[Sequence[Outgoing] | PoisonMessage] = []
        for event_type, record in inputs:
            if record["uri"].endswith(".pdf"):
                answers.append(PoisonMessage("not for this stage"))
            else:
                answers.append([Outgoing("documents.classified", event_type, record)])
        return answers

    def per_record(_event_type: str, _record: Record) -> list[Outgoing]:
        raise AssertionError("the per-record stage is not used when a batch stage is given")

    runner: Any = TransactionalRunner(
        "test", settings, ["documents.arrived"], per_record, batch_stage=stage
    )
    producer = FakeProducer()
    runner._process_in_transaction(FakeConsumer(), producer, batch)

    decoded = [registry().decode(value) for value in producer.produced]
    assert len(calls) == 1 and len(calls[0]) == 3  # once, with the three that decode
    assert [t for t, _ in decoded] == [
        "DocumentArrived",
        "DeadLetter",
        "DocumentArrived",
        "DeadLetter",
        "ComplianceException",  # the poison record decoded into a document: an officer learns
    ]
    [raised] = [r for t, r in decoded if t == "ComplianceException"]
    assert raised["kind"] == "dead_lettered" and raised["document_id"] in calls[0]
    letters = [r for t, r in decoded if t == "DeadLetter"]
    assert [(d["source_partition"], d["source_offset"]) for d in letters] == [(0, 11), (1, 5)]
    assert "not Avro" in letters[0]["error"] and letters[1]["error"] == "not for this stage"
    assert producer.calls == ["begin", "send_offsets", "commit"]


def test_a_batch_stage_answering_for_fewer_records_than_it_was_given_fails_the_batch(
    settings: Settings,
) -> None:
    batch: list[Any] = [
        FakeMessage("documents.arrived", 0, offset, _arrival("passport_halvorsen.txt"), b"C-1")
        for offset in (1, 2)
    ]
    runner: Any = TransactionalRunner(
        "test", settings, ["documents.arrived"], lambda _t, _r: [], batch_stage=lambda _i: [[]]
    )
    producer = FakeProducer()
    with pytest.raises(RuntimeError, match="answered 1 of 2"):
        runner._process_in_transaction(FakeConsumer(), producer, batch)
    assert producer.produced == [] and "commit" not in producer.calls


def test_a_decoder_failing_with_a_bug_stops_the_batch_instead_of_dead_lettering_it(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only content errors are dead-lettered; a decoder that breaks for another reason (a bug,
    a library changed under us) must stop the runner with nothing produced."""
    from compliance.errors import StageFailed

    def batch_stage(inputs: Sequence[tuple[str, Record]]) -> list[Sequence[Outgoing]]:
        return [[] for _ in inputs]

    runner: Any = TransactionalRunner(
        "test", settings, ["documents.arrived"], lambda *_: [], batch_stage=batch_stage
    )

    def broken(_value: bytes | None) -> tuple[str, Record]:
        raise ValueError("a decoder bug")

    monkeypatch.setattr(runner.codec, "decode", broken)
    producer = FakeProducer()
    batch: list[Any] = [
        FakeMessage("documents.arrived", 0, 7, _arrival("passport_halvorsen.txt"), b"C-1")
    ]
    with pytest.raises(StageFailed, match=r"documents.arrived\[0\]@7"):
        runner._process_in_transaction(FakeConsumer(), producer, batch)
    assert producer.produced == []
