"""``compliance transactions ...``: publish a CSV of payments at a chosen rate (demos,
backtests by replay, benchmarks), and run the transaction rules' examples."""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from compliance.config import Settings
from compliance.errors import ConfigurationError
from compliance.progress import progress

KEYS_PER_QUERY = 500
T = TypeVar("T")


def _mapping(pairs: list[str]) -> dict[str, str]:
    mapping = {}
    for pair in pairs:
        ours, sep, theirs = pair.partition("=")
        if not sep or not ours.strip() or not theirs.strip():
            raise ConfigurationError(f"--map takes our_field=their_column, not {pair!r}")
        mapping[ours.strip()] = theirs.strip()
    return mapping


def _chunks(items: Iterator[T], size: int) -> Iterator[list[T]]:
    """``items`` in lists of ``size``; when reading fails (a bad line), the items read before
    it come first, then the error: a replay is all or nothing up to the bad line."""
    chunk: list[T] = []
    try:
        for item in items:
            chunk.append(item)
            if len(chunk) == size:
                yield chunk
                chunk = []
    except Exception:
        if chunk:
            yield chunk
        raise
    if chunk:
        yield chunk


def cmd_replay(settings: Settings, args: argparse.Namespace) -> int:
    from compliance import kafka_io
    from compliance.publisher import Publisher
    from compliance.transactions.sources import read_csv

    kafka_io.require_broker(settings)
    payments = read_csv(
        args.file,
        format=args.format,
        mapping=_mapping(args.map or []),
        start=datetime.fromisoformat(args.start).replace(tzinfo=UTC),
        currency=args.currency.upper(),
    )
    interval = 1.0 / args.rate if args.rate > 0 else 0.0
    published = 0
    started = time.perf_counter()
    with Publisher(settings) as publisher:
        rows = progress(payments, what="published", unit="tx")
        # The accounts' keys (the payments are sealed with them) read a chunk at a time.
        for chunk in _chunks(rows, KEYS_PER_QUERY):
            publisher.prefetch_keys(chunk)
            for tx in chunk:
                if interval:
                    pause = started + published * interval - time.perf_counter()
                    if pause > 0:
                        time.sleep(pause)
                publisher.publish_transaction(tx, source_system=args.source_system)
                published += 1
    elapsed = time.perf_counter() - started
    print(
        f"published {published} transaction(s) from {args.file} in {elapsed:.1f} s "
        f"({published / elapsed if elapsed else 0:.0f}/s) on "
        f"{settings.topic('transactions.submitted')}"
    )
    return 0


def cmd_test(settings: Settings, args: argparse.Namespace) -> int:
    from compliance.transactions.examples import run_examples
    from compliance.transactions.ruleset import load_transaction_rules
    from compliance.transactions.sanctions import folder_screen

    rules = load_transaction_rules(args.folder or settings.transactions_rules_dir)
    runs = run_examples(rules, folder_screen(settings.sanctions_dir))
    failed = [run for run in runs if not run.ok]
    for run in runs:
        if run.ok and not args.verbose:
            continue
        print(f"{'ok  ' if run.ok else 'FAIL'} {run.rule.id}: {run.example.name}")
        if not run.ok:
            print(f"     expected {run.example.expect}, got: {run.explanation}")
    print(
        f"{len(runs) - len(failed)} of {len(runs)} transaction rule examples as expected "
        f"({len(rules.rules)} rules, ruleset {rules.version}, rates of {rules.rates.as_of})"
    )
    return 1 if failed else 0


def register(sub: Any) -> None:
    area = sub.add_parser("transactions", help="payments: replay a CSV, test the rules")
    actions = area.add_subparsers(dest="action", required=True)
    replay = actions.add_parser(
        "replay", help="publish the payments of a CSV file on transactions.submitted"
    )
    replay.add_argument("file", type=Path)
    replay.add_argument(
        "--rate", type=float, default=100.0, help="payments per second (0: as fast as possible)"
    )
    replay.add_argument(
        "--format",
        choices=["auto", "canonical", "amlsim", "ibm"],
        default="auto",
        help="auto: told apart by the header",
    )
    replay.add_argument(
        "--map",
        action="append",
        metavar="OUR_FIELD=THEIR_COLUMN",
        help="read another CSV as canonical, renaming its columns (repeat per field)",
    )
    replay.add_argument("--currency", default="USD", help="currency of AMLSim amounts")
    replay.add_argument("--start", default="2017-01-01", help="AMLSim's day zero (ISO date)")
    replay.add_argument("--source-system", default="replay", help="names the upstream system")
    replay.set_defaults(func=cmd_replay)

    test = actions.add_parser("test", help="run the examples declared beside each rule")
    test.add_argument("folder", nargs="?", type=Path)
    test.add_argument("-v", "--verbose", action="store_true", help="list passing examples too")
    test.set_defaults(func=cmd_test)
