"""A processor and a broker crash: the classifier runs against a broker of this test's own
(``private_services``), which is killed with SIGKILL mid-run and started again after 10 s.
The classifier must either recover by itself, or exit non-zero with a clear line for its
supervisor (here: the test) to restart it; it must never hang. Either way the consumer lag
reaches zero (waited on through the committed offsets) and every document is classified
exactly once on the output topic (counted by event id, read_committed)."""

from __future__ import annotations

import random
import signal
import time
import uuid
from collections import Counter

import pytest
from confluent_kafka import Consumer, KafkaException, TopicPartition

from compliance import kafka_io
from compliance.codec import registry
from compliance.config import PROJECT_ROOT, Settings
from compliance.publisher import Publisher, arrival_event
from compliance.topics import DOCUMENTS_ARRIVED, DOCUMENTS_CLASSIFIED

from .conftest import LOG_DIR, Processes, read_topic
from .private_services import PrivateKafka

pytestmark = pytest.mark.integration
SAMPLE = PROJECT_ROOT / "samples" / "documents" / "passport_halvorsen.txt"
DOCUMENTS = 4000
# What a processor says when it gives up on a stuck or unrecoverable client (runner, watchdog).
CLEAR_EXITS = ("still blocked after", "could not be brought back", "compliance:")


def publish_arrivals(settings: Settings) -> None:
    """One document per customer, so they spread over every partition."""
    with Publisher(settings) as publisher:
        for n in range(DOCUMENTS):
            source = settings.topic_prefix
            publisher.publish(arrival_event(SAMPLE, source_system=source, customer_id=f"C-{n}"))


def lag(settings: Settings, group: str) -> int | None:
    """Records of documents.arrived the group has not committed yet; None while the broker
    does not answer."""
    topic = settings.topic(DOCUMENTS_ARRIVED)
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap, "group.id": group})
    try:
        partitions = consumer.list_topics(topic, timeout=5).topics[topic].partitions
        tps = [TopicPartition(topic, p) for p in partitions]
        committed = {tp.partition: tp.offset for tp in consumer.committed(tps, timeout=5)}
        behind = 0
        for tp in tps:
            _, high = consumer.get_watermark_offsets(tp, timeout=5)
            behind += high - max(committed[tp.partition], 0)
        return behind
    except KafkaException:
        return None
    finally:
        consumer.close()


def wait_lag_zero_or_exit(
    settings: Settings, processes: Processes, name: str, timeout_s: float
) -> int | None:
    """Wait until the group's lag is zero (returns None) or the processor exits (returns its
    exit status); fail when neither happens in time: that is a hang."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        proc = processes.running[name]
        if proc.poll() is not None:
            return proc.returncode
        if lag(settings, settings.group(name)) == 0:
            return None
        time.sleep(0.5)
    raise AssertionError(f"{name}: lag not zero and still running after {timeout_s:g} s (hung?)")


def test_classifier_survives_a_broker_crash_or_exits_clearly_and_drains_after_a_restart(
    own_kafka: PrivateKafka,
) -> None:
    seed = random.randrange(2**32)
    print(f"seed {seed}")  # the moment of the crash is drawn from it
    rng = random.Random(seed)
    prefix = f"k{uuid.uuid4().hex[:10]}."
    settings = Settings(
        kafka_bootstrap=own_kafka.bootstrap,
        topic_prefix=prefix,
        instance_id=f"test-{prefix}",
        transaction_timeout_ms=10_000,
    )
    kafka_io.create_topics(settings)
    publish_arrivals(settings)
    processes = Processes(settings)
    env = {
        "COMPLIANCE_KAFKA_BOOTSTRAP": own_kafka.bootstrap,
        "COMPLIANCE_TRANSACTION_CALL_TIMEOUT_S": "5",  # the watchdog's deadline: 20 s
        "COMPLIANCE_LOCAL_BATCH_SIZE": "50",
    }
    group = settings.group("classifier")
    try:
        processes.start("classifier", **env)
        crash_after = rng.randint(200, 1500)
        deadline = time.monotonic() + 120
        while (lag(settings, group) or DOCUMENTS) > DOCUMENTS - crash_after:
            processes.assert_alive()
            assert time.monotonic() < deadline, "the classifier made no progress"
            time.sleep(0.2)
        print(f"lag {lag(settings, group)}: broker SIGKILL, down 10 s")
        own_kafka.restart(crash=True, down_s=10)
        print("broker answers again")

        exit_code = wait_lag_zero_or_exit(settings, processes, "classifier", 240)
        if exit_code is not None:
            log = (LOG_DIR / f"{prefix}classifier.log").read_text()
            print(f"the classifier exited with {exit_code}; restarted")
            assert exit_code != 0
            assert any(line in log for line in CLEAR_EXITS), log[-3000:]
            processes.start("classifier", **env)
            assert wait_lag_zero_or_exit(settings, processes, "classifier", 240) is None
        else:
            print("the classifier recovered by itself")
        classifier = processes.running["classifier"]
        classifier.send_signal(signal.SIGTERM)
        assert classifier.wait(30) == 0, "SIGTERM did not stop the classifier cleanly"
    finally:
        processes.stop_all()

    classified = [
        registry().decode(value)[1]["envelope"]["event_id"]
        for value in read_topic(settings, DOCUMENTS_CLASSIFIED, timeout_s=60)
    ]
    doubled = [event_id for event_id, n in Counter(classified).items() if n > 1]
    assert doubled == [], f"{len(doubled)} documents classified twice"
    assert len(classified) == DOCUMENTS, f"{DOCUMENTS - len(classified)} documents lost"
