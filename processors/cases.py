"""Cases: compliance.exceptions -> cases.decisions, and the case tables (their projection).

Each exception joins the open case of its customer and category, or opens one when there is
none (never one, or the last one closed): twenty failed checks of one customer are one open
case per category. Every change is a ``CaseDecision`` event; the case tables are a
projection of those events (``compliance.cases.projection``).

Order of work, per batch of exceptions:

1. the projection is caught up first when it may lag (at start, for a partition newly ours,
   after a direct apply failed): the feed (``compliance.cases.feed``) applies what
   cases.decisions holds and the tables do not yet (any decision of ours whose apply was lost
   in a crash, an earlier owner's), so the grouping below sees every earlier decision; the
   same feed follows the topic meanwhile in a thread of its own, for the officers' decisions
   made elsewhere whose own apply was lost;
2. the batch is grouped (one query reads the open cases of its customers and locks their
   rows; its own earlier exceptions count too) and its decisions produced in the runner's
   Kafka transaction with the consumed offsets (exactly once; event ids derive from the
   exceptions);
3. once the transaction has committed, its decisions are applied to the tables, idempotently
   by event id, in the database transaction that locked the rows in step 2 (a crash between
   2 and 3 is repaired by step 1 at the next start).

The rows stay locked from step 2 to step 3, so an officer cannot close a case between the
read that sends an exception to it and the apply that adds it: the officer's decision waits
for the batch (``compliance.cases.desk``) and is then made on the case with the exception in
it. Should an exception still reach a case closed before it (an officer's decision on the
topic whose own apply was lost), the projection reopens the case, with a history row saying
so (``compliance.cases.projection``): never silently.

Every ``cases_sweep_interval_s`` seconds (``COMPLIANCE_CASES_SWEEP_INTERVAL_S``, default 30;
0: never, the scheduler's ``sla-sweep`` job doing it instead) a sweep
(``compliance.cases.sweep``) marks open cases past their SLA due time: an ``sla_breached``
decision each, audited like any other.

Reason and details of an exception are personal: the decision carries them sealed with the
customer's key, and the tables keep them sealed.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Sequence
from typing import Any

from confluent_kafka import Consumer, Message, Producer, TopicPartition
from sqlalchemy import ARRAY, Connection, Engine, Text, any_, cast, select

from compliance import kafka_io
from compliance.audit.store import connect, require_database
from compliance.cases.counting import count_decisions
from compliance.cases.decisions import CaseState
from compliance.cases.feed import DecisionFeed, started_feed
from compliance.cases.grouping import CaseKey, case_key, take_in
from compliance.cases.projection import apply_many
from compliance.cases.sweep import state_of, sweep
from compliance.cases.tables import OPEN_STATUSES, cases, create_cases_schema
from compliance.codec import EventSchema, Record, SchemaRegistry, registry
from compliance.config import Settings
from compliance.db_errors import retryable_db_errors
from compliance.errors import PoisonMessage, RetryableError
from compliance.events import now
from compliance.outgoing import Outgoing
from compliance.runner import TransactionalRunner
from compliance.sealing import ERASED, Keyring, Leaf, SubjectErased, is_sealed, opener, sealer
from compliance.subject_keyring import DatabaseKeyring
from compliance.topics import COMPLIANCE_EXCEPTIONS

log = logging.getLogger(__name__)
NAME = "cases"


class CaseGrouper:
    """The batch stage: exceptions into decisions, remembered until the batch commits."""

    def __init__(self, engine: Engine, keyring: Keyring, scope: str) -> None:
        self.engine = engine
        self.keyring = keyring
        self.scope = scope
        self.decided: list[Record] = []
        # The runner's database transaction for the batch: the open cases are read in it
        # with their rows locked until the batch's decisions are applied.
        self.conn: Connection | None = None

    def __call__(
        self, inputs: Sequence[tuple[str, Record]]
    ) -> list[Sequence[Outgoing] | PoisonMessage]:
        self.decided = []
        results: list[Sequence[Outgoing] | PoisonMessage] = []
        wanted = {case_key(r) for t, r in inputs if t == "ComplianceException"}
        open_cases = read_open_cases(self.engine, self.scope, wanted, self.conn)
        for event_type, record in inputs:
            if event_type != "ComplianceException":
                results.append(
                    PoisonMessage(f"{event_type} does not belong on {COMPLIANCE_EXCEPTIONS.name}")
                )
                continue
            key = case_key(record)
            try:
                sealed = self._sealed(record, key[0])
            except PoisonMessage as exc:
                results.append(exc)
                continue
            out, case = take_in(sealed, open_cases.get(key), self.scope)
            open_cases[key] = case
            self.decided.append(out.record)
            results.append([out])
        return results

    def one(self, event_type: str, record: Record) -> Sequence[Outgoing]:
        [result] = self([(event_type, record)])
        if isinstance(result, PoisonMessage):
            raise result
        return result

    def _sealed(self, exception: Record, customer: str) -> Record:
        """The exception with its reason and details sealed with the customer's key, as the
        decision carries them. They come sealed with the exception's subject's key (the
        runner's codec leaves them so): when the subject is the customer, as it is for every
        document's exception, they are passed on as they came, nothing opened; otherwise
        they are opened and sealed again with the customer's key (``[erased]`` for a subject
        erased). PoisonMessage when a value does not open."""
        subject = exception["envelope"]["subject_id"]
        details = exception.get("details") or {}
        values = [exception["reason"], *(v for v in details.values() if isinstance(v, str))]
        if subject == customer and all(is_sealed(v) for v in values):
            return exception
        opened: Leaf = (lambda v: v) if subject == customer else opener(subject, self.keyring)
        seal = sealer(self.keyring.sealing_key(customer))

        def reseal(value: str) -> str:
            try:
                return str(seal(opened(value)))
            except SubjectErased:
                return ERASED

        sealed = dict(exception)
        sealed["reason"] = reseal(exception["reason"])
        sealed["details"] = {
            k: (reseal(v) if isinstance(v, str) else v) for k, v in details.items()
        }
        return sealed


def read_open_cases(
    engine: Engine, scope: str, keys: Iterable[CaseKey], conn: Connection | None = None
) -> dict[CaseKey, CaseState]:
    """The open case of each (customer, category), as the tables have it; in ``conn`` (a
    transaction of the caller's) their rows are locked, in the order of their ids, until it
    ends."""
    wanted = sorted(set(keys))
    if not wanted:
        return {}
    c = cases.c
    query = select(cases).where(
        c.scope == scope,
        c.customer_id == any_(cast(sorted({customer for customer, _ in wanted}), ARRAY(Text))),
        c.status.in_(OPEN_STATUSES),
    )
    found: dict[CaseKey, CaseState] = {}
    asked = set(wanted)
    if conn is not None:
        with retryable_db_errors("the case tables"):
            rows = list(conn.execute(query.order_by(c.case_id).with_for_update(of=cases)))
    else:
        with retryable_db_errors("the case tables"), engine.connect() as own:
            rows = list(own.execute(query))
    for r in rows:
        if (r.customer_id, r.category) in asked:
            found[(r.customer_id, r.category)] = state_of(r)
    return found


class CasesRunner(TransactionalRunner):
    """The transactional runner, with the batch's decisions applied once its transaction has
    committed, and the projection caught up first whenever it may lag what the grouping must
    see: a partition newly ours (its earlier owner's decisions), or a direct apply that
    failed."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        grouper: CaseGrouper,
        feed: DecisionFeed,
        **kw: Any,
    ) -> None:
        super().__init__(
            NAME,
            settings,
            [settings.topic(COMPLIANCE_EXCEPTIONS)],
            grouper.one,
            batch_stage=grouper,
            **kw,
        )
        self.engine = engine
        self.grouper = grouper
        self.feed = feed
        self.caught_up_for: set[tuple[str, int]] = set()  # partitions seen since a catch-up
        self.lagging = False

    def _process_in_transaction(
        self, consumer: Consumer, producer: Producer, batch: list[Message]
    ) -> None:
        partitions = {(m.topic() or "", m.partition() or 0) for m in batch}
        if self.lagging or not partitions <= self.caught_up_for:
            assigned = {(tp.topic, tp.partition) for tp in consumer.assignment()}
            self.feed.catch_up()  # covers every partition ours now
            self.lagging = False
            self.caught_up_for |= partitions | assigned
        self.grouper.decided = []
        committed = False
        try:
            with retryable_db_errors("the case tables"), self.engine.begin() as conn:
                self.grouper.conn = conn  # the open cases read (and locked) in it
                try:
                    super()._process_in_transaction(consumer, producer, batch)
                finally:
                    self.grouper.conn = None
                committed = True
                decided, self.grouper.decided = self.grouper.decided, []
                count_decisions(decided)  # committed: made once
                apply_many(conn, decided, self.settings.topic_prefix)
        except RetryableError as exc:
            if not committed:
                raise
            # Committed on Kafka: the feed applies them.
            log.warning("cases: decisions committed but not applied yet (%s)", exc)
            self.lagging = True

    def _revoked(self, partitions: list[TopicPartition]) -> None:
        super()._revoked(partitions)
        self.caught_up_for -= {(tp.topic, tp.partition) for tp in partitions}


class _SealingOnly(SchemaRegistry):
    """The bundled schemas, sealing personal values on encode and leaving them as they came
    on decode (the grouper opens only what it must)."""

    def __init__(self, keyring: Keyring) -> None:
        self.__dict__.update(registry().with_keyring(keyring).__dict__)

    def _opened(self, schema: EventSchema, record: Record) -> Record:
        return record

    def prefetch_keys(self, subjects: Iterable[str]) -> None:
        """Nothing: a batch's keys are needed only for the few values opened or sealed."""

    def _sealed(self, schema: EventSchema, record: Record) -> Record:
        """``record`` with its plain personal values sealed; the subject's key is read only
        when there is one (the decisions come with theirs sealed already)."""
        if schema.personal is None:
            return record
        assert self.keyring is not None
        keyring, subject = self.keyring, record["envelope"]["subject_id"]
        sealing: list[Leaf] = []

        def seal(value: Any) -> Any:
            if is_sealed(value):
                return value
            if not sealing:
                sealing.append(sealer(keyring.sealing_key(subject)))
            return sealing[0](value)

        sealed: Record = schema.personal(record, seal)
        return sealed


def _sweeping(settings: Settings, engine: Engine, stop: threading.Event, interval_s: float) -> None:
    from compliance.screening.sending import EventSender

    sender = EventSender(settings)
    while not stop.wait(interval_s):
        try:
            sweep(settings, engine, sender, now())
        except RetryableError as exc:
            log.warning("cases: SLA sweep postponed (%s)", exc)


def main(settings: Settings, stop: threading.Event) -> None:
    engine = connect(settings.database_dsn)
    require_database(engine)
    kafka_io.require_broker(settings)
    create_cases_schema(engine)
    # Exceptions are read as they came, personal values sealed (``CaseGrouper._sealed``); the
    # runner's own outputs (dead letters) are sealed on their way out.
    keyring = DatabaseKeyring(engine)
    grouper = CaseGrouper(engine, keyring, settings.topic_prefix)
    # Right after the topics are created the broker may answer "not leader" or "unknown
    # topic" for a moment: asked again for up to cases_startup_retry_s.
    feed = started_feed(settings, engine, within_s=settings.cases_startup_retry_s)
    runner = CasesRunner(settings, engine, grouper, feed, codec=_SealingOnly(keyring))
    helpers = [threading.Thread(target=feed.follow, args=(stop,), name="cases-feed", daemon=True)]
    if settings.cases_sweep_interval_s > 0:
        helpers.append(
            threading.Thread(
                target=_sweeping,
                args=(settings, engine, stop, settings.cases_sweep_interval_s),
                name="sla-sweep",
                daemon=True,
            )
        )
    for helper in helpers:
        helper.start()
    try:
        runner.run(stop)
    finally:
        stop.set()
        for helper in helpers:
            helper.join(10)
        feed.close()
