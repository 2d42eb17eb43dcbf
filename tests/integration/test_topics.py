"""Topic creation on the real broker: a topic made before a setting its meaning depends on
existed (an upgraded deployment) gets that setting from `topics create`."""

from __future__ import annotations

import uuid

import pytest
from confluent_kafka.admin import ConfigResource, NewTopic, ResourceType

from compliance import kafka_io
from compliance.config import Settings
from compliance.topics import CONSENTS_RECORDED

pytestmark = pytest.mark.integration


def _timestamp_type(settings: Settings, topic: str) -> str:
    client = kafka_io.admin(settings)
    resource = ConfigResource(ResourceType.TOPIC, topic)
    configs = client.describe_configs([resource])[resource].result(timeout=30)
    return str(configs["message.timestamp.type"].value)


def test_an_existing_consents_topic_is_given_broker_append_times(
    base_settings: Settings, broker: object
) -> None:
    settings = base_settings.model_copy(update={"topic_prefix": f"t{uuid.uuid4().hex[:10]}."})
    name = settings.topic(CONSENTS_RECORDED)
    client = kafka_io.admin(settings)
    made = client.create_topics([NewTopic(name, num_partitions=1, replication_factor=-1)])
    made[name].result(timeout=30)
    assert _timestamp_type(settings, name) == "CreateTime"  # as an older release made it

    created = kafka_io.create_topics(settings)

    assert name not in created
    assert _timestamp_type(settings, name) == "LogAppendTime"
    client.delete_topics([settings.topic(spec) for spec in kafka_io.every_topic()])
