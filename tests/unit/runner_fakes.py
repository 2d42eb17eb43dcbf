"""Stand-ins for the Kafka client objects the runner touches, so its transaction logic can be
driven without a broker: consumed records, a consumer that records seeks and answers with the
offsets a test says were committed, a producer that records calls and fails the ones a test
scripts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from confluent_kafka import KafkaError, KafkaException, TopicPartition


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
    """``committed_offsets[(topic, partition)]`` is (offset, metadata) as the group has it."""

    def __init__(self, committed: dict[tuple[str, int], tuple[int, str | None]] | None = None):
        self.seeks: list[tuple[str, int, int]] = []
        self.committed_offsets = committed or {}
        self.committed_asked: list[tuple[str, int]] = []

    def consumer_group_metadata(self) -> object:
        return object()

    def seek(self, tp: Any) -> None:
        self.seeks.append((tp.topic, tp.partition, tp.offset))

    def committed(self, partitions: list[TopicPartition], timeout: float) -> list[TopicPartition]:
        answer = []
        for tp in partitions:
            self.committed_asked.append((tp.topic, tp.partition))
            offset, metadata = self.committed_offsets.get((tp.topic, tp.partition), (-1001, None))
            answer.append(TopicPartition(tp.topic, tp.partition, offset, *[metadata or ""]))
        return answer


class FakeProducer:
    """Records every call; ``failures[name]`` lists errors the next calls of ``name`` raise."""

    def __init__(self, failures: dict[str, list[KafkaError]] | None = None) -> None:
        self.calls: list[str] = []
        self.produced: list[bytes] = []
        self.offsets: list[TopicPartition] = []
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

    def send_offsets_to_transaction(self, offsets: list[TopicPartition], *_args: Any) -> None:
        self._call("send_offsets")
        self.offsets = list(offsets)

    def commit_transaction(self, _timeout: float) -> None:
        self._call("commit")

    def abort_transaction(self, _timeout: float) -> None:
        self._call("abort")

    def init_transactions(self, _timeout: float) -> None:
        self._call("init")

    def purge(self, **_flags: bool) -> None:
        self.calls.append("purge")

    def close(self) -> bool:
        self._call("close")
        return True


def error(code: int, **flags: bool) -> KafkaError:
    return KafkaError(code, "scripted", **flags)


def repeat(times: int, make: Callable[[], KafkaError]) -> list[KafkaError]:
    return [make() for _ in range(times)]
