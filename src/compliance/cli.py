"""The ``compliance`` command: run a processor, manage topics, publish documents, the demo."""

from __future__ import annotations

import argparse
import logging
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from compliance import kafka_io, metrics
from compliance.config import Settings, load_settings
from compliance.errors import ComplianceError

Runner = Callable[[Settings, threading.Event], None]


def _processors() -> dict[str, Runner]:
    from compliance.processors import audit_sink, checker, classifier

    return {"classifier": classifier.main, "checker": checker.main, "audit-sink": audit_sink.main}


def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    from compliance.runner import install_stop_signals

    processors = _processors()
    if args.name not in processors:
        raise ComplianceError(f"unknown processor {args.name!r}; one of {', '.join(processors)}")
    stop = threading.Event()
    install_stop_signals(stop)
    metrics.serve(settings.metrics_port)
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


def cmd_publish(settings: Settings, args: argparse.Namespace) -> int:
    from compliance.publisher import Publisher, expand

    kafka_io.require_broker(settings)
    try:
        files = expand(args.paths)
    except FileNotFoundError as exc:
        raise ComplianceError(str(exc)) from None
    with Publisher(settings) as publisher:
        published = publisher.publish_files(
            files,
            source_system=args.source_system,
            customer_id=args.customer_id,
            declared_type=args.declared_type,
        )
    for item in published:
        print(f"{item.document_id}  {item.event_id}  {item.path}")
    return 0


def cmd_db_init(settings: Settings, _: argparse.Namespace) -> int:
    from compliance.audit.store import connect, create_schema, require_database

    engine = connect(settings.database_dsn)
    require_database(engine)
    create_schema(engine)
    print("audit schema ready")
    return 0


def cmd_audit_summary(settings: Settings, _: argparse.Namespace) -> int:
    from compliance.audit.queries import counts_by_type
    from compliance.audit.store import connect, require_database
    from compliance.topics import every_topic

    engine = connect(settings.database_dsn)
    require_database(engine)
    topics = [settings.topic(t) for t in every_topic()]
    for event_type, count in sorted(counts_by_type(engine, topics).items()):
        print(f"{event_type:24} {count}")
    return 0


def cmd_rules_validate(settings: Settings, args: argparse.Namespace) -> int:
    from compliance.rules import load_ruleset

    ruleset = load_ruleset(args.folder or settings.rules_dir)
    print(f"{len(ruleset.rules)} rules valid, ruleset version {ruleset.version}")
    return 0


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    from compliance.demo import run_demo

    return run_demo(settings, timeout_s=args.timeout)


def cmd_config(settings: Settings, _: argparse.Namespace) -> int:
    for name, field in Settings.model_fields.items():
        print(f"COMPLIANCE_{name.upper():26} = {getattr(settings, name)!s:50} {field.description}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="compliance", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run a processor until SIGTERM")
    run.add_argument("name", help="classifier, checker or audit-sink")
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

    publish = sub.add_parser("publish", help="publish document-arrival events for files")
    publish.add_argument("paths", nargs="+", type=Path)
    publish.add_argument("--customer-id")
    publish.add_argument("--source-system", default="cli")
    publish.add_argument("--declared-type")
    publish.set_defaults(func=cmd_publish)

    db = sub.add_parser("db", help="database administration").add_subparsers(
        dest="action", required=True
    )
    db.add_parser("init", help="create the audit schema").set_defaults(func=cmd_db_init)

    audit = sub.add_parser("audit", help="the audit trail").add_subparsers(
        dest="action", required=True
    )
    audit.add_parser("summary", help="events recorded, by type").set_defaults(
        func=cmd_audit_summary
    )

    rules = sub.add_parser("rules", help="the rule files").add_subparsers(
        dest="action", required=True
    )
    validate = rules.add_parser("validate", help="check the rule files")
    validate.add_argument("folder", nargs="?", type=Path)
    validate.set_defaults(func=cmd_rules_validate)

    demo = sub.add_parser("demo", help="run the pipeline on the bundled samples")
    demo.add_argument("--timeout", type=float, default=120)
    demo.set_defaults(func=cmd_demo)

    sub.add_parser("config", help="print the settings in force").set_defaults(func=cmd_config)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
        logging.basicConfig(
            level=settings.log_level,
            format="%(asctime)s %(levelname)s %(name)s %(message)s",
        )
        result: int = args.func(settings, args)
        return result
    except ComplianceError as exc:
        print(f"compliance: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
