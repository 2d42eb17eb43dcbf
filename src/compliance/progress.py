"""Progress of long work (list loads, re-screening, replays, exports) on a terminal.

``progress(items, what=...)`` yields the items unchanged and, when stderr is a terminal,
draws a tqdm bar with the count, the rate and (given a total) the time left. When stderr is
not a terminal (cron, a CronJob, CI, a pipe, a log file) nothing at all is written, so logs
and piped output stay clean. The bar goes to stderr: a command writing its data to stdout
(``compliance audit export``) keeps that stream intact.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator, Sized
from typing import TextIO, TypeVar

from tqdm import tqdm

T = TypeVar("T")


def on_terminal(stream: TextIO | None = None) -> bool:
    """Whether progress is drawn: the stream (stderr by default) is an interactive terminal."""
    stream = sys.stderr if stream is None else stream
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # closed or not a real stream
        return False


def progress(
    items: Iterable[T],
    *,
    what: str,
    unit: str = "item",
    total: int | None = None,
    stream: TextIO | None = None,
) -> Iterator[T]:
    """``items``, with a progress bar and rate on ``stream`` (stderr) when it is a terminal."""
    stream = sys.stderr if stream is None else stream
    if not on_terminal(stream):
        yield from items
        return
    if total is None and isinstance(items, Sized):
        total = len(items)
    with tqdm(
        items, desc=what, unit=unit, unit_scale=True, total=total, file=stream, leave=True
    ) as bar:
        yield from bar
