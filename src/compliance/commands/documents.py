"""``compliance publish``: documents in from upstream systems."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from compliance import kafka_io
from compliance.config import Settings
from compliance.errors import ComplianceError


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


def register(sub: Any) -> None:
    publish = sub.add_parser("publish", help="publish document-arrival events for files")
    publish.add_argument("paths", nargs="+", type=Path)
    publish.add_argument("--customer-id")
    publish.add_argument("--source-system", default="cli")
    publish.add_argument("--declared-type")
    publish.set_defaults(func=cmd_publish)
