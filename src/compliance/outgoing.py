"""What a stage hands back to the runner: one event to produce, on a topic, of a type."""

from __future__ import annotations

from dataclasses import dataclass

from compliance.codec import Record


@dataclass(frozen=True)
class Outgoing:
    topic: str
    event_type: str
    record: Record
