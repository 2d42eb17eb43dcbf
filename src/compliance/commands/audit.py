"""``compliance db ...``, ``compliance audit ...`` and ``compliance gdpr ...``: the audit
trail, its verification, the queries people run on it, and erasure of a data subject."""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import Engine

from compliance.config import Settings
from compliance.errors import ComplianceError
from compliance.progress import progress


def _engine(settings: Settings) -> Engine:
    from compliance.audit.store import connect, require_database

    engine = connect(settings.database_dsn)
    require_database(engine)
    return engine


def _admin_engine(settings: Settings) -> Engine:
    """The owner of the tables: for migrations, grants and erasure only."""
    from compliance.audit.store import connect, require_database

    engine = connect(settings.admin_database_dsn)
    require_database(engine, "COMPLIANCE_ADMIN_DATABASE_URL")
    return engine


def cmd_db_init(settings: Settings, _: argparse.Namespace) -> int:
    from compliance.db_setup import initialise

    for ready in initialise(_admin_engine(settings), settings):
        print(_granted(ready.role, ready.purpose, ready.created))
    print("database ready")
    return 0


def cmd_db_grant_writer(settings: Settings, args: argparse.Namespace) -> int:
    from compliance.db_setup import Purpose, create_every_table, grant

    engine = _admin_engine(settings)
    create_every_table(engine)
    purpose: Purpose = "processors" if args.processors else "audit-sink"
    ready = grant(engine, args.role, purpose, _role_password(settings, args))
    print(_granted(ready.role, ready.purpose, ready.created))
    if not ready.created and (args.password_file or args.password_env):
        print(f"role {args.role} existed: its password is left as it was (ALTER ROLE changes it)")
    return 0


def _granted(role: str, purpose: str, created: bool) -> str:
    made = "created; " if created else ""
    if purpose == "processors":
        return (
            f"role {role}: {made}may use the processors' tables and read the audit trail; run "
            "the classifier and checker with COMPLIANCE_DATABASE_URL naming that role"
        )
    return (
        f"role {role}: {made}may append to the audit trail, and nothing else; run the audit "
        "sink with COMPLIANCE_AUDIT_DATABASE_URL naming that role"
    )


def _role_password(settings: Settings, args: argparse.Namespace) -> str | None:
    """The password a missing role is created with: from --password-file, the variable named
    by --password-env, or the configured URL that names the role; never from the command
    line itself (other users see it) and never printed."""
    from sqlalchemy.engine import make_url

    if args.password_file:
        try:
            return Path(args.password_file).read_text(encoding="utf-8").strip("\r\n")
        except OSError as exc:
            raise ComplianceError(f"cannot read --password-file: {exc.strerror}") from None
    if args.password_env:
        value = os.environ.get(args.password_env)
        if not value:
            raise ComplianceError(f"--password-env: {args.password_env} is not set")
        return value
    dsn = settings.database_dsn if args.processors else settings.audit_database_dsn
    url = make_url(dsn)
    return url.password if url.username == args.role and url.password else None


def cmd_audit_summary(settings: Settings, _: argparse.Namespace) -> int:
    from compliance.audit.queries import conflicts_by_topic, counts_by_type
    from compliance.topics import every_topic

    topics = [settings.topic(t) for t in every_topic()]
    engine = _engine(settings)
    for event_type, count in sorted(counts_by_type(engine, topics).items()):
        print(f"{event_type:24} {count}")
    for topic, count in sorted(conflicts_by_topic(engine, topics).items()):
        print(f"conflicting versions on {topic}: {count} (an id seen again with other content)")
    return 0


def cmd_audit_verify(settings: Settings, args: argparse.Namespace) -> int:
    from compliance.audit.checkpoints import signing_key
    from compliance.audit.verify import verify

    report = verify(_engine(settings), signing_key(settings), args.topic_prefix)
    print(
        f"{report.chains} chain(s), {report.rows} row(s), {report.checkpoints} signed "
        "checkpoint(s) checked"
    )
    for conflict in report.conflicts:
        print(f"  {conflict}")
    if report.intact:
        print("audit trail intact")
        return 0
    print(f"{len(report.findings)} problem(s); the first:\n  {report.findings[0]}")
    for finding in report.findings[1:]:
        print(f"  {finding}")
    return 1


def cmd_audit_trail(settings: Settings, args: argparse.Namespace) -> int:
    from compliance.audit.queries import decision_trail

    events = decision_trail(_engine(settings), args.id)
    if not events:
        print(f"no events about {args.id!r}")
        return 1
    for e in events:
        decided = ", ".join(
            part
            for part in (
                f"ruleset {e.ruleset_version}" if e.ruleset_version else "",
                f"model {e.model}" if e.model else "",
            )
            if part
        )
        print(
            f"{e.occurred_at.isoformat(timespec='milliseconds')}  {e.event_type:20} "
            f"{e.topic}[{e.partition}]@{e.offset}  by {e.producer}"
            + (f" ({decided})" if decided else "")
        )
        detail = _detail(e.event_type, e.payload)
        if detail:
            print(f"    {detail}")
    return 0


def _detail(event_type: str, p: dict[str, Any]) -> str:
    if event_type == "DocumentArrived":
        return f"document {p.get('document_id')} {p.get('filename')} from {p.get('source_system')}"
    if event_type == "DocumentClassified":
        return f"classified {p.get('document_type')} (confidence {p.get('confidence')})"
    if event_type == "CheckResult":
        return (
            f"rule {p.get('rule_id')} version {p.get('rule_version')}: {p.get('outcome')} - "
            f"{p.get('explanation')}"
        )
    if event_type == "ComplianceException":
        rule = (
            f" rule {p.get('rule_id')} version {p.get('rule_version')}" if p.get("rule_id") else ""
        )
        return f"{p.get('kind')} ({p.get('severity')}){rule}: {p.get('reason')}"
    if event_type == "DeadLetter":
        return f"dead letter from {p.get('source_topic')}: {p.get('error')}"
    return ""


def _instant(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not an ISO date or time (e.g. 2026-11-01 or 2026-11-01T12:00Z)"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def cmd_audit_export(settings: Settings, args: argparse.Namespace) -> int:
    from compliance.audit.queries import EXPORT_COLUMNS, export_rows

    if args.until <= args.since:
        raise ComplianceError("--until must be later than --since")
    rows = export_rows(_engine(settings), args.since, args.until)
    out: TextIO = open(args.output, "w", newline="") if args.output else sys.stdout  # noqa: SIM115
    try:
        exported = progress(rows, what="exported", unit="event")
        count = _write_export(exported, args.format, out, EXPORT_COLUMNS)
    finally:
        if args.output:
            out.close()
    print(f"exported {count} event(s)", file=sys.stderr)
    return 0


def _write_export(rows: Any, fmt: str, out: TextIO, columns: tuple[str, ...]) -> int:
    count = 0
    writer = csv.DictWriter(out, fieldnames=columns) if fmt == "csv" else None
    if writer is not None:
        writer.writeheader()
    for row in rows:
        row = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in row.items()}
        if writer is not None:
            writer.writerow(row | {"payload": json.dumps(row["payload"], ensure_ascii=False)})
        else:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
        count += 1
    return count


def cmd_gdpr_erase(settings: Settings, args: argparse.Namespace) -> int:
    from compliance.gdpr import erase_subject

    done = erase_subject(_admin_engine(settings), args.subject, settings.topic_prefix)
    if done.key_destroyed:
        print(
            f"key of {args.subject!r} destroyed: its personal data in the audit trail is now "
            "unreadable; the rows and their hashes stay"
        )
    else:
        print(
            f"{args.subject!r} had no key (nothing recorded, or already erased); it is "
            "marked erased, so later events are recorded without its personal data"
        )
    if done.accounts_erased:
        print(
            f"keys of its {len(done.accounts_erased)} account(s) destroyed (their payments' "
            f"personal data): {', '.join(done.accounts_erased)}"
        )
    print(
        f"checker's remembered documents deleted: {done.checker_documents_deleted}; "
        f"cached Claude answers for its documents deleted: {done.cached_answers_deleted}"
    )
    return 0


def register(sub: Any) -> None:
    db = sub.add_parser("db", help="database administration").add_subparsers(
        dest="action", required=True
    )
    db.add_parser(
        "init",
        help="as the owner (COMPLIANCE_ADMIN_DATABASE_URL): create or upgrade every table, then "
        "create and grant the roles of COMPLIANCE_DATABASE_URL and COMPLIANCE_AUDIT_DATABASE_URL",
    ).set_defaults(func=cmd_db_init)
    writer = db.add_parser(
        "grant-writer",
        help="create a database role if missing and let it append to the audit trail, only "
        "(or, with --processors, use the processors' tables)",
    )
    writer.add_argument("role", help="the role the audit sink (or the processors) connects as")
    writer.add_argument(
        "--processors",
        action="store_true",
        help="grant what the classifier, checker and CLI need instead of the sink's rights",
    )
    source = writer.add_mutually_exclusive_group()
    source.add_argument(
        "--password-file", help="file holding the password a missing role is created with"
    )
    source.add_argument(
        "--password-env",
        metavar="VARIABLE",
        help="environment variable holding the password a missing role is created with "
        "(default: the password of the configured URL naming the role)",
    )
    writer.set_defaults(func=cmd_db_grant_writer)

    audit = sub.add_parser("audit", help="the audit trail").add_subparsers(
        dest="action", required=True
    )
    audit.add_parser("summary", help="events recorded, by type").set_defaults(
        func=cmd_audit_summary
    )
    verify = audit.add_parser(
        "verify", help="walk the hash chains; name rows modified, deleted or inserted"
    )
    verify.add_argument("--topic-prefix", default="", help="only chains of these topics")
    verify.set_defaults(func=cmd_audit_verify)
    trail = audit.add_parser("trail", help="every event about a document, customer or case")
    trail.add_argument("id", help="correlation id (document, transaction) or subject id")
    trail.set_defaults(func=cmd_audit_trail)
    export = audit.add_parser("export", help="events in a time range, for a regulator")
    export.add_argument("--since", type=_instant, required=True, help="ISO date/time, inclusive")
    export.add_argument("--until", type=_instant, required=True, help="ISO date/time, exclusive")
    export.add_argument("--format", choices=("csv", "jsonl"), default="jsonl")
    export.add_argument("--output", help="file to write (default: standard output)")
    export.set_defaults(func=cmd_audit_export)

    gdpr = sub.add_parser("gdpr", help="data-subject rights").add_subparsers(
        dest="action", required=True
    )
    erase = gdpr.add_parser("erase", help="crypto-shred a subject's personal data")
    erase.add_argument("subject", help="the subject id (customer id, else document id)")
    erase.set_defaults(func=cmd_gdpr_erase)
