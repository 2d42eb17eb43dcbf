"""When to try a notification again: exponential back-off with full jitter, or the webhook's
own ``Retry-After`` (seconds or an HTTP date) when it sends one, capped."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


def backoff_s(
    attempt: int, initial_s: float, max_s: float, rng: random.Random | None = None
) -> float:
    """The wait after failed attempt number ``attempt`` (1 = the first): a random time up to
    ``initial_s * 2**(attempt-1)``, at most ``max_s``, never less than a tenth of it (two
    failures in a row never retry at once)."""
    ceiling = min(max_s, initial_s * 2.0 ** max(0, attempt - 1))
    draw = rng.uniform(0.0, ceiling) if rng is not None else random.uniform(0.0, ceiling)
    return max(draw, ceiling / 10)


def retry_after_s(header: str | None, now: datetime | None = None) -> float | None:
    """The wait a ``Retry-After`` header asks for, in seconds; None when absent or unreadable."""
    if header is None:
        return None
    value = header.strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        seconds = float(value)
    except ValueError:
        seconds = None
    if seconds is not None:
        return max(0.0, seconds)
    try:
        at = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return max(0.0, (at - (now or datetime.now(UTC))).total_seconds())


def next_wait_s(
    attempt: int,
    retry_after: float | None,
    *,
    initial_s: float,
    max_s: float,
    retry_after_max_s: float,
    rng: random.Random | None = None,
) -> float:
    """The webhook's ``Retry-After`` (capped) when it gave one, else the back-off."""
    if retry_after is not None:
        return min(retry_after, retry_after_max_s)
    return backoff_s(attempt, initial_s, max_s, rng)
