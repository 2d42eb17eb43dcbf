"""``compliance rules ...``: lint the rule files, run their examples, backtest a change."""

from __future__ import annotations

import argparse
import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from compliance.config import Settings
from compliance.errors import ConfigurationError


def cmd_rules_validate(settings: Settings, args: argparse.Namespace) -> int:
    from compliance.rules import load_ruleset

    ruleset = load_ruleset(args.folder or settings.rules_dir)
    examples = sum(len(r.examples) for r in ruleset.rules)
    print(
        f"{len(ruleset.rules)} rules valid ({examples} examples), ruleset version {ruleset.version}"
    )
    _print_lists(ruleset)
    return 0


def _print_lists(ruleset: Any) -> None:
    if ruleset.lists_version:
        print(
            f"sanctions lists screened here: {ruleset.lists} ({ruleset.lists_version}); "
            "a checker screens the lists in force"
        )


def cmd_rules_test(settings: Settings, args: argparse.Namespace) -> int:
    from compliance.rules import load_ruleset
    from compliance.rules.examples import run_examples

    ruleset = load_ruleset(args.folder or settings.rules_dir)
    runs = run_examples(ruleset)
    failed = [run for run in runs if not run.ok]
    for run in runs:
        if run.ok and not args.verbose:
            continue
        mark = "ok  " if run.ok else "FAIL"
        print(f"{mark} {run.rule.id}: {run.example.name}")
        if not run.ok:
            print(f"     expected {run.example.expect}, got {run.outcome}: {run.explanation}")
    print(
        f"{len(runs) - len(failed)} of {len(runs)} examples as expected "
        f"({len(ruleset.rules)} rules, ruleset {ruleset.version})"
    )
    _print_lists(ruleset)
    transactions_failed = _transaction_examples(settings, args)
    return 1 if failed or transactions_failed else 0


def _transaction_examples(settings: Settings, args: argparse.Namespace) -> int:
    """The transaction rules' examples too (``transactions/`` of the folder tested)."""
    from compliance.commands.transactions import cmd_test

    folder = args.folder / "transactions" if args.folder else settings.transactions_rules_dir
    if not (folder / "monitoring.yaml").is_file():
        return 0
    return cmd_test(settings, argparse.Namespace(folder=folder, verbose=args.verbose))


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigurationError(f"{text!r} is not an ISO 8601 date or time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def cmd_rules_backtest(settings: Settings, args: argparse.Namespace) -> int:
    from compliance.audit.store import connect, require_database
    from compliance.rules import load_ruleset
    from compliance.rules.backtest import backtest
    from compliance.screening.live import LiveSanctions
    from compliance.topics import DOCUMENTS_CLASSIFIED

    engine = connect(settings.database_dsn)
    require_database(engine)
    ruleset = load_ruleset(args.folder or settings.rules_dir)
    if not args.offline_lists:  # screen as the checker would now: lists in force, clearances
        ruleset = ruleset.with_lists(LiveSanctions(settings, engine))
    report = backtest(
        engine,
        ruleset,
        topic=settings.topic(DOCUMENTS_CLASSIFIED),
        scope=settings.topic_prefix,
        since=_moment(args.since),
        until=_moment(args.until) if args.until else None,
    )
    if args.json:
        print(json.dumps(_as_json(report), indent=2))
        return 0
    print(
        f"{report.documents} documents replayed through ruleset {report.ruleset_version} "
        f"(decided then by {', '.join(sorted(report.versions_before)) or 'no recorded ruleset'})"
    )
    if ruleset.lists_version:
        print(f"sanctions screening on {ruleset.lists} ({ruleset.lists_version})")
    print(
        f"{len(report.changes)} of {report.decisions} decisions would change, "
        f"in {report.documents_changed} documents"
    )
    by_rule = Counter((c.rule_id, c.before, c.after) for c in report.changes)
    for (rule_id, before, after), count in sorted(by_rule.items()):
        print(f"  {rule_id}: {before or '(not applied)'} -> {after or '(not applied)'}: {count}")
    for change in report.changes[: args.limit]:
        print(
            f"{change.classified_at:%Y-%m-%d %H:%M} {change.document_id} "
            f"({change.document_type}, customer {change.customer_id or '-'}) {change.rule_id}: "
            f"{change.before or '-'} -> {change.after or '-'}: {change.explanation}"
        )
    return 0


def _as_json(report: Any) -> dict[str, Any]:
    return {
        "ruleset_version": report.ruleset_version,
        "lists_version": report.lists_version,
        "documents": report.documents,
        "decisions": report.decisions,
        "versions_before": sorted(report.versions_before),
        "changes": [
            {
                "document_id": c.document_id,
                "customer_id": c.customer_id,
                "document_type": c.document_type,
                "classified_at": c.classified_at.isoformat(),
                "rule_id": c.rule_id,
                "before": c.before,
                "after": c.after,
                "explanation": c.explanation,
            }
            for c in report.changes
        ],
    }


def register(sub: Any) -> None:
    rules = sub.add_parser("rules", help="the rule files").add_subparsers(
        dest="action", required=True
    )
    validate = rules.add_parser("validate", help="check the rule files (schema, parameters)")
    validate.add_argument("folder", nargs="?", type=Path)
    validate.set_defaults(func=cmd_rules_validate)

    test = rules.add_parser("test", help="run the examples declared beside each rule")
    test.add_argument("folder", nargs="?", type=Path)
    test.add_argument("-v", "--verbose", action="store_true", help="list passing examples too")
    test.set_defaults(func=cmd_rules_test)

    back = rules.add_parser(
        "backtest", help="replay audited documents through a ruleset; report changed decisions"
    )
    back.add_argument("--since", required=True, help="ISO date or time (UTC if no zone)")
    back.add_argument("--until", help="ISO date or time; default: now")
    back.add_argument(
        "--folder", type=Path, help="the changed rules; default: COMPLIANCE_RULES_DIR"
    )
    back.add_argument(
        "--offline-lists",
        action="store_true",
        help="screen against the rules' offline lists, without clearances, instead of the "
        "lists and clearances in force",
    )
    back.add_argument("--json", action="store_true", help="the full report as JSON")
    back.add_argument("--limit", type=int, default=50, help="changes listed one by one")
    back.set_defaults(func=cmd_rules_backtest)
