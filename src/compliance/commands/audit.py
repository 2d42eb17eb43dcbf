"""``compliance db ...`` and ``compliance audit ...``: the audit trail."""

from __future__ import annotations

import argparse
from typing import Any

from compliance.config import Settings


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


def register(sub: Any) -> None:
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
