"""The folder watcher's bookkeeping: each settled file published once, across restarts;
files still growing wait; oversize files are rejected once, with the reason. The publish
callable here records what it is given (the Kafka side is in tests/integration)."""

from __future__ import annotations

from pathlib import Path

import pytest

from compliance.documents.watch import STATE_FILE, Watcher
from compliance.publisher import DocumentTooLarge, check_size


class Recorder:
    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, paths: list[Path]) -> list[str]:
        self.calls.append([p.name for p in paths])
        return [f"doc-{p.name}" for p in paths]


def watcher(folder: Path, recorder: Recorder, max_bytes: int = 1000) -> Watcher:
    return Watcher(folder, recorder, lambda p: check_size(p, max_bytes))


def test_a_file_is_published_once_it_has_settled_and_never_again(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("passport")
    recorder = Recorder()
    watch = watcher(tmp_path, recorder)
    assert watch.scan_once() == []  # first sight: not yet known to be complete
    [outcome] = watch.scan_once()
    assert outcome.published and outcome.detail == "doc-a.txt"
    assert watch.scan_once() == [] and recorder.calls == [["a.txt"]]


def test_a_file_still_growing_waits_until_it_stops_changing(tmp_path: Path) -> None:
    path = tmp_path / "scan.pdf"
    path.write_bytes(b"%PDF-1.4 part")
    recorder = Recorder()
    watch = watcher(tmp_path, recorder)
    watch.scan_once()
    with path.open("ab") as handle:
        handle.write(b" more")
    assert watch.scan_once() == []
    assert [o.path.name for o in watch.scan_once()] == ["scan.pdf"]


def test_after_a_restart_nothing_is_published_twice_and_new_files_are(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("one")
    first = Recorder()
    watch = watcher(tmp_path, first)
    watch.scan_once()
    watch.scan_once()
    (tmp_path / "b.txt").write_text("two")
    (tmp_path / "a.txt").write_text("one")  # rewritten with the same content

    again = Recorder()
    restarted = watcher(tmp_path, again)
    restarted.scan_once()
    restarted.scan_once()
    assert again.calls == [["b.txt"]]
    assert (tmp_path / STATE_FILE).read_text().count('"document_id"') == 2


def test_a_file_whose_content_changes_is_published_again(tmp_path: Path) -> None:
    path = tmp_path / "bill.txt"
    path.write_text("october")
    recorder = Recorder()
    watch = watcher(tmp_path, recorder)
    watch.scan_once()
    watch.scan_once()
    path.write_text("november bill")
    watch.scan_once()
    watch.scan_once()
    assert recorder.calls == [["bill.txt"], ["bill.txt"]]


def test_an_oversize_file_is_rejected_once_with_the_reason(tmp_path: Path) -> None:
    (tmp_path / "huge.tif").write_bytes(b"x" * 2000)
    recorder = Recorder()
    watch = watcher(tmp_path, recorder, max_bytes=1000)
    watch.scan_once()
    [outcome] = watch.scan_once()
    assert not outcome.published
    assert "2000 bytes, over the 1000-byte limit" in outcome.detail
    assert watcher(tmp_path, recorder).scan_once() == []
    assert recorder.calls == []


def test_hidden_files_and_the_state_file_are_never_published(tmp_path: Path) -> None:
    (tmp_path / ".partial.txt").write_text("uploading")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "x").write_text("x")
    recorder = Recorder()
    watch = watcher(tmp_path, recorder)
    (tmp_path / "a.txt").write_text("a")
    watch.scan_once()
    watch.scan_once()
    watch.scan_once()
    assert recorder.calls == [["a.txt"]]


def test_check_size_names_the_file_the_size_and_the_setting(tmp_path: Path) -> None:
    path = tmp_path / "big.pdf"
    path.write_bytes(b"0" * 11)
    with pytest.raises(DocumentTooLarge, match=r"big\.pdf is 11 bytes.*MAX_DOCUMENT_BYTES"):
        check_size(path, 10)
    check_size(path, 11)
