"""The notifier end to end: `compliance run notifier` as a process of its own, the real broker
and PostgreSQL, and tests/support/webhook_stub.py standing in for Slack and Teams.

Each test writes its own routes file (webhook URLs in environment variables, as deployed) and
publishes exception events the way the checker does (personal fields sealed). Waits are on
what can be observed: the stub's requests, the outbox rows, the records on a topic.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import urllib.request
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import ConsumerGroupTopicPartitions, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from sqlalchemy import Engine, func, select, update

from compliance import kafka_io
from compliance.codec import Record, registry
from compliance.config import Settings
from compliance.events import subject_key
from compliance.notify.store import DELIVERED, FAILED, PENDING, Outbox, Queued, outbox
from compliance.subject_keyring import DatabaseKeyring
from compliance.topics import COMPLIANCE_EXCEPTIONS, NOTIFICATIONS_FAILED
from tests.support.exception_events import DOCUMENT_NUMBER, HOLDER, rule_exception
from tests.support.webhook_stub import OK, Reply, WebhookStub, rate_limited, server_error

from .conftest import LOG_DIR, Processes, processor_env, read_topic, wait_for

SLACK_PATH, TEAMS_PATH = "/services/T1/B1/slack-secret", "/workflows/teams-secret"
_EVENT_ID = re.compile(r"Exception ([0-9a-f-]{36})")


def routes_file(tmp_path: Path, delivery: str = "", **route_extra: str) -> Path:
    """Two routes: Slack takes high and critical sanctions and KYC exceptions, Teams takes
    every exception; ``delivery`` lines override the delivery settings."""
    slack_show = route_extra.get(
        "slack_show", "[severity, category, rule_id, customer_id, document_id, reason]"
    )
    path = tmp_path / "notifier.yaml"
    path.write_text(
        f"""
delivery:
  attempt_timeout_s: 2
  claim_lease_s: 4
  poll_interval_s: 0.2
  backoff_initial_s: 0.2
  backoff_max_s: 1
{delivery}
routes:
  - name: officers-slack
    kind: slack
    webhook_url_env: TEST_SLACK_URL
    severities: [high, critical]
    categories: [sanctions, kyc]
    show: {slack_show}
  - name: officers-teams
    kind: teams
    webhook_url_env: TEST_TEAMS_URL
    show: [severity, category, kind, customer_id, document_id]
""",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def stub() -> Iterator[WebhookStub]:
    with WebhookStub() as server:
        yield server


def start_notifier(processes: Processes, stub: WebhookStub, routes: Path, **env: str) -> None:
    processes.start(
        "notifier",
        COMPLIANCE_NOTIFIER_ROUTES_FILE=str(routes),
        COMPLIANCE_NOTIFIER_REVIEW_BASE_URL="https://review.example",
        TEST_SLACK_URL=stub.url(SLACK_PATH),
        TEST_TEAMS_URL=stub.url(TEAMS_PATH),
        **env,
    )


def publish(settings: Settings, engine: Engine, records: list[Record]) -> None:
    """As the checker publishes exceptions: keyed by subject, personal fields sealed."""
    codec = registry().with_keyring(DatabaseKeyring(engine))
    producer = kafka_io.idempotent_producer(settings)
    for record in records:
        producer.produce(
            settings.topic(COMPLIANCE_EXCEPTIONS),
            key=subject_key(record),
            value=codec.encode("ComplianceException", record),
        )
    assert producer.flush(30) == 0


def rows(engine: Engine, settings: Settings, status: str | None = None) -> int:
    query = select(func.count()).where(outbox.c.scope == settings.topic_prefix)
    if status is not None:
        query = query.where(outbox.c.status == status)
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def event_id_of(body: Any) -> str:
    """The exception a posted message is about (its context line names it)."""
    match = _EVENT_ID.search(str(body))
    assert match, "a message names its exception"
    return match.group(1)


def delivered_per_exception(stub: WebhookStub, path: str) -> Counter[str]:
    return Counter(event_id_of(r.body) for r in stub.requests(path) if r.status == 200)


def failure_records(settings: Settings) -> list[Record]:
    codec = registry()
    return [codec.decode(v)[1] for v in read_topic(settings, NOTIFICATIONS_FAILED.name) if v]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- message shape and routing ---------------------------------------------------------------


def test_each_exception_reaches_the_routes_that_take_it_masked_as_configured(
    settings: Settings, engine: Engine, processes: Processes, stub: WebhookStub, tmp_path: Path
) -> None:
    sanctions = rule_exception("C-100", rule_id="aml.sanctions-name-screen", severity="critical")
    kyc_low = rule_exception("C-200", severity="low", document_id="passport-445566")
    publish(settings, engine, [sanctions, kyc_low])
    start_notifier(processes, stub, routes_file(tmp_path))

    wait_for(lambda: stub.count() >= 3, 60, "three posts", processes)
    wait_for(lambda: rows(engine, settings, DELIVERED) == 3, 30, "three rows delivered", processes)
    [slack] = stub.requests(SLACK_PATH)
    teams = stub.requests(TEAMS_PATH)
    assert event_id_of(slack.body) == sanctions["envelope"]["event_id"]  # low: not Slack's
    assert {event_id_of(r.body) for r in teams} == {
        sanctions["envelope"]["event_id"],
        kyc_low["envelope"]["event_id"],
    }

    blocks = slack.body["blocks"]
    assert [b["type"] for b in blocks] == ["header", "section", "section", "context", "actions"]
    assert blocks[0]["text"]["text"] == "Critical Sanctions exception: aml.sanctions-name-screen"
    assert blocks[-1]["elements"][0]["url"] == "https://review.example/?q=C-100"
    reason = blocks[2]["text"]["text"]
    assert "differs from" in reason and "••••••Q90" in reason

    card = next(r.body for r in teams if event_id_of(r.body) == kyc_low["envelope"]["event_id"])[
        "attachments"
    ][0]
    assert card["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert card["content"]["version"] == "1.4"
    facts = {f["title"]: f["value"] for f in card["content"]["body"][1]["facts"]}
    assert facts["Document"] == "••••••••••••566" and facts["Customer"] == "C-200"
    for request in stub.requests():
        assert DOCUMENT_NUMBER not in str(request.body) and HOLDER not in str(request.body)
    with engine.connect() as conn:  # nothing of the messages is kept once delivered
        kept = conn.execute(
            select(outbox.c.notice).where(outbox.c.scope == settings.topic_prefix)
        ).all()
    assert [row.notice for row in kept] == [None, None, None]
    processes.stop_all()
    log = (LOG_DIR / f"{settings.topic_prefix}notifier.log").read_text()
    assert "slack-secret" not in log and "teams-secret" not in log  # URLs are credentials


# --- retries ---------------------------------------------------------------------------------


def test_a_500_and_a_429_are_retried_and_the_retry_after_is_waited_out(
    settings: Settings, engine: Engine, processes: Processes, stub: WebhookStub, tmp_path: Path
) -> None:
    stub.answer(SLACK_PATH, server_error(), rate_limited("3"), then=OK)
    record = rule_exception("C-300")
    publish(settings, engine, [record])
    start_notifier(processes, stub, routes_file(tmp_path))

    wait_for(lambda: stub.count(SLACK_PATH, 200) == 1, 60, "the third attempt", processes)
    first, second, third = stub.requests(SLACK_PATH)
    assert [first.status, second.status, third.status] == [500, 429, 200]
    assert third.at - second.at >= 3.0  # Retry-After: 3
    assert second.at - first.at >= 0.02  # backed off after the 500, not at once
    assert {event_id_of(r.body) for r in (first, second, third)} == {record["envelope"]["event_id"]}
    wait_for(lambda: rows(engine, settings, DELIVERED) == 2, 30, "both delivered", processes)
    with engine.connect() as conn:
        attempts = conn.execute(
            select(outbox.c.attempts).where(
                outbox.c.scope == settings.topic_prefix, outbox.c.route == "officers-slack"
            )
        ).scalar_one()
    assert attempts == 3


def test_a_dead_webhook_does_not_hold_up_another_route_and_is_dead_lettered_with_the_reason(
    settings: Settings, engine: Engine, processes: Processes, stub: WebhookStub, tmp_path: Path
) -> None:
    stub.answer(SLACK_PATH, then=Reply(500, b"down", delay_s=0.5))  # always, and slowly
    records = [rule_exception(f"C-4{n:02}") for n in range(20)]
    publish(settings, engine, records)
    port = free_port()
    routes = routes_file(tmp_path, "  max_attempts: 3\n  in_flight_per_route: 4")
    start_notifier(processes, stub, routes, COMPLIANCE_METRICS_PORT=str(port))

    wait_for(
        lambda: len(delivered_per_exception(stub, TEAMS_PATH)) == 20,
        60,
        "Teams to get all 20",
        processes,
    )
    assert rows(engine, settings, FAILED) < 20  # Slack's retries were still running meanwhile

    wait_for(lambda: rows(engine, settings, FAILED) == 20, 90, "Slack's 20 to fail", processes)
    wait_for(lambda: len(failure_records(settings)) >= 20, 60, "20 failure records", processes)
    failures = failure_records(settings)
    assert len(failures) == 20
    assert {f["exception_event_id"] for f in failures} == {
        r["envelope"]["event_id"] for r in records
    }
    for failure in failures:
        assert failure["route"] == "officers-slack"
        assert failure["attempts"] == 3 and failure["last_status"] == 500
        assert failure["reason"].startswith("HTTP 500; gave up after 3 attempt(s)")
    assert stub.count(SLACK_PATH) == 60
    metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read()
    text = metrics.decode()
    assert 'compliance_notifications_failed_total{route="officers-slack"} 20.0' in text
    assert 'compliance_notifications_retried_total{route="officers-slack"} 40.0' in text
    assert 'compliance_notifications_sent_total{route="officers-teams"} 20.0' in text


def test_a_webhook_that_refuses_the_message_is_not_retried(
    settings: Settings, engine: Engine, processes: Processes, stub: WebhookStub, tmp_path: Path
) -> None:
    stub.answer(SLACK_PATH, then=Reply(404, b"no_service"))
    publish(settings, engine, [rule_exception("C-500")])
    start_notifier(processes, stub, routes_file(tmp_path))
    wait_for(lambda: len(failure_records(settings)) == 1, 60, "the failure record", processes)
    [failure] = failure_records(settings)
    assert failure["attempts"] == 1 and failure["last_status"] == 404
    assert "refused" in failure["reason"]
    assert stub.count(SLACK_PATH) == 1


# --- crashes, restarts, re-reads --------------------------------------------------------------


def rewind_group(settings: Settings) -> None:
    """The notifier's committed offsets back to the start (as a replay or a lost commit)."""
    client = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
    topic = settings.topic(COMPLIANCE_EXCEPTIONS)
    partitions = [TopicPartition(topic, p, 0) for p in range(COMPLIANCE_EXCEPTIONS.partitions)]
    request = [ConsumerGroupTopicPartitions(settings.group("notifier"), partitions)]
    for future in client.alter_consumer_group_offsets(request).values():
        altered = future.result(timeout=30)
        assert all(tp.error is None for tp in altered.topic_partitions)


def committed_to_end(settings: Settings) -> bool:
    consumer = kafka_io.consumer(settings, settings.group("notifier"))
    try:
        topic = settings.topic(COMPLIANCE_EXCEPTIONS)
        asked = [TopicPartition(topic, p) for p in range(COMPLIANCE_EXCEPTIONS.partitions)]
        for tp in consumer.committed(asked, timeout=10):
            high = consumer.get_watermark_offsets(TopicPartition(topic, tp.partition), 10)[1]
            if tp.offset < high and high > 0:
                return False
        return True
    finally:
        consumer.close()


def test_no_notification_is_posted_twice_after_kill_9_and_restart(
    settings: Settings, engine: Engine, processes: Processes, stub: WebhookStub, tmp_path: Path
) -> None:
    # The first 60 posts are taken; then the webhook rate-limits every post for 3 s at a time,
    # so the notifier is killed with rows delivered, rows pending and nothing in flight.
    stub.answer(SLACK_PATH, *[OK] * 60, then=rate_limited("3"))
    records = [rule_exception(f"C-6{n:02}") for n in range(100)]
    publish(settings, engine, records)
    routes = routes_file(tmp_path, "  max_attempts: 50\n  in_flight_per_route: 8")
    start_notifier(processes, stub, routes)

    wait_for(lambda: stub.count(SLACK_PATH, 429) > 0, 60, "the first 429", processes)
    # Nothing held: no post in flight, every outcome written (the route waits out its 429).
    wait_for(lambda: claimed(engine, settings) == 0, 30, "no row held", processes)
    processes.kill("notifier")
    assert rows(engine, settings, PENDING) > 0

    stub.answer(SLACK_PATH, then=OK)
    start_notifier(processes, stub, routes)
    wait_for(lambda: rows(engine, settings, DELIVERED) == 200, 90, "all delivered", processes)
    wait_for(lambda: committed_to_end(settings), 60, "offsets committed", processes)
    processes.stop_all()

    assert_each_posted_once(stub, records)
    assert rows(engine, settings) == 200


def test_exceptions_read_again_are_not_posted_again(
    settings: Settings, engine: Engine, processes: Processes, stub: WebhookStub, tmp_path: Path
) -> None:
    records = [rule_exception(f"C-8{n:02}") for n in range(30)]
    publish(settings, engine, records)
    routes = routes_file(tmp_path)
    start_notifier(processes, stub, routes)
    wait_for(lambda: rows(engine, settings, DELIVERED) == 60, 60, "all delivered", processes)
    wait_for(lambda: committed_to_end(settings), 60, "offsets committed", processes)
    processes.stop_all()

    rewind_group(settings)  # as a replay, or a commit lost in a rebalance
    assert not committed_to_end(settings)
    start_notifier(processes, stub, routes)
    wait_for(lambda: committed_to_end(settings), 60, "the re-read committed", processes)
    processes.stop_all()

    assert_each_posted_once(stub, records)
    assert stub.count() == 60


def test_two_notifiers_sharing_the_work_through_a_rebalance_post_each_notification_once(
    settings: Settings, engine: Engine, processes: Processes, stub: WebhookStub, tmp_path: Path
) -> None:
    stub.answer(SLACK_PATH, then=Reply(delay_s=0.2))
    stub.answer(TEAMS_PATH, then=Reply(delay_s=0.2))
    first = [rule_exception(f"C-9{n:02}") for n in range(100)]
    publish(settings, engine, first)
    routes = routes_file(tmp_path, "  in_flight_per_route: 4")
    start_notifier(processes, stub, routes)
    wait_for(lambda: stub.count() >= 8, 60, "the first posts", processes)
    port = free_port()
    log = LOG_DIR / f"{settings.topic_prefix}notifier-second.log"
    second = subprocess.Popen(  # a second copy joins: the group rebalances
        [sys.executable, "-m", "compliance", "run", "notifier"],
        env=processor_env(settings)
        | {
            "COMPLIANCE_INSTANCE_ID": f"{settings.instance_id}-second",
            "COMPLIANCE_METRICS_PORT": str(port),
            "COMPLIANCE_NOTIFIER_ROUTES_FILE": str(routes),
            "TEST_SLACK_URL": stub.url(SLACK_PATH),
            "TEST_TEAMS_URL": stub.url(TEAMS_PATH),
        },
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(lambda: "consuming" in log.read_text(), 60, "the second to consume", processes)
        later = [rule_exception(f"C-9{n:02}") for n in range(100, 200)]
        publish(settings, engine, later)
        wait_for(lambda: rows(engine, settings, DELIVERED) == 400, 120, "all 400", processes)
        assert second.poll() is None, "the second notifier stopped"
        scraped = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read()
    finally:
        second.terminate()
        second.wait(30)
    sent_by_second = re.findall(rb"compliance_notifications_sent_total\{[^}]*\} (\d+)", scraped)
    assert sum(float(n) for n in sent_by_second) > 0  # the work was shared
    assert_each_posted_once(stub, first + later)


def claimed(engine: Engine, settings: Settings) -> int:
    """Rows a notifier holds: being posted, or posted with the outcome not yet written."""
    query = select(func.count()).where(
        outbox.c.scope == settings.topic_prefix, outbox.c.claimed_by.is_not(None)
    )
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def assert_each_posted_once(stub: WebhookStub, records: list[Record]) -> None:
    wanted = {r["envelope"]["event_id"] for r in records}
    slack = delivered_per_exception(stub, SLACK_PATH)
    teams = delivered_per_exception(stub, TEAMS_PATH)
    assert set(slack) == wanted and set(teams) == wanted
    assert max(slack.values()) == 1 and max(teams.values()) == 1


# --- bad input and bad configuration ----------------------------------------------------------


def test_a_poison_record_goes_to_the_dead_letter_topic_once(
    settings: Settings, engine: Engine, processes: Processes, stub: WebhookStub, tmp_path: Path
) -> None:
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap})
    producer.produce(settings.topic(COMPLIANCE_EXCEPTIONS), key=b"C-700", value=b"not avro")
    assert producer.flush(30) == 0
    publish(settings, engine, [rule_exception("C-701")])
    routes = routes_file(tmp_path)
    start_notifier(processes, stub, routes)
    wait_for(lambda: rows(engine, settings, DELIVERED) == 2, 60, "the good one", processes)
    processes.kill("notifier")

    start_notifier(processes, stub, routes)
    publish(settings, engine, [rule_exception("C-702")])
    wait_for(lambda: rows(engine, settings, DELIVERED) == 4, 60, "the next one", processes)
    processes.stop_all()
    dead = [v for v in read_topic(settings, COMPLIANCE_EXCEPTIONS.dead_letter) if v]
    assert len(dead) == 1
    _, letter = registry().decode(dead[0])
    assert letter["failed_in"] == "notifier" and letter["source_key"] == b"C-700"


def test_a_route_whose_webhook_variable_is_unset_stops_start_up_naming_it(
    settings: Settings, tmp_path: Path
) -> None:
    env = processor_env(settings) | {
        "COMPLIANCE_NOTIFIER_ROUTES_FILE": str(routes_file(tmp_path)),
        "TEST_SLACK_URL": "https://hooks.slack.example/services/T/B/very-secret",
    }
    env.pop("TEST_TEAMS_URL", None)
    result = subprocess.run(
        [sys.executable, "-m", "compliance", "run", "notifier"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "TEST_TEAMS_URL is not set" in result.stderr
    assert "very-secret" not in result.stderr + result.stdout


def test_an_http_webhook_url_stops_start_up_outside_development_mode(
    settings: Settings, tmp_path: Path
) -> None:
    env = processor_env(settings) | {
        "COMPLIANCE_DEVELOPMENT_MODE": "false",
        "COMPLIANCE_NOTIFIER_ROUTES_FILE": str(routes_file(tmp_path)),
        "TEST_SLACK_URL": "https://hooks.slack.example/services/T/B/very-secret",
        "TEST_TEAMS_URL": "http://teams.example/workflows/plain-secret",
    }
    result = subprocess.run(
        [sys.executable, "-m", "compliance", "run", "notifier"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "TEST_TEAMS_URL holds an http:// URL" in result.stderr
    assert "https only" in result.stderr
    assert "plain-secret" not in result.stderr + result.stdout


# --- retention ---------------------------------------------------------------------------------


def old_delivered_rows(engine: Engine, settings: Settings, records: list[Record], age: timedelta):
    """Rows of ``records`` as a run long ago left them: delivered ``age`` ago, notice dropped."""
    store = Outbox(engine, settings.topic_prefix)
    store.add(
        [
            Queued(r["envelope"]["event_id"], "officers-teams", "C-0", "corr", {"fields": []})
            for r in records
        ]
    )
    ids = [r["envelope"]["event_id"] for r in records]
    with engine.begin() as conn:
        conn.execute(
            update(outbox)
            .where(outbox.c.scope == settings.topic_prefix, outbox.c.exception_event_id.in_(ids))
            .values(status=DELIVERED, notice=None, finished_at=func.now() - age)
        )


def test_delivered_rows_past_the_retention_are_pruned_in_batches_and_others_kept(
    settings: Settings, engine: Engine
) -> None:
    old = [rule_exception(f"C-R{n}") for n in range(5)]
    recent = [rule_exception("C-R9")]
    old_delivered_rows(engine, settings, old, timedelta(days=31))
    old_delivered_rows(engine, settings, recent, timedelta(days=29))
    store = Outbox(engine, settings.topic_prefix)
    store.add([Queued("pending-long", "officers-teams", "C-0", "corr", {"fields": []})])
    with engine.begin() as conn:  # pending, failed: not delivered, whatever their age
        conn.execute(
            update(outbox)
            .where(outbox.c.scope == settings.topic_prefix, outbox.c.status == PENDING)
            .values(created_at=func.now() - timedelta(days=90))
        )
    old_delivered_rows(engine, settings, [rule_exception("C-R8")], timedelta(days=60))
    with engine.begin() as conn:
        conn.execute(
            update(outbox)
            .where(outbox.c.scope == settings.topic_prefix, outbox.c.last_error.is_(None))
            .where(outbox.c.finished_at < func.now() - timedelta(days=59))
            .values(status=FAILED, last_error="HTTP 500")
        )

    assert store.prune_delivered(30 * 86400, batch=2) == 5  # three batches: 2, 2, 1
    with engine.connect() as conn:
        left = dict(
            conn.execute(
                select(outbox.c.exception_event_id, outbox.c.status).where(
                    outbox.c.scope == settings.topic_prefix
                )
            ).all()
        )
    assert sorted(left.values()) == [DELIVERED, FAILED, PENDING]
    assert recent[0]["envelope"]["event_id"] in left
    assert store.prune_delivered(30 * 86400) == 0


def test_the_notifier_prunes_past_the_retention_and_does_not_notify_older_exceptions(
    settings: Settings, engine: Engine, processes: Processes, stub: WebhookStub, tmp_path: Path
) -> None:
    pruned = [rule_exception(f"C-P{n}") for n in range(3)]
    old_delivered_rows(engine, settings, pruned, timedelta(days=3))
    too_old = rule_exception("C-P8")
    too_old["envelope"]["occurred_at"] = datetime.now(UTC) - timedelta(days=2)
    fresh = rule_exception("C-P9")
    publish(settings, engine, [too_old, fresh])
    routes = routes_file(tmp_path, "  max_age_s: 3600\n  delivered_retention_days: 1")
    start_notifier(processes, stub, routes)

    wait_for(lambda: rows(engine, settings, DELIVERED) == 2, 60, "the fresh one", processes)
    wait_for(lambda: committed_to_end(settings), 60, "offsets committed", processes)
    processes.stop_all()
    assert rows(engine, settings) == 2  # the three old rows pruned, none made for the too-old
    assert {event_id_of(r.body) for r in stub.requests()} == {fresh["envelope"]["event_id"]}
