"""Kafka clients configured the one way this product uses them, and topic administration."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewTopic,
    ResourceType,
)

from compliance.config import Settings
from compliance.errors import ConfigurationError
from compliance.topics import TopicSpec, every_topic
from compliance.watchdog import Watchdog

log = logging.getLogger(__name__)


def _base(settings: Settings) -> dict[str, Any]:
    return {"bootstrap.servers": settings.kafka_bootstrap, **security_config(settings)}


def security_config(settings: Settings) -> dict[str, Any]:
    """How every client connects: TLS and a SASL login for a managed Kafka, nothing for a
    local PLAINTEXT broker. librdkafka never logs the password."""
    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return {}
    config: dict[str, Any] = {"security.protocol": protocol}
    if protocol.startswith("SASL_"):
        assert settings.kafka_sasl_password is not None  # the settings require it
        config |= {
            "sasl.mechanism": settings.kafka_sasl_mechanism,
            "sasl.username": settings.kafka_sasl_username,
            "sasl.password": settings.kafka_sasl_password.get_secret_value(),
        }
    if protocol.endswith("SSL") and settings.kafka_ssl_ca_location is not None:
        config["ssl.ca.location"] = str(settings.kafka_ssl_ca_location)
    return config


def admin(settings: Settings) -> AdminClient:
    return AdminClient(_base(settings))


def require_broker(settings: Settings, timeout_s: float = 10.0) -> None:
    """Stop start-up with one clear sentence when the broker does not answer."""
    try:
        admin(settings).list_topics(timeout=timeout_s)
    except KafkaException:
        raise ConfigurationError(
            f"cannot reach Kafka at {settings.kafka_bootstrap} "
            "(start it with `make services`, or set COMPLIANCE_KAFKA_BOOTSTRAP)"
        ) from None


def consumer(settings: Settings, group: str, **overrides: Any) -> Consumer:
    """A consumer that never commits on its own and reads only committed transactions."""
    config = {
        **_base(settings),
        "group.id": group,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        "isolation.level": "read_committed",
        # KIP-848 consumer groups: the broker assigns partitions incrementally, with no
        # stop-the-world rebalance; a crashed member's partitions move on when its session
        # expires (group.consumer.session.timeout.ms on the broker).
        "group.protocol": "consumer",
        **overrides,
    }
    return Consumer(config)


def subscribe(
    consumer: Consumer,
    topics: list[str],
    timeout_s: float = 30.0,
    on_revoke: Callable[[list[TopicPartition]], None] | None = None,
) -> None:
    """Subscribe once the client's metadata knows every topic.

    Missing topics stop start-up with a clear sentence. Waiting for the metadata also avoids a
    start-up race of KIP-848 groups, where partitions of a topic the client has no metadata for
    yet are assigned and then silently not fetched. ``on_revoke`` hears of partitions taken
    away, whether handed over cleanly or lost.
    """
    deadline = time.monotonic() + timeout_s
    missing = list(topics)
    while missing:
        known = consumer.list_topics(timeout=10).topics
        missing = [t for t in topics if t not in known or known[t].error is not None]
        if missing and time.monotonic() > deadline:
            raise ConfigurationError(
                f"topics missing on the broker: {', '.join(missing)} "
                "(create them with `compliance topics create`)"
            )
        if missing:
            time.sleep(0.5)
    if on_revoke is None:
        consumer.subscribe(topics)
        return

    def revoked(_consumer: Consumer, partitions: list[TopicPartition]) -> None:
        on_revoke(partitions)

    consumer.subscribe(topics, on_revoke=revoked, on_lost=revoked)


def transaction_deadline_s(settings: Settings) -> float:
    """How long a transaction call may block before its watchdog ends the process: twice the
    timeout the call is given, plus 10 s."""
    return 2 * settings.transaction_call_timeout_s + 10


def transactional_producer(
    settings: Settings, transactional_id: str, watchdog: Watchdog | None = None
) -> Producer:
    """A transactional producer, its transactions initialised: a previous producer with the
    same id is fenced, and a transaction it left open is finished or aborted first."""
    producer = Producer(
        {
            **_base(settings),
            "transactional.id": transactional_id,
            "transaction.timeout.ms": settings.transaction_timeout_ms,
            "enable.idempotence": True,
            "linger.ms": 5,
            "compression.type": "lz4",
        }
    )
    timeout_s = settings.transaction_call_timeout_s
    if watchdog is None:
        producer.init_transactions(timeout_s)
    else:
        watchdog.run(
            "init_transactions",
            lambda: producer.init_transactions(timeout_s),
            transaction_deadline_s(settings),
        )
    return producer


def idempotent_producer(settings: Settings) -> Producer:
    return Producer(
        {
            **_base(settings),
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            "compression.type": "lz4",
        }
    )


def create_topics(settings: Settings, specs: tuple[TopicSpec, ...] | None = None) -> list[str]:
    """Create the product's topics that do not exist yet; return the names created. Topics
    that exist get the settings their meaning depends on (``TopicSpec.config``, such as the
    broker stamping consents on append), so an upgraded deployment has them too; their
    partitions and retention are the operator's to change and are left as they are."""
    client = admin(settings)
    existing = set(client.list_topics(timeout=10).topics)
    _settle_configs(
        client,
        {settings.topic(s): s for s in (specs or every_topic()) if settings.topic(s) in existing},
    )
    wanted = [
        NewTopic(
            settings.topic(spec),
            num_partitions=spec.partitions,
            replication_factor=-1,
            config={"retention.ms": str(spec.retention_ms), **dict(spec.config)},
        )
        for spec in (specs or every_topic())
        if settings.topic(spec) not in existing
    ]
    created: list[str] = []
    if not wanted:
        return created
    for name, future in client.create_topics(wanted, operation_timeout=30).items():
        try:
            future.result()
            created.append(name)
        except KafkaException as exc:
            if exc.args[0].name() != "TOPIC_ALREADY_EXISTS":
                raise
    return created


def _settle_configs(client: AdminClient, existing: dict[str, TopicSpec]) -> None:
    """Set each existing topic's ``TopicSpec.config`` entries (only those, incrementally)."""
    resources = [
        ConfigResource(
            ResourceType.TOPIC,
            name,
            incremental_configs=[
                ConfigEntry(key, value, incremental_operation=AlterConfigOpType.SET)
                for key, value in spec.config
            ],
        )
        for name, spec in existing.items()
        if spec.config
    ]
    if not resources:
        return
    for resource, future in client.incremental_alter_configs(resources).items():
        try:
            future.result(timeout=30)
        except KafkaException as exc:
            raise ConfigurationError(
                f"topic {resource.name} could not be given its settings: {exc.args[0]}"
            ) from exc
