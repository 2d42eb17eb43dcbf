"""The Kafka side of the transaction screener, done by Quix Streams: exactly-once
processing, each account's state in RocksDB with a changelog topic, partitions shared by the
copies of the screener in one consumer group.

The stage (``Stage``) is a plain function of (value bytes, account state); this module hands
it to the framework and guards the edges:

- a content error (``PoisonMessage``: not our Avro, a malformed transaction) goes to
  ``transactions.submitted.dlq`` with the reason, in the same Kafka transaction as the
  offsets, and the stream goes on (``on_processing_error``); too many dead letters stop the
  screener (the dead-letter breaker);
- an infrastructure error (``RetryableError``: the database down during a clearance lookup)
  makes the record wait, bounded; an outage that outlasts the wait stops the process with
  exit status ``EXIT_INFRASTRUCTURE`` and one line naming it;
- any other error (a bug in our code, a schema we do not know how to screen) stops the
  application without committing the record (``StageFailed``, exit status 2, one line that
  never quotes the error's message): it is screened again after the fix, and the topic is
  never drained into the dead-letter topic (``compliance.transactions.guard``);
- the framework's internal topics (the state changelog) are named under the topic prefix;
- the Kafka transaction commits every ``transactions_commit_interval_s`` while the screener
  keeps up, and every ``CATCHING_UP_COMMIT_S`` while it works through a backlog
  (``compliance.transactions.pacing``): results are readable soon after their payment, and
  a backlog goes as fast as the machine allows;
- every wait is bounded: the broker must answer within ``request_timeout``, a broker gone
  for ``broker_availability_timeout`` stops the process, and a stop request is honoured
  after the current record; once asked to stop, the process must be gone within
  ``STOP_GRACE_S`` or the watchdog ends it with exit status 3 (the framework's own Kafka
  calls have no per-call deadline: it gives us no hook around its commit).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any, Literal

from quixstreams import Application
from quixstreams.kafka.configuration import ConnectionConfig
from quixstreams.models import Row
from quixstreams.models.topics import TopicAdmin, TopicManager
from quixstreams.state import State

from compliance import health, kafka_io, metrics
from compliance.codec import SchemaRegistry, registry
from compliance.config import Settings
from compliance.dead_letters import dead_letter
from compliance.errors import Action, ConfigurationError, action_for
from compliance.events import subject_key
from compliance.outgoing import Outgoing
from compliance.topics import COMPLIANCE_CHECKS, COMPLIANCE_EXCEPTIONS, TRANSACTIONS_SUBMITTED
from compliance.transactions.account import AccountState
from compliance.transactions.guard import (
    EXIT_INFRASTRUCTURE,
    EdgeGuard,
    InfrastructureDown,
    StoppedWhileWaiting,
)
from compliance.transactions.pacing import CommitPacing
from compliance.watchdog import Watchdog

log = logging.getLogger(__name__)
STATE_KEY = "account"
# Stage: (the record's bytes, its Kafka key, the account's state) -> events to publish.
# It updates the state in place; the state is stored only when it returns.
Stage = Callable[[bytes | None, bytes | None, AccountState], Sequence[Outgoing]]
# Once asked to stop, a process still running this long after the signal is ended (status 3).
STOP_GRACE_S = 20.0
# The deadline of the whole run outside a stop: none in practice (a year).
_RUN_DEADLINE_S = 365 * 86_400.0
# How long the producer holds records to batch them. Results are readable only when their
# Kafka transaction commits, and the commit flushes whatever is held at once (librdkafka
# ignores the linger while flushing), so a long linger costs no latency; it makes fewer,
# larger produce requests, which costs the screener and the broker less per record than
# one request per millisecond (measured: about 60 µs less screener CPU per transaction
# than a 1 ms linger while working through a backlog).
PRODUCER_LINGER_MS = 100


class PrefixedTopicManager(TopicManager):
    """Quix's topic manager, naming its internal topics (``changelog__<group>--...``)
    under our topic prefix, so a tenant's or test's topics stay together."""

    def __init__(self, prefix: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._prefix = prefix

    def _internal_name(
        self,
        topic_type: Literal["changelog", "repartition"],
        topic_name: str | None,
        suffix: str,
    ) -> str:
        return self._prefix + super()._internal_name(topic_type, topic_name, suffix)


class _RowMessage:
    """A consumed row with the accessors ``runner.dead_letter`` reads from a Kafka message."""

    def __init__(self, row: Row) -> None:
        self._row = row

    def topic(self) -> str:
        return self._row.topic

    def partition(self) -> int:
        return self._row.partition

    def offset(self) -> int:
        return self._row.offset

    def key(self) -> bytes | None:
        key = self._row.key
        return key if isinstance(key, bytes | None) else str(key).encode()

    def value(self) -> bytes | None:
        value = self._row.value
        return value if isinstance(value, bytes | None) else None


class ScreenerApp:
    """One screener process: the Quix application, its topics and its error policy."""

    def __init__(
        self, name: str, settings: Settings, stage: Stage, codec: SchemaRegistry | None = None
    ) -> None:
        self.name = name
        self.codec = codec or registry()  # a sealing one seals what the screener publishes
        self.settings = settings
        self.stage = stage
        self.guard = EdgeGuard(name, settings, threading.Event())
        self.watchdog = Watchdog(name)
        self.input_name = settings.topic(TRANSACTIONS_SUBMITTED)
        self.dead_letter_topic = settings.topic(TRANSACTIONS_SUBMITTED.dead_letter)
        _require_topics(settings, [self.input_name, self.dead_letter_topic])
        group = settings.group(name)
        connection = ConnectionConfig.from_librdkafka_dict(
            {"bootstrap.servers": settings.kafka_bootstrap, **kafka_io.security_config(settings)}
        )
        statistics = health.KafkaStatistics(name).config(settings.metrics_stats_interval_ms)
        # Quix's consumer joins with the classic group protocol, where librdkafka's default
        # session is 45 s: a copy killed without a clean stop would hold its accounts' payments
        # that long. 15 s (heartbeats every 3 s) hands them over sooner.
        consumer_config: dict[str, object] = {
            "session.timeout.ms": 15_000,
            "heartbeat.interval.ms": 3_000,
            **(statistics or {}),
        }
        self.app = Application(
            broker_address=connection,
            consumer_extra_config=consumer_config,
            consumer_group=group,
            processing_guarantee="exactly-once",
            auto_offset_reset="earliest",
            commit_interval=settings.transactions_commit_interval_s,
            state_dir=settings.transactions_state_dir,
            on_processing_error=self.on_processing_error,
            producer_extra_config={
                "transactional.id": f"{group}.{settings.instance_id}",
                "transaction.timeout.ms": settings.transaction_timeout_ms,
                "linger.ms": PRODUCER_LINGER_MS,
                "compression.type": "lz4",
            },
            # A poll that brings nothing tells the pacing the screener is idle, and commits
            # what it screened: a short poll keeps that soon after the last record.
            consumer_poll_timeout=min(
                settings.poll_timeout_s, settings.transactions_commit_interval_s / 4
            ),
            loglevel=None,
            request_timeout=30,
            topic_create_timeout=60,
            broker_availability_timeout=120,
            topic_manager=PrefixedTopicManager(
                settings.topic_prefix,
                topic_admin=TopicAdmin(broker_address=connection),
                consumer_group=group,
                timeout=30,
                create_timeout=60,
            ),
        )
        # Output topics by the names the stage gives them. They are declared to the
        # framework (created if missing, known to its admin) but written by ``_screen``.
        self.outputs = {
            spec.name: self.app.topic(settings.topic(spec)).name
            for spec in (COMPLIANCE_CHECKS, COMPLIANCE_EXCEPTIONS)
        }
        # Per output topic: its name on the broker and its records-out counter, bound once.
        self._output_topics = {
            spec: (topic, metrics.bind(metrics.records_out, self.name, topic))
            for spec, topic in self.outputs.items()
        }
        self._encode = self.codec.encode
        self._processed = metrics.bind(metrics.processed, self.name)
        self._records_in = metrics.bind(metrics.records_in, self.name, self.input_name)
        # The framework commits every ``transactions_commit_interval_s``; the pacing holds
        # commits back to ``CATCHING_UP_COMMIT_S`` while the screener catches up.
        context = self.app._processing_context
        self.pacing = CommitPacing(context.commit_checkpoint)
        context.commit_checkpoint = self.pacing.commit_checkpoint  # type: ignore[method-assign]
        source = self.app.topic(self.input_name, value_deserializer="bytes")
        self.app.dataframe(source).update(self._screen, stateful=True, metadata=True)

    def _screen(
        self, value: bytes | None, key: Any, timestamp: int, _headers: Any, state: State[str, Any]
    ) -> None:
        """Screen one record and publish what it gives with the application's producer: in
        exactly-once mode the framework's open transaction carries these events with the
        state change and the record's offset, or none of them. The account's state is read
        once and written once per record, whatever the number of rules."""
        account = AccountState()

        def attempt() -> Sequence[Outgoing]:
            nonlocal account
            # Each attempt starts from the stored state: a failed one may have changed it.
            account = AccountState.from_json(state.get(STATE_KEY))
            return self.stage(value, key, account)

        outputs = self.guard.waiting_out_outages("the record", attempt)
        state.set(STATE_KEY, account.to_json())
        produce = self.app._producer.produce
        encode = self._encode
        for out in outputs:
            topic, counter = self._output_topics[out.topic]
            produce(
                topic=topic, key=subject_key(out.record), value=encode(out.event_type, out.record)
            )
            counter.inc()
        self._processed.inc()
        self._records_in.inc()
        self.pacing.screened(timestamp)

    def on_processing_error(self, exc: Exception, row: Row | None, logger: Any) -> bool:
        """``action_for`` decides: a content error is dead-lettered and the stream goes on
        (unless the breaker trips); anything else stops the application, committing nothing
        of the record."""
        where = f"{row.topic}[{row.partition}]@{row.offset}" if row is not None else "?"
        if isinstance(exc, InfrastructureDown | StoppedWhileWaiting):
            return False  # the record waited its bound or the process is stopping: ``run``
        action = action_for(exc)
        if action is Action.RETRY:
            # Not from the stage (which waits out outages itself): stop, naming the outage.
            raise InfrastructureDown(f"{self.name}: {type(exc).__name__} on {where}") from exc
        if action is not Action.DEAD_LETTER or row is None:
            if isinstance(exc, ConfigurationError):
                return False  # one sentence for the operator, printed by the command
            raise self.guard.stopping(where, exc) from None
        self.guard.dead_letter_allowed(where, self.dead_letter_topic)
        message = _RowMessage(row)
        record = dead_letter(message, exc, self.name)
        log.warning("%s: %s -> dead letter: %s", self.name, where, exc)
        metrics.dead_letter(self.name, row.topic, exc)
        # The application's own producer: in exactly-once mode its open transaction carries
        # the dead letter with the offsets of this checkpoint, or neither.
        self.app._producer.produce(
            topic=self.dead_letter_topic,
            key=subject_key(record),
            value=self.codec.encode("DeadLetter", record),
        )
        return True

    def run(self, stop: threading.Event) -> None:
        """Run until ``stop`` is set or SIGTERM/SIGINT (the framework's handlers; the
        command's wakeup fd sets ``stop`` too, so the watchdog bounds the way out)."""
        self.guard.stop = stop

        def stop_when_asked() -> None:
            stop.wait()
            self.app.stop()

        threading.Thread(target=stop_when_asked, name=f"{self.name}-stop", daemon=True).start()
        self.watchdog.stop_within(stop, STOP_GRACE_S)
        log.info("%s consuming %s (exactly-once)", self.name, self.input_name)
        token = self.watchdog.arm(f"{self.name} (its Kafka work)", _RUN_DEADLINE_S)
        try:
            self.app.run()
        except InfrastructureDown as exc:
            log.critical("%s", exc)
            raise SystemExit(EXIT_INFRASTRUCTURE) from None
        except StoppedWhileWaiting:
            log.info("%s: stopped while a record waited for infrastructure", self.name)
        except Exception as exc:
            # the framework's way out (aborting the transaction) can fail after the guard
            # stopped the screener: the guard's reason is why the process stops
            reason = self.guard.stopped_with
            if reason is None or exc is reason:
                raise
            log.warning("%s: the way out after the stop failed too", self.name, exc_info=True)
            if isinstance(reason, InfrastructureDown):
                log.critical("%s", reason)
                raise SystemExit(EXIT_INFRASTRUCTURE) from None
            if isinstance(reason, StoppedWhileWaiting):
                log.info("%s: stopped while a record waited for infrastructure", self.name)
                return
            raise reason from None
        finally:
            self.watchdog.disarm(token)


def _require_topics(settings: Settings, names: list[str]) -> None:
    known = kafka_io.admin(settings).list_topics(timeout=10).topics
    missing = [n for n in names if n not in known]
    if missing:
        raise ConfigurationError(
            f"topics missing on the broker: {', '.join(missing)} "
            "(create them with `compliance topics create`)"
        )
