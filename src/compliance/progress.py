"""Progress of long work (list loads, re-screening, replays, exports) on a terminal.

``progress(items, what=...)`` yields the items unchanged and, when stderr is a terminal,
draws a tqdm bar with the count, the rate and (given a total) the time left. ``stage(what)``
is for one step that cannot be counted while it runs (validating a list set): on a terminal
it says when it starts and, at its end, how much it did in how long, and at what rate.
When stderr is not a terminal (cron, a CronJob, CI, a pipe, a log file) nothing at all is
written, so logs and piped output stay clean. The bar goes to stderr: a command writing its
data to stdout (``compliance audit export``) keeps that stream intact.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator, Sized
from contextlib import contextmanager
from dataclasses import dataclass
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


@dataclass
class Done:
    """What a stage did: set ``count`` before the stage ends."""

    count: int = 0


@contextmanager
def stage(what: str, *, unit: str = "item", stream: TextIO | None = None) -> Iterator[Done]:
    """A step with a start line and an end line with its count, time and rate, on ``stream``
    (stderr) when it is a terminal; nothing otherwise. Nothing is printed for a failed step
    beyond its start line (the error says the rest)."""
    stream = sys.stderr if stream is None else stream
    done = Done()
    shown = on_terminal(stream)
    if shown:
        print(f"{what} ...", file=stream, flush=True)
    started = time.monotonic()
    yield done
    if shown:
        elapsed = max(time.monotonic() - started, 1e-6)
        print(
            f"{what}: {done.count:,} {unit} in {elapsed:.1f} s ({done.count / elapsed:,.0f} "
            f"{unit}/s)",
            file=stream,
            flush=True,
        )
