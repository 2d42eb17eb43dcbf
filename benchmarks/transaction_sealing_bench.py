"""What sealing a payment's personal fields costs the transaction screener, in CPU time.

Run from the project root:  .venv/bin/python benchmarks/transaction_sealing_bench.py
[--transactions N]. Writes benchmarks/results/transaction_sealing.json. Reproducible (fixed
seed). Uses the real PostgreSQL (``COMPLIANCE_DATABASE_URL``) for the accounts' keys, read
once before the timing (a running screener has the keys of busy accounts cached); the
subjects it creates are its own and are removed at the end.

Payments on 2,000 accounts with 300 counterparties, each with a name, an IBAN and a
reference. Per payment, CPU time (``time.process_time``, best of three rounds) of:

- reading it (bytes -> the screener's ``Transaction``), as the screener did before payments
  were sealed: a plain record, no keys (``decode: plain, no keys``), and as the codec's
  general path reads a sealed one (``decode: sealed, codec path``: what a sealed record cost
  before the reader opened sealed fields itself);
- reading a sealed one as the screener now does (``decode: sealed, screener's reader``: the
  fields opened, the account's and owner's erasure checked, the counterparty's pseudonym
  made), and a plain one with keys (``decode: plain, with keys``);
- the whole stage (read, rules, state, outputs encoded), without keys on plain records and
  with keys on sealed ones (check inputs and exceptions sealed): ``stage: ...``.
"""

from __future__ import annotations

import argparse
import random
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from host import ROOT, load_average, machine, use_checkout, write_results

use_checkout(development_mode=True)

from sqlalchemy import text  # noqa: E402

from compliance.audit.store import connect, create_schema  # noqa: E402
from compliance.codec import SchemaRegistry, registry  # noqa: E402
from compliance.config import Settings  # noqa: E402
from compliance.processors.transaction_screener import TransactionScreener  # noqa: E402
from compliance.subject_keyring import DatabaseKeyring  # noqa: E402
from compliance.transactions.account import AccountState  # noqa: E402
from compliance.transactions.model import (  # noqa: E402
    Transaction,
    read_transaction,
    transaction_record,
)
from compliance.transactions.ruleset import load_transaction_rules  # noqa: E402
from compliance.transactions.wire import TransactionReader  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "transaction_sealing.json"
SEED = 20261206
ROUNDS = 3


def payments(n: int, prefix: str, rng: random.Random) -> list[Transaction]:
    parties = [
        (f"Party {rng.randrange(10**6):06d} GmbH", f"DE{rng.randrange(10**20):020d}")
        for _ in range(300)
    ]
    start = datetime(2026, 11, 1, tzinfo=UTC)
    out = []
    for i in range(n):
        name, iban = rng.choice(parties)
        account = rng.randrange(2000)
        out.append(
            Transaction(
                transaction_id=f"{prefix}tx-{i}",
                booked_at=start + timedelta(seconds=30 * i),
                amount=Decimal(str(round(rng.lognormvariate(5.5, 1.5), 2) + 0.01)),
                currency="EUR",
                direction=rng.choice(("in", "out")),
                account_id=f"{prefix}acc-{account:05d}",
                channel=rng.choice(("wire", "sepa", "card", "cash")),
                account_owner=f"{prefix}cust-{account:05d}",
                counterparty_name=name,
                counterparty_account=iban,
                counterparty_country="DE",
                reference=f"invoice {rng.randrange(10**8)} {name}",
            )
        )
    return out


def encoded(codec: SchemaRegistry, txs: list[Transaction]) -> list[tuple[bytes, bytes]]:
    return [
        (
            tx.account_id.encode(),
            codec.encode("TransactionSubmitted", transaction_record(tx, source_system="bench")),
        )
        for tx in txs
    ]


def cpu_us(prepare: Callable[[], Callable[[], None]], n: int) -> float:
    """CPU µs per item of the work ``prepare`` gives (over ``n`` items), the best of
    ``ROUNDS`` rounds, each prepared afresh outside the timing."""
    best = float("inf")
    for _ in range(ROUNDS):
        work = prepare()
        started = time.process_time()
        work()
        best = min(best, time.process_time() - started)
    return best / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--transactions", type=int, default=20_000)
    args = parser.parse_args()
    n = args.transactions
    host = machine(
        then=f"; load average {load_average()} at the start (CPU time is measured: other work "
        "sharing the CPUs changes it little)"
    )
    settings = Settings()
    engine = connect(settings.database_dsn)  # the processors' role, as in production
    owner = connect(settings.admin_database_dsn)  # makes the schema, removes the bench's keys
    create_schema(owner)
    prefix = f"bench-txseal-{uuid.uuid4().hex[:8]}-"
    txs = payments(n, prefix, random.Random(SEED))
    subjects = {tx.account_id for tx in txs} | {tx.account_owner or "" for tx in txs}

    def with_keys() -> SchemaRegistry:
        """A codec whose keyring has every key read (a busy screener's cache), nothing
        opened or sealed with them yet."""
        keyring = DatabaseKeyring(engine, ttl_s=3600.0)
        keyring.prefetch(subjects)
        return registry().with_keyring(keyring)

    def no_keys() -> SchemaRegistry:
        return registry()

    plain = encoded(registry(), txs)
    sealed = encoded(with_keys(), txs)
    assert all(b"Party " not in value for _, value in sealed), "a value went out unsealed"
    rules = load_transaction_rules(settings.transactions_rules_dir)

    def reading(
        codec: Callable[[], SchemaRegistry], records: list[tuple[bytes, bytes]]
    ) -> Callable[[], Callable[[], None]]:
        def prepare() -> Callable[[], None]:
            reader = TransactionReader(codec())

            def work() -> None:
                for _, value in records:
                    reader.payment(value)

            return work

        return prepare

    def codec_path(records: list[tuple[bytes, bytes]]) -> Callable[[], Callable[[], None]]:
        def prepare() -> Callable[[], None]:
            decode = with_keys().decode

            def work() -> None:
                for _, value in records:
                    read_transaction(decode(value)[1])

            return work

        return prepare

    def stage(
        codec: Callable[[], SchemaRegistry], records: list[tuple[bytes, bytes]]
    ) -> Callable[[], Callable[[], None]]:
        def prepare() -> Callable[[], None]:
            chosen = codec()
            screener = TransactionScreener(rules, None, chosen)
            encode = chosen.encode

            def work() -> None:
                accounts: dict[bytes, AccountState] = {}
                for key, value in records:
                    account = accounts.setdefault(key, AccountState())
                    for out in screener(value, key, account):
                        encode(out.event_type, out.record)

            return work

        return prepare

    measured = {
        "decode: plain, no keys (before)": cpu_us(reading(no_keys, plain), n),
        "decode: sealed, codec path (before)": cpu_us(codec_path(sealed), n),
        "decode: sealed, screener's reader": cpu_us(reading(with_keys, sealed), n),
        "decode: plain, with keys": cpu_us(reading(with_keys, plain), n),
        "stage: plain, no keys": cpu_us(stage(no_keys, plain), n),
        "stage: sealed, with keys": cpu_us(stage(with_keys, sealed), n),
    }
    with owner.begin() as conn:
        conn.execute(
            text("DELETE FROM audit_subject_keys WHERE subject_id LIKE :p"), {"p": prefix + "%"}
        )
    figures: dict[str, dict[str, Any]] = {
        f"{name}: CPU per transaction": {"value": round(us, 1), "unit": "µs", "target": None}
        for name, us in measured.items()
    }
    write_results(
        RESULTS, ".venv/bin/python benchmarks/transaction_sealing_bench.py", host, figures
    )


if __name__ == "__main__":
    main()
