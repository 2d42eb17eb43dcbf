"""Progress bars show on a terminal and write nothing otherwise."""

from __future__ import annotations

import io
import os
import pty

from compliance.progress import on_terminal, progress, stage


def _read_all(controller: int) -> str:
    """Everything written to the terminal, once its other end is closed (Linux answers EIO
    at the end; the writes may come out in several reads)."""
    chunks = []
    try:
        while chunk := os.read(controller, 65536):
            chunks.append(chunk)
    except OSError:
        pass
    finally:
        os.close(controller)
    return b"".join(chunks).decode()


def test_progress_writes_nothing_when_the_stream_is_not_a_terminal() -> None:
    stream = io.StringIO()
    assert list(progress(range(500), what="re-screened", stream=stream)) == list(range(500))
    assert stream.getvalue() == ""


def test_progress_is_silent_on_a_pipe_as_under_cron() -> None:
    read_end, write_end = os.pipe()
    with os.fdopen(write_end, "w") as pipe:
        assert not on_terminal(pipe)
        assert sum(progress(range(100), what="loaded", stream=pipe)) == sum(range(100))
    with os.fdopen(read_end) as written:
        assert written.read() == ""


def test_progress_draws_a_bar_with_the_count_and_rate_on_a_terminal() -> None:
    controller, terminal = pty.openpty()
    with os.fdopen(terminal, "w") as stream:
        assert on_terminal(stream)
        items = list(progress(range(250), what="published", unit="tx", stream=stream))
    assert items == list(range(250))
    drawn = _read_all(controller)
    assert "published" in drawn
    assert "250/250" in drawn
    assert "tx/s" in drawn


def test_a_stage_reports_its_count_and_rate_on_a_terminal_only() -> None:
    quiet = io.StringIO()
    with stage("validating the list files", unit="entities", stream=quiet) as done:
        done.count = 12_345
    assert quiet.getvalue() == ""
    controller, terminal = pty.openpty()
    with (
        os.fdopen(terminal, "w") as stream,
        stage("validating the list files", unit="entities", stream=stream) as done,
    ):
        done.count = 12_345
    drawn = _read_all(controller)
    assert "validating the list files ..." in drawn
    assert "12,345 entities in" in drawn and "entities/s)" in drawn
