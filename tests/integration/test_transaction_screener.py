"""The transaction screener through the real broker and database, run as
``compliance run transaction-screener`` processes that tests SIGKILL like a crash would.

Each test publishes real-looking payments with ``Publisher.publish_transaction`` on its own
topics, then waits for what the screener committed (read_committed): check results, alerts
(exception events) and dead letters.
"""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import KafkaException, Producer

from compliance import kafka_io
from compliance.audit.store import connect, create_schema
from compliance.codec import Record, SchemaRegistry, registry
from compliance.config import Settings
from compliance.publisher import Publisher
from compliance.subject_keyring import DatabaseKeyring
from compliance.topics import COMPLIANCE_CHECKS, COMPLIANCE_EXCEPTIONS, TRANSACTIONS_SUBMITTED
from compliance.transactions.model import Transaction, transaction_record

from .conftest import LOG_DIR, processor_env, read_topic, wait_for
from .private_services import PrivatePostgres

pytestmark = pytest.mark.integration
NAME = "transaction-screener"
MONDAY = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class Screeners:
    """``compliance run transaction-screener`` copies, each with its own instance id and
    state folder; always stopped at the end of the test."""

    def __init__(self, settings: Settings, tmp_path: Path) -> None:
        self.settings = settings
        self.tmp_path = tmp_path
        self.running: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, copy: str, state: str | None = None, **extra_env: str) -> None:
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        log = (LOG_DIR / f"{self.settings.topic_prefix}{NAME}-{copy}.log").open("ab")
        env = (
            processor_env(self.settings)
            | {
                "COMPLIANCE_INSTANCE_ID": f"{self.settings.instance_id}-{copy}",
                "COMPLIANCE_TRANSACTIONS_STATE_DIR": str(self.tmp_path / (state or copy)),
            }
            | extra_env
        )
        self.running[copy] = subprocess.Popen(
            [sys.executable, "-m", "compliance", "run", NAME],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )

    def kill(self, copy: str) -> None:
        proc = self.running.pop(copy)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)

    def assert_alive(self) -> None:
        for copy, proc in self.running.items():
            assert proc.poll() is None, f"screener {copy} exited with {proc.returncode}"

    def stop_all(self) -> None:
        for proc in self.running.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.running.values():
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.running.clear()


@pytest.fixture
def screeners(settings: Settings, tmp_path: Path) -> Any:
    running = Screeners(settings, tmp_path)
    yield running
    running.stop_all()


def deposit(tx_id: str, hours: float, account: str = "DE89370400440532013000") -> Transaction:
    return Transaction(
        transaction_id=tx_id,
        booked_at=MONDAY + timedelta(hours=hours),
        amount=Decimal("9500.00"),
        currency="EUR",
        direction="in",
        account_id=account,
        channel="cash",
        account_owner="C-1001",
        reference="cash deposit at branch 12",
    )


def publish(
    settings: Settings, *payments: Transaction, codec: SchemaRegistry | None = None
) -> None:
    """Published as upstream systems do, sealed with the keys of ``settings``'s database
    (or ``codec``'s, for a screener on a database of its own)."""
    with Publisher(settings, codec=codec) as publisher:
        for tx in payments:
            publisher.publish_transaction(tx, source_system="core-banking")


@functools.cache
def opening(database_dsn: str) -> SchemaRegistry:
    """Decodes with the subjects' keys: the screener seals its check inputs and exceptions."""
    return registry().with_keyring(DatabaseKeyring(connect(database_dsn, pool_size=1)))


def events(
    settings: Settings, topic: str, codec: SchemaRegistry | None = None
) -> list[tuple[str, Record]]:
    codec = codec or opening(settings.database_dsn)
    return [codec.decode(value) for value in read_topic(settings, topic)]


def checks(settings: Settings, codec: SchemaRegistry | None = None) -> list[Record]:
    found = events(settings, COMPLIANCE_CHECKS.name, codec)
    return [r for _, r in found if r["rule_id"].startswith("tr")]


def alerts(
    settings: Settings, rule_id: str | None = None, codec: SchemaRegistry | None = None
) -> list[Record]:
    found = [r for _, r in events(settings, COMPLIANCE_EXCEPTIONS.name, codec)]
    return [r for r in found if rule_id is None or r["rule_id"] == rule_id]


def wait_for_checks(
    settings: Settings,
    screeners: Screeners,
    ids: set[str],
    what: str,
    codec: SchemaRegistry | None = None,
) -> None:
    def screened() -> bool:
        screeners.assert_alive()
        try:
            return ids <= {r["document_id"] for r in checks(settings, codec)}
        except AssertionError:  # a topic just created: its partition leaders are not known yet
            return False

    wait_for(screened, 120, what)


def test_a_structuring_window_survives_kill_9_and_its_alert_fires_once_on_the_next_deposit(
    settings: Settings, screeners: Screeners
) -> None:
    screeners.start("a")
    publish(settings, deposit("dep-1", 0), deposit("dep-2", 2))
    wait_for_checks(settings, screeners, {"dep-1", "dep-2"}, "the first two deposits screened")
    assert alerts(settings) == []
    screeners.kill("a")
    # A new state folder: the account's window must come back from the changelog topic.
    screeners.start("b")
    publish(settings, deposit("dep-3", 4))
    wait_for_checks(settings, screeners, {"dep-3"}, "the third deposit screened after the crash")
    found = alerts(settings, "tx.structuring")
    assert len(found) == 1
    assert found[0]["details"]["transactions"] == "dep-1,dep-2,dep-3"
    assert found[0]["details"]["category"] == "transaction monitoring"
    assert found[0]["severity"] == "high" and found[0]["customer_id"] == "C-1001"
    assert Counter(r["document_id"] for r in checks(settings)) == Counter(
        {"dep-1": 1, "dep-2": 1, "dep-3": 1}
    )


def test_payments_published_again_are_not_screened_twice_and_the_alert_is_not_doubled(
    settings: Settings, screeners: Screeners
) -> None:
    screeners.start("a")
    day = [deposit(f"dup-{i}", 2 * i) for i in range(3)]
    publish(settings, *day)
    wait_for_checks(settings, screeners, {"dup-0", "dup-1", "dup-2"}, "three deposits screened")
    publish(settings, *day, deposit("dup-3", 7))  # a replay of the day, then a new deposit
    wait_for_checks(settings, screeners, {"dup-3"}, "the new deposit screened")
    assert len(alerts(settings, "tx.structuring")) == 1
    assert Counter(r["document_id"] for r in checks(settings)).most_common(1)[0][1] == 1


def test_a_payment_to_a_listed_bank_raises_a_critical_sanctions_alert(
    settings: Settings, screeners: Screeners
) -> None:
    screeners.start("a")
    wire = Transaction(
        transaction_id="wire-77",
        booked_at=MONDAY,
        amount=Decimal("48250.00"),
        currency="USD",
        direction="out",
        account_id="GB29NWBK60161331926819",
        channel="wire",
        account_owner="C-2002",
        counterparty_name="Korea Kwangson Banking Corp",
        counterparty_bic="KKBCKPPYXXX",
        reference="invoice 2026-118",
    )
    publish(settings, wire)
    wait_for_checks(settings, screeners, {"wire-77"}, "the wire screened")
    by_rule = {r["rule_id"]: r for r in alerts(settings)}
    assert by_rule["tx.sanctioned-counterparty"]["severity"] == "critical"
    assert "KOREA KWANGSON BANKING CORP" in by_rule["tx.sanctioned-counterparty"]["reason"]
    assert by_rule["tx.jurisdiction-call-for-action"]["details"]["counterparty_country"] == "KP"
    (check,) = checks(settings)
    assert check["outcome"] == "fail" and check["severity"] == "critical"
    assert check["inputs"]["reporting_amount"] == "41784.50"  # 48,250 USD at 0.8660


def test_malformed_transactions_go_to_the_dead_letter_topic_and_the_stream_goes_on(
    settings: Settings, screeners: Screeners
) -> None:
    screeners.start("a")
    bad = transaction_record(deposit("bad-amount", 0), source_system="core-banking")
    bad["amount"] = "nine thousand"
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap})
    topic = settings.topic(TRANSACTIONS_SUBMITTED)
    key = b"DE89370400440532013000"
    producer.produce(topic, key=key, value=b'{"amount": 9500}')
    producer.produce(topic, key=key, value=registry().encode("TransactionSubmitted", bad))
    assert producer.flush(10) == 0
    publish(settings, deposit("good-1", 1))
    wait_for_checks(settings, screeners, {"good-1"}, "the good payment screened")
    dead = [r for _, r in events(settings, TRANSACTIONS_SUBMITTED.dead_letter)]
    reasons = sorted(r["error"] for r in dead)
    assert len(dead) == 2
    assert reasons[0] == "amount 'nine thousand' is not a decimal number"
    assert "not Avro single-object encoded" in reasons[1]
    assert {r["failed_in"] for r in dead} == {NAME}
    assert [r["document_id"] for r in checks(settings)] == ["good-1"]


def test_too_many_dead_letters_stop_the_screener_without_committing_the_one_that_tripped_it(
    settings: Settings, screeners: Screeners
) -> None:
    screeners.start("a", COMPLIANCE_DEAD_LETTER_LIMIT="2")
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap})
    topic = settings.topic(TRANSACTIONS_SUBMITTED)
    for n in range(3):
        producer.produce(topic, key=b"DE89370400440532013000", value=b'{"garbage": %d}' % n)
    assert producer.flush(10) == 0
    publish(settings, deposit("after", 1))
    proc = screeners.running["a"]
    wait_for(lambda: proc.poll() is not None, 120, "the breaker to stop the screener")
    assert proc.returncode == 2
    assert "COMPLIANCE_DEAD_LETTER_LIMIT=2" in screener_log(settings, "a")
    assert len(events(settings, TRANSACTIONS_SUBMITTED.dead_letter)) <= 2
    assert "after" not in {r["document_id"] for r in checks(settings)}
    screeners.running.pop("a")
    screeners.start("b", state="a")  # the records truly are bad: a higher limit
    wait_for_checks(settings, screeners, {"after"}, "the records after the stop")
    assert len(events(settings, TRANSACTIONS_SUBMITTED.dead_letter)) == 3


def test_two_screener_copies_share_the_partitions_and_screen_each_payment_once(
    settings: Settings, screeners: Screeners
) -> None:
    screeners.start("a")
    screeners.start("b")
    group = settings.group(NAME)
    admin = kafka_io.admin(settings)

    def both_have_partitions() -> bool:
        described = admin.describe_consumer_groups([group])[group].result()
        owned = [len(m.assignment.topic_partitions) for m in described.members]
        return len(owned) == 2 and all(owned)

    wait_for(both_have_partitions, 120, "both copies assigned partitions")
    payments = [deposit(f"p-{i}", i / 10, account=f"ACC-{i % 24:03d}") for i in range(48)]
    publish(settings, *payments)
    ids = {tx.transaction_id for tx in payments}
    wait_for_checks(settings, screeners, ids, "every payment screened")
    assert Counter(r["document_id"] for r in checks(settings)) == Counter(dict.fromkeys(ids, 1))
    producers = {r["envelope"]["producer"]["name"] for r in checks(settings)}
    assert producers == {NAME}
    assert both_have_partitions()  # neither copy left the group meanwhile


def test_a_failure_of_our_own_stops_the_screener_without_dead_lettering_or_skipping(
    settings: Settings, screeners: Screeners, tmp_path: Path
) -> None:
    # A rate so large that converting an amount overflows the decimal context: an error in
    # our own computation, not in the payment, so nothing may be dead-lettered or skipped.
    shipped = (settings.transactions_rules_dir / "rates.yaml").read_text(encoding="utf-8")
    broken = tmp_path / "rates-broken.yaml"
    broken.write_text(shipped + '  XAU: "1E+30"\n', encoding="utf-8")
    screeners.start("a", COMPLIANCE_TRANSACTIONS_RATES_FILE=str(broken))
    gold = Transaction(
        transaction_id="gold-1",
        booked_at=MONDAY + timedelta(hours=1),
        amount=Decimal("12.50"),
        currency="XAU",
        direction="in",
        account_id="DE89370400440532013000",
        channel="wire",
    )
    publish(settings, deposit("before", 0), gold, deposit("after", 2))
    proc = screeners.running["a"]
    wait_for(lambda: proc.poll() is not None, 120, "the screener to stop on the failure")
    assert proc.returncode == 2
    stopped = screener_log(settings, "a")
    assert "the stage failed on " in stopped and "Traceback" not in stopped
    assert events(settings, TRANSACTIONS_SUBMITTED.dead_letter) == []
    assert "after" not in {r["document_id"] for r in checks(settings)}
    screeners.running.pop("a")
    screeners.start("b", state="a")  # the fix deployed: the shipped rates (no XAU rate)
    wait_for_checks(settings, screeners, {"before", "gold-1", "after"}, "the stopped records")
    assert [r["rule_id"] for r in alerts(settings)] == ["tx.rate-missing"]
    assert Counter(r["document_id"] for r in checks(settings))["before"] == 1


def screener_log(settings: Settings, copy: str) -> str:
    return (LOG_DIR / f"{settings.topic_prefix}{NAME}-{copy}.log").read_text(errors="replace")


def test_a_database_outage_during_a_clearance_lookup_makes_the_payment_wait_not_dead_letter(
    settings: Settings, screeners: Screeners, own_postgres: PrivatePostgres
) -> None:
    create_schema(connect(own_postgres.url))
    screeners.start(
        "a",
        COMPLIANCE_DATABASE_URL=own_postgres.url,
        COMPLIANCE_TRANSACTION_TIMEOUT_MS="60000",  # a record may wait 30 s
    )
    own, ids = sealing_with(own_postgres), registry()  # read only ids: no keys needed
    publish(settings, deposit("before", 0, account="GB29NWBK60161331926819"), codec=own)
    wait_for_checks(settings, screeners, {"before"}, "the screener running", ids)
    own_postgres.stop("fast")
    wire = Transaction(
        transaction_id="wire-78",
        booked_at=MONDAY + timedelta(hours=1),
        amount=Decimal("48250.00"),
        currency="USD",
        direction="out",
        account_id="GB29NWBK60161331926819",
        channel="wire",
        account_owner="C-2002",
        counterparty_name="Korea Kwangson Banking Corp",
        counterparty_bic="KKBCKPPYXXX",
        reference="invoice 2026-119",
    )
    publish(settings, wire, codec=own)
    wait_for(
        lambda: "waits for infrastructure" in screener_log(settings, "a"),
        60,
        "the payment to wait for the database",
    )
    screeners.assert_alive()
    assert "wire-78" not in {r["document_id"] for r in checks(settings, ids)}
    own_postgres.start()
    wait_for_checks(settings, screeners, {"wire-78"}, "the payment screened once it is back", ids)
    assert events(settings, TRANSACTIONS_SUBMITTED.dead_letter, ids) == []
    assert Counter(r["document_id"] for r in checks(settings, ids))["wire-78"] == 1
    assert "tx.sanctioned-counterparty" in {r["rule_id"] for r in alerts(settings, None, ids)}


def sealing_with(server: PrivatePostgres) -> SchemaRegistry:
    """Seals with the keys of a screener's own database (as its publishers would), each key
    kept once read: publishing goes on while that database is down or frozen."""
    return registry().with_keyring(DatabaseKeyring(connect(server.url, pool_size=1), 3600.0))


def cluster_pids(server: PrivatePostgres) -> list[int]:
    """The postmaster of ``server`` and its children (the backends serving connections)."""
    postmaster = int((server.data / "postmaster.pid").read_text().split()[0])
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == postmaster:
            children.append(int(stat.parent.name))
    return [postmaster, *children]


def test_a_screener_blocked_in_a_frozen_database_after_sigterm_exits_with_status_3(
    settings: Settings, screeners: Screeners, own_postgres: PrivatePostgres
) -> None:
    create_schema(connect(own_postgres.url))
    screeners.start("a", COMPLIANCE_DATABASE_URL=own_postgres.url)
    own, ids = sealing_with(own_postgres), registry()  # read only ids: no keys needed
    publish(settings, deposit("before", 0, account="GB29NWBK60161331926819"), codec=own)
    wait_for_checks(settings, screeners, {"before"}, "the screener running", ids)
    frozen = cluster_pids(own_postgres)
    for pid in frozen:  # the database answers nothing: a clearance lookup blocks in libpq
        os.kill(pid, signal.SIGSTOP)
    try:
        wire = Transaction(
            transaction_id="wire-79",
            booked_at=MONDAY + timedelta(hours=1),
            amount=Decimal("48250.00"),
            currency="USD",
            direction="out",
            account_id="GB29NWBK60161331926819",
            channel="wire",
            account_owner="C-2002",
            counterparty_name="Korea Kwangson Banking Corp",
            counterparty_bic="KKBCKPPYXXX",
            reference="invoice 2026-120",
        )
        publish(settings, wire, codec=own)  # its key cached: published while frozen
        # The payment reaches the blocked lookup; nothing outside the process shows it, and a
        # screener not yet blocked would exit 0 (the test fails, it cannot pass wrongly).
        time.sleep(3)
        proc = screeners.running.pop("a")
        proc.send_signal(signal.SIGTERM)
        wait_for(lambda: proc.poll() is not None, 90, "the screener to end after SIGTERM")
    finally:
        for pid in frozen:
            os.kill(pid, signal.SIGCONT)
    assert proc.returncode == 3, screener_log(settings, "a")[-2000:]
    assert "asked to stop" in screener_log(settings, "a")
    assert "wire-79" not in {r["document_id"] for r in checks(settings, ids)}


def test_a_replayed_old_payment_is_stamped_when_appended_so_retention_keeps_it(
    settings: Settings,
) -> None:
    from confluent_kafka import TIMESTAMP_LOG_APPEND_TIME, Consumer, TopicPartition
    from confluent_kafka.admin import ConfigResource

    topic = settings.topic(TRANSACTIONS_SUBMITTED)
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    admin = kafka_io.admin(settings)  # kept alive until the answer is in
    configs: dict[str, Any] = {}

    def described() -> bool:
        try:  # a topic just created may not be known to the broker answering yet
            configs.update(admin.describe_configs([resource])[resource].result(timeout=10))
        except KafkaException:
            return False
        return True

    wait_for(described, 30, f"the configuration of {topic}")
    assert configs["message.timestamp.type"].value == "LogAppendTime"
    assert int(configs["retention.ms"].value) == 90 * 86_400_000
    booked_2017 = int(datetime(2017, 1, 2, tzinfo=UTC).timestamp() * 1000)
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap})
    record = transaction_record(deposit("old-1", 0), source_system="replay")
    value = registry().encode("TransactionSubmitted", record)
    producer.produce(topic, key=b"DE89370400440532013000", value=value, timestamp=booked_2017)
    assert producer.flush(10) == 0
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap, "group.id": topic})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
        msg = None
        deadline = datetime.now(UTC) + timedelta(seconds=30)
        while (msg is None or msg.error()) and datetime.now(UTC) < deadline:
            msg = consumer.poll(0.5)  # a new topic's first answers may be transient errors
        assert msg is not None and msg.error() is None, msg and msg.error()
        kind, stamp = msg.timestamp()
        assert kind == TIMESTAMP_LOG_APPEND_TIME
        assert stamp > booked_2017 + 365 * 86_400_000  # the broker's time, not the booking's
    finally:
        consumer.close()


def test_an_ibm_aml_file_replayed_at_a_rate_is_screened_payment_by_payment(
    settings: Settings, screeners: Screeners
) -> None:
    from compliance.config import PROJECT_ROOT

    from .conftest import compliance_cli

    screeners.start("a")
    sample = PROJECT_ROOT / "samples" / "transactions" / "ibm_aml_sample.csv"
    started = time.monotonic()
    done = compliance_cli(settings, "transactions", "replay", sample, "--rate", "8")
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - started >= 15 / 8  # 16 payments at 8 a second
    assert "published 16 transaction(s)" in done.stdout
    ids = {f"ibm-{line}:{leg}" for line in range(2, 10) for leg in ("in", "out")}
    wait_for_checks(settings, screeners, ids, "every replayed payment screened")
    labelled = [r for r in checks(settings) if r["document_id"].startswith("ibm-9:")]
    assert {r["inputs"]["amount"] for r in labelled} == {"10363.80 USD", "8974.25 EUR"}
