"""Decision times in input order, per partition, kept ordered across processes."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta

from confluent_kafka import Message

from compliance.events import now

Partition = tuple[str, int]
# Kept in the committed offsets' metadata: the last decision time of the partition.
CLOCK_METADATA_PREFIX = "occurred_at_ms="


class InputOrderClock:
    """Decision times in input order: one per record, taken in the order of the batch, cut to
    the millisecond (the envelope's ``timestamp-millis``) and strictly increasing within each
    partition, across batches too. When records come faster than one a millisecond, a time
    runs ahead of the wall clock by at most a millisecond per record.

    Across processes: the last time of each partition travels with its committed offsets (their
    metadata, ``clock_metadata``), in the same transaction as the decisions. A process that
    takes over a partition reads it (``floor``) before dating anything there, so it never dates
    a decision before its predecessor's last one, whatever the two hosts' clocks say; when its
    clock is behind, its times run ahead of it until it catches up."""

    def __init__(self, clock: Callable[[], datetime] = now) -> None:
        self._clock = clock
        self._last: dict[Partition, datetime | None] = {}

    def unknown(self, batch: Iterable[Message]) -> list[Partition]:
        """Partitions of the batch whose floor has not been read since they became ours."""
        return list(
            dict.fromkeys(_partition(msg) for msg in batch if _partition(msg) not in self._last)
        )

    def floor(self, partition: Partition, last: datetime | None) -> None:
        """Date nothing of ``partition`` at or before ``last`` (None: no earlier decision)."""
        known = self._last.get(partition)
        if known is None or (last is not None and last > known):
            self._last[partition] = last

    def forget(self, partitions: Iterable[Partition]) -> None:
        """These partitions are no longer ours: read their floor again if they come back."""
        for partition in partitions:
            self._last.pop(partition, None)

    def last(self, partition: Partition) -> datetime | None:
        return self._last.get(partition)

    def stamps(self, batch: Sequence[Message]) -> list[datetime]:
        stamps = []
        for msg in batch:
            key = _partition(msg)
            stamp = _to_millisecond(self._clock())
            last = self._last.get(key)
            if last is not None and stamp <= last:
                stamp = last + timedelta(milliseconds=1)
            self._last[key] = stamp
            stamps.append(stamp)
        return stamps


def _partition(msg: Message) -> Partition:
    return (msg.topic() or "", msg.partition() or 0)


def _to_millisecond(moment: datetime) -> datetime:
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def clock_metadata(last: datetime | None) -> str | None:
    """The committed offset's metadata carrying a partition's last decision time."""
    if last is None:
        return None
    return f"{CLOCK_METADATA_PREFIX}{int(last.timestamp() * 1000)}"


def clock_of_metadata(metadata: str | None) -> datetime | None:
    if not metadata or not metadata.startswith(CLOCK_METADATA_PREFIX):
        return None
    try:
        millis = int(metadata.removeprefix(CLOCK_METADATA_PREFIX))
    except ValueError:
        return None
    return datetime.fromtimestamp(millis / 1000, UTC)
