"""``compliance watch <dir>``: publish each new file of a folder once, even across restarts.

Each scan lists the folder's files (hidden ones and the state file skipped). A file is
published when it is new, by path and content hash, and has settled: the same size and
modification time on two scans in a row, so a file still being copied is not sent half. After
the broker confirms delivery the file is appended to a state file (JSON lines): a restart
reads it and publishes nothing twice. A crash between delivery and the state write publishes
the file again on restart; its event id is derived from the content, so the audit trail still
records it once. Files over the size limit are recorded as rejected, with the reason, and never
retried until their content changes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)
STATE_FILE = ".compliance-watch.jsonl"


@dataclass(frozen=True)
class Outcome:
    path: Path
    published: bool
    detail: str  # the document id, or why it was rejected


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class Watcher:
    """``publish(paths)`` publishes files and returns their document ids once delivered;
    ``check(path)`` raises an error whose message says why a file is refused."""

    def __init__(
        self,
        folder: Path,
        publish: Callable[[list[Path]], list[str]],
        check: Callable[[Path], None],
        state_file: Path | None = None,
    ) -> None:
        self.folder = folder.resolve()
        self.publish = publish
        self.check = check
        self.state_file = state_file or self.folder / STATE_FILE
        self.done = self._load()
        self._last_seen: dict[Path, tuple[int, int]] = {}

    def _load(self) -> set[tuple[str, str]]:
        if not self.state_file.exists():
            return set()
        done = set()
        for line in self.state_file.read_text(encoding="utf-8").splitlines():
            if line.strip():
                entry = json.loads(line)
                done.add((entry["path"], entry["sha256"]))
        return done

    def _record(self, path: Path, sha256: str, **extra: str) -> None:
        entry = {"path": str(path.relative_to(self.folder)), "sha256": sha256, **extra}
        with self.state_file.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry) + "\n")
        self.done.add((entry["path"], sha256))

    def _files(self) -> Iterator[Path]:
        for path in sorted(self.folder.rglob("*")):
            relative = path.relative_to(self.folder)
            hidden = any(part.startswith(".") for part in relative.parts)
            if path.is_file() and not hidden and path.resolve() != self.state_file.resolve():
                yield path

    def _settled(self, path: Path) -> bool:
        stat = path.stat()
        now = (stat.st_size, stat.st_mtime_ns)
        before = self._last_seen.get(path)
        self._last_seen[path] = now
        return before == now

    def scan_once(self) -> list[Outcome]:
        ready: list[tuple[Path, str]] = []
        outcomes = []
        for path in self._files():
            if not self._settled(path):
                continue
            sha256 = sha256_of(path)
            if (str(path.relative_to(self.folder)), sha256) in self.done:
                continue
            try:
                self.check(path)
            except Exception as exc:  # the check's message is the rejection reason
                log.warning("rejected %s: %s", path, exc)
                self._record(path, sha256, rejected=str(exc))
                outcomes.append(Outcome(path, False, str(exc)))
                continue
            ready.append((path, sha256))
        if ready:
            ids = self.publish([path for path, _ in ready])
            for (path, sha256), document_id in zip(ready, ids, strict=True):
                self._record(path, sha256, document_id=document_id)
                outcomes.append(Outcome(path, True, document_id))
        return outcomes

    def run(self, stop: threading.Event, interval_s: float, on: Callable[[Outcome], None]) -> None:
        while not stop.is_set():
            for outcome in self.scan_once():
                on(outcome)
            stop.wait(interval_s)
