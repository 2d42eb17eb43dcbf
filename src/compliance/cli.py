"""The ``compliance`` command: run a processor, manage topics, publish documents, the demo."""

from __future__ import annotations

import argparse
import importlib
import sys
import threading
from collections.abc import Callable

import psycopg2.errors
from sqlalchemy.exc import DBAPIError

from compliance import health, kafka_io, log_setup, metrics
from compliance.commands import AREAS
from compliance.config import Settings, load_settings
from compliance.errors import ComplianceError

Runner = Callable[[Settings, threading.Event], None]


def _processors() -> dict[str, Runner]:
    from compliance.processors import (
        audit_sink,
        cases,
        checker,
        classifier,
        notifier,
        scheduler,
        transaction_screener,
    )

    return {
        "classifier": classifier.main,
        "checker": checker.main,
        "audit-sink": audit_sink.main,
        "transaction-screener": transaction_screener.main,
        "notifier": notifier.main,
        "cases": cases.main,
        "review-ui": _review_ui,
        "scheduler": scheduler.main,
    }


def _review_ui(settings: Settings, stop: threading.Event) -> None:
    """The review application (imported only when run: the processors need no web stack)."""
    from compliance.review.serve import main

    main(settings, stop)


def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    from compliance.runner import install_stop_signals

    processors = _processors()
    if args.name not in processors:
        raise ComplianceError(f"unknown processor {args.name!r}; one of {', '.join(processors)}")
    stop = threading.Event()
    install_stop_signals(stop)
    metrics.set_enabled(settings.metrics_enabled)
    health.state.start(args.name, settings.liveness_timeout_s)
    if settings.metrics_port:
        health.serve(settings.metrics_host, settings.metrics_port)
    processors[args.name](settings, stop)
    return 0


def cmd_topics_create(settings: Settings, _: argparse.Namespace) -> int:
    kafka_io.require_broker(settings)
    created = kafka_io.create_topics(settings)
    print(f"created {len(created)} topic(s)" + (": " + ", ".join(created) if created else ""))
    return 0


def cmd_topics_list(settings: Settings, _: argparse.Namespace) -> int:
    from compliance.topics import every_topic

    for spec in every_topic():
        days = spec.retention_ms // 86_400_000
        print(
            f"{settings.topic(spec):34} {spec.partitions:>3} partitions {days:>4} days  "
            f"{spec.description}"
        )
    return 0


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    from compliance.demo import run_demo

    return run_demo(settings, timeout_s=args.timeout, serve=args.serve)


def cmd_config(settings: Settings, _: argparse.Namespace) -> int:
    for name, field in Settings.model_fields.items():
        print(f"COMPLIANCE_{name.upper():26} = {getattr(settings, name)!s:50} {field.description}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="compliance", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run a processor until SIGTERM")
    run.add_argument(
        "name", help="classifier, checker, audit-sink, transaction-screener or scheduler"
    )
    run.set_defaults(func=cmd_run)

    topics = sub.add_parser("topics", help="topic administration").add_subparsers(
        dest="action", required=True
    )
    topics.add_parser("create", help="create missing topics (idempotent)").set_defaults(
        func=cmd_topics_create
    )
    topics.add_parser("list", help="the topics, partitions and retention").set_defaults(
        func=cmd_topics_list
    )

    demo = sub.add_parser("demo", help="run the pipeline on the bundled samples")
    demo.add_argument("--timeout", type=float, default=120)
    demo.add_argument(
        "--serve",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="keep the review application serving until Ctrl-C after the demo (default: "
        "when run in a terminal)",
    )
    demo.set_defaults(func=cmd_demo)

    sub.add_parser("config", help="print the settings in force").set_defaults(func=cmd_config)
    for area in AREAS:
        importlib.import_module(f"compliance.commands.{area}").register(sub)
    importlib.import_module("compliance.commands.jobs").register(sub)
    report = sub.add_parser("report", help="reports from the audit trail").add_subparsers(
        dest="report", required=True
    )
    importlib.import_module("compliance.commands.reports").register(report)
    importlib.import_module("compliance.commands.report_daily").register(report)
    importlib.import_module("compliance.commands.cases").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
        log_setup.configure(settings.log_level)
        result: int = args.func(settings, args)
        return result
    except ComplianceError as exc:
        print(f"compliance: {exc}", file=sys.stderr)
        return 2
    except DBAPIError as exc:
        if not isinstance(exc.orig, psycopg2.errors.InsufficientPrivilege):
            raise
        print(f"compliance: {_refused(exc.orig)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _refused(error: psycopg2.errors.InsufficientPrivilege) -> str:
    """The processors and the sink connect as roles that own nothing: a table they may not
    use (or make) means the owner's step was not run for this version."""
    return (
        f"PostgreSQL refused this role: {error.diag.message_primary}; run `compliance db init` "
        "with the owner's COMPLIANCE_ADMIN_DATABASE_URL (it makes every table and grants the "
        "roles of COMPLIANCE_DATABASE_URL and COMPLIANCE_AUDIT_DATABASE_URL)"
    )
