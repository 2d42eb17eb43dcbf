"""Stand-ins for the Kafka client objects the runner touches, so its transaction logic can be
driven without a broker: consumed records, a consumer that records seeks, a producer that
records calls and fails the ones a test scripts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from confluent_kafka import KafkaError, KafkaException


class FakeMessage:
    def __init__(self, topic: str, partition: int, offset: int, value: bytes, key: bytes) -> None:
        self._topic, self._partition, self._offset = topic, partition, offset
        self._value, self._key = value, key

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def value(self) -> bytes:
        return self._value

    def key(self) -> bytes:
        return self._key

    def error(self) -> None:
        return None


class FakeConsumer:
    def __init__(self) -> None:
        self.seeks: list[tuple[str, int, int]] = []

    def consumer_group_metadata(self) -> object:
        return object()

    def seek(self, tp: Any) -> None:
        self.seeks.append((tp.topic, tp.partition, tp.offset))


class FakeProducer:
    """Records every call; ``failures[name]`` lists errors the next calls of ``name`` raise."""

    def __init__(self, failures: dict[str, list[KafkaError]] | None = None) -> None:
        self.calls: list[str] = []
        self.produced: list[bytes] = []
        self.failures = failures or {}

    def _call(self, name: str) -> None:
        self.calls.append(name)
        queue = self.failures.get(name)
        if queue:
            raise KafkaException(queue.pop(0))

    def begin_transaction(self) -> None:
        self._call("begin")

    def produce(self, topic: str, key: bytes, value: bytes) -> None:
        self.produced.append(value)

    def poll(self, _timeout: float) -> int:
        return 0

    def send_offsets_to_transaction(self, *_args: Any) -> None:
        self._call("send_offsets")

    def commit_transaction(self, _timeout: float) -> None:
        self._call("commit")

    def abort_transaction(self, _timeout: float) -> None:
        self._call("abort")


def error(code: int, **flags: bool) -> KafkaError:
    return KafkaError(code, "scripted", **flags)


def repeat(times: int, make: Callable[[], KafkaError]) -> list[KafkaError]:
    return [make() for _ in range(times)]
