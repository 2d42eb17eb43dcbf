"""The audit sink hands batches to its writer thread ahead of time; a batch whose predecessor
failed must not be written before it, or a chain would no longer follow the offsets."""

from __future__ import annotations

from concurrent.futures import Future

import pytest

from compliance.audit.writer import Outcome, Prepared
from compliance.errors import RetryableError
from compliance.processors.audit_sink import AuditSink, InFlight


class RecordingWriter:
    def __init__(self) -> None:
        self.batches: list[list[Prepared]] = []

    def append_batch(self, prepared: list[Prepared]) -> Outcome:
        self.batches.append(prepared)
        return Outcome(written=len(prepared))


def sink_with(writer: RecordingWriter) -> AuditSink:
    sink = AuditSink.__new__(AuditSink)  # only the writer matters to _write
    sink.writer = writer  # type: ignore[assignment]
    return sink


ROWS = [Prepared("id-1", "t", 0, 7, "", b"", b"")]
BATCH = InFlight([], ROWS, None)


def test_a_batch_after_a_failed_one_is_not_written() -> None:
    writer = RecordingWriter()
    failed: Future[Outcome] = Future()
    failed.set_exception(RetryableError("database unavailable"))
    with pytest.raises(RetryableError, match="before this one"):
        sink_with(writer)._write(failed, BATCH)
    assert writer.batches == []


def test_a_batch_after_a_written_one_or_first_is_written() -> None:
    writer = RecordingWriter()
    written: Future[Outcome] = Future()
    written.set_result(Outcome(written=5))
    assert sink_with(writer)._write(written, BATCH).written == 1
    assert sink_with(writer)._write(None, BATCH).written == 1
    assert writer.batches == [ROWS, ROWS]
