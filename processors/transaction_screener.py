"""Transaction screener: transactions.submitted -> compliance.checks and
compliance.exceptions.

For each payment, in the order its account's payments were published:

1. read it: our Avro event, keyed by its account, with an amount, currency and direction a
   rule can judge; anything else is a content error and goes to the dead-letter topic with
   the reason (``read``);
2. convert its amount to the reporting currency with the rate table, add it to the account's
   recent history (kept per account in the framework's state store, changelogged to Kafka so
   it survives a crash), and run every rule of ``rules/transactions/``: counterparty
   sanctions (with the officers' clearances), FATF jurisdictions, large single amounts, and
   the windowed rules over the account's history (structuring, velocity, fan-in, fan-out,
   rapid movement, round amounts) (``TransactionScreener``);
3. publish one check result naming every rule's outcome, and one exception event per alert,
   category "transaction monitoring", naming the transactions behind it and why.

A payment published again (same transaction id on the account) decides nothing new. Results,
state changes and consumed offsets are committed in one Kafka transaction: after a crash the
screener resumes from the last commit with the state of that commit, so no alert is lost or
doubled. Quix Streams does the Kafka work (``compliance.transactions.stream``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from functools import lru_cache

from compliance import health, metrics
from compliance.audit.store import connect, require_database
from compliance.codec import Record, SchemaRegistry, registry
from compliance.config import Settings
from compliance.errors import PoisonMessage
from compliance.outgoing import Outgoing
from compliance.screening.live import LiveSanctions
from compliance.subject_keyring import sealing_codec
from compliance.transactions.account import AccountState
from compliance.transactions.erasure import refused
from compliance.transactions.events import outputs
from compliance.transactions.findings import CounterpartyScreen
from compliance.transactions.model import Transaction
from compliance.transactions.ruleset import TransactionRules, load_transaction_rules, screen
from compliance.transactions.sanctions import live_screen
from compliance.transactions.stream import ScreenerApp
from compliance.transactions.wire import Payment, TransactionReader

log = logging.getLogger(__name__)
NAME = "transaction-screener"


@lru_cache(maxsize=4)
def _reader(codec: SchemaRegistry) -> TransactionReader:
    return TransactionReader(codec)


def read_payment(value: bytes | None, key: bytes | None, reader: TransactionReader) -> Payment:
    """The payment in a record; ``PoisonMessage`` saying why it cannot be screened."""
    payment = reader.payment(value)
    if key is not None and key != payment.tx.account_id.encode("utf-8"):
        raise PoisonMessage("the record's key is not its account id (its history would split)")
    return payment


def read(value: bytes | None, key: bytes | None) -> tuple[Record, Transaction]:
    """The transaction in a record, read without keys; ``PoisonMessage`` as above."""
    payment = read_payment(value, key, _reader(registry()))
    return payment.record, payment.tx


class TransactionScreener:
    """The screener's stage: the rules in force and the sanctions lists; with a sealing
    ``codec`` (``compliance.subject_keyring``), payments are opened with their account's key
    and an erased subject's are refused (``compliance.transactions.erasure``)."""

    def __init__(
        self,
        rules: TransactionRules,
        sanctions: CounterpartyScreen | None,
        codec: SchemaRegistry | None = None,
    ) -> None:
        self.rules = rules
        self.sanctions = sanctions
        self.reader = _reader(codec or registry())

    def __call__(
        self, value: bytes | None, key: bytes | None, account: AccountState
    ) -> Sequence[Outgoing]:
        record, tx, erased, pseudonym = read_payment(value, key, self.reader)
        if erased:
            return refused(record, account)
        if pseudonym is not None:
            account.pseudonymise(pseudonym)
        screened = screen(self.rules, tx, account, self.sanctions)
        if not screened.duplicate:
            for alert in screened.alerts:
                metrics.screening_hit(NAME, alert.rule.id)
        return outputs(self.rules, record, tx, screened)


def main(settings: Settings, stop: threading.Event) -> None:
    rules = load_transaction_rules(
        settings.transactions_rules_dir, settings.transactions_rates_file
    )
    engine = connect(settings.database_dsn)
    require_database(engine)
    health.state.add_check("database", health.database_check(engine))
    sanctions = LiveSanctions(settings, engine)
    log.info(
        "%s: transaction rules %s (%d rules, rates of %s), sanctions %s",
        NAME,
        rules.version,
        len(rules.rules),
        rules.rates.as_of,
        sanctions.lists_in_force().description,
    )
    # Payments opened, check inputs and exceptions sealed; one record at a time, so the keys
    # read stay in use until an erasure is seen (not read again every few seconds).
    codec = sealing_codec(engine, follow_erasures=True)
    stage = TransactionScreener(rules, live_screen(sanctions), codec)
    lists = sanctions.watch()
    try:
        ScreenerApp(NAME, settings, stage, codec).run(stop)
    finally:
        lists.stop()
