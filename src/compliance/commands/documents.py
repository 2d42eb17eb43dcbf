"""``compliance publish`` and ``compliance watch``: documents in from upstream systems."""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path
from typing import Any

from compliance import kafka_io
from compliance.config import Settings
from compliance.errors import ComplianceError


def cmd_publish(settings: Settings, args: argparse.Namespace) -> int:
    from compliance.publisher import DocumentTooLarge, Publisher, check_size, expand

    kafka_io.require_broker(settings)
    try:
        files = expand(args.paths)
    except FileNotFoundError as exc:
        raise ComplianceError(str(exc)) from None
    accepted, rejected = [], []
    for path in files:
        try:
            check_size(path, settings.max_document_bytes)
            accepted.append(path)
        except DocumentTooLarge as exc:
            rejected.append(str(exc))
    with Publisher(settings) as publisher:
        published = publisher.publish_files(
            accepted,
            source_system=args.source_system,
            customer_id=args.customer_id,
            declared_type=args.declared_type,
        )
    for item in published:
        print(f"{item.document_id}  {item.event_id}  {item.path}")
    for reason in rejected:
        print(f"rejected: {reason}")
    return 1 if rejected else 0


def cmd_watch(settings: Settings, args: argparse.Namespace) -> int:
    from compliance.documents.watch import Outcome, Watcher
    from compliance.publisher import Publisher, check_size

    kafka_io.require_broker(settings)
    if not args.folder.is_dir():
        raise ComplianceError(f"no such folder: {args.folder}")
    publisher = Publisher(settings)

    def publish(paths: list[Path]) -> list[str]:
        published = publisher.publish_files(
            paths, source_system=args.source_system, customer_id=args.customer_id
        )
        publisher.close()  # waits for the broker's acknowledgement before the state records it
        return [item.document_id for item in published]

    def report(outcome: Outcome) -> None:
        status = "published" if outcome.published else "rejected"
        print(f"{status}: {outcome.path}  {outcome.detail}", flush=True)

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    watcher = Watcher(
        args.folder, publish, lambda p: check_size(p, settings.max_document_bytes), args.state
    )
    print(f"watching {watcher.folder} (state in {watcher.state_file})", flush=True)
    watcher.run(stop, args.interval, report)
    return 0


def register(sub: Any) -> None:
    publish = sub.add_parser("publish", help="publish document-arrival events for files")
    publish.add_argument("paths", nargs="+", type=Path)
    publish.add_argument("--customer-id")
    publish.add_argument("--source-system", default="cli")
    publish.add_argument("--declared-type")
    publish.set_defaults(func=cmd_publish)

    watch = sub.add_parser("watch", help="publish each new file of a folder once, as it arrives")
    watch.add_argument("folder", type=Path)
    watch.add_argument("--customer-id")
    watch.add_argument("--source-system", default="watch")
    watch.add_argument("--interval", type=float, default=1.0, help="seconds between scans")
    watch.add_argument(
        "--state", type=Path, help="state file (default: <folder>/.compliance-watch.jsonl)"
    )
    watch.set_defaults(func=cmd_watch)
