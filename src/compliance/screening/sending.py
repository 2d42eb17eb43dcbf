"""Producing screening's events to Kafka and waiting until the broker has them."""

from __future__ import annotations

from confluent_kafka import KafkaError, Message, Producer

from compliance import kafka_io
from compliance.codec import Record, SchemaRegistry, registry
from compliance.config import Settings
from compliance.errors import RetryableError
from compliance.events import subject_key
from compliance.topics import TopicSpec


class EventSender:
    """An idempotent producer; ``flush`` returns only when every event sent so far is
    acknowledged by the broker, and raises RetryableError otherwise."""

    def __init__(
        self,
        settings: Settings,
        producer: Producer | None = None,
        codec: SchemaRegistry | None = None,
    ) -> None:
        self.settings = settings
        # With a keyring (``compliance.subject_keyring.sealing_codec``) personal fields are
        # sealed; events with personal fields (exceptions) must be sent with one.
        self.codec = codec or registry()
        self.producer = producer or kafka_io.idempotent_producer(settings)
        self._errors: list[str] = []
        self.sent = 0

    def send(self, topic: TopicSpec, event_type: str, record: Record) -> None:
        self.producer.produce(
            self.settings.topic(topic),
            key=subject_key(record),
            value=self.codec.encode(event_type, record),
            on_delivery=self._delivered,
        )
        self.sent += 1
        self.producer.poll(0)

    def flush(self, timeout_s: float = 30.0) -> None:
        if self.producer.flush(timeout_s) > 0:
            raise RetryableError(f"events not acknowledged by Kafka within {timeout_s:g} s")
        if self._errors:
            errors, self._errors = self._errors, []
            raise RetryableError("Kafka delivery failed: " + "; ".join(errors[:3]))

    def _delivered(self, err: KafkaError | None, _msg: Message) -> None:
        if err is not None:
            self._errors.append(str(err))
