"""``compliance cases ...``: the case queue and officers' decisions on the command line.

Every change goes through ``compliance.cases.desk.CaseDesk``, as the review application's do,
as the officer named by ``--as``, who proves it with their password (prompted for, or read
from stdin with ``--password-stdin``): without it anyone who can reach the database could act
as two officers and pass the four-eyes rule alone. An unknown or disabled user, or a wrong
password, is refused. ``rebuild`` drops
the case tables' rows of this deployment and applies cases.decisions from its beginning.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from compliance.config import Settings
from compliance.errors import ComplianceError


def _engine(settings: Settings) -> Engine:
    from compliance.audit.store import connect, require_database

    engine = connect(settings.database_dsn)
    require_database(engine)
    return engine


def _officer(settings: Settings, engine: Engine, args: argparse.Namespace) -> Any:
    """The officer of ``--as``, once their password is checked (as the review application's
    login checks it)."""
    from compliance.officer_logins import LoginPolicy, log_in
    from compliance.officers import find_officer

    username: str = args.as_user
    officer = find_officer(engine, username)
    if officer is None:
        raise ComplianceError(
            f"there is no officer {username!r} (add one with `compliance users add`)"
        )
    if officer.disabled:
        raise ComplianceError(f"officer {username!r} is disabled")
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass(f"password of {username}: ")
    policy = LoginPolicy.of(settings)
    result = log_in(engine, username, password, "command-line", policy)
    if result.outcome == "locked":
        raise ComplianceError(
            f"too many failed logins for officer {username!r}: wait a while before trying again"
        )
    if result.officer is None:
        raise ComplianceError(f"wrong password for officer {username!r}")
    return officer


def _when(at: datetime | None) -> str:
    return "-" if at is None else f"{at:%Y-%m-%d %H:%M}"


def _line(case: Any) -> str:
    flags = []
    if case.sla_breached:
        flags.append("SLA BREACHED")
    if case.pending_outcome:
        flags.append(f"{case.pending_outcome} by {case.pending_by}, awaiting approval")
    return (
        f"{case.case_id}  {case.status:16} {case.severity:8} {case.category:22} "
        f"due {_when(case.sla_due_at)}  {case.exception_count:>3} exc  "
        f"{case.assignee or '(unassigned)':14} {case.customer_id}"
        + (f"  [{'; '.join(flags)}]" if flags else "")
    )


def cmd_list(settings: Settings, args: argparse.Namespace) -> int:
    from compliance.cases.queries import queue
    from compliance.cases.tables import OPEN_STATUSES

    statuses = args.status or (None if args.all else list(OPEN_STATUSES))
    found = queue(
        _engine(settings),
        statuses=statuses,
        category=args.category,
        severity=args.severity,
        assignee=args.assignee,
        search=args.search,
        limit=args.limit,
        scope=settings.topic_prefix,
    )
    for case in found:
        print(_line(case))
    print(f"{len(found)} case(s)")
    return 0


def cmd_show(settings: Settings, args: argparse.Namespace) -> int:
    from compliance.cases.queries import case_view
    from compliance.subject_keyring import DatabaseKeyring

    engine = _engine(settings)
    view = case_view(engine, DatabaseKeyring(engine), args.case_id, scope=settings.topic_prefix)
    if view is None:
        raise ComplianceError(f"no case {args.case_id}")
    c = view.case
    print(f"case {c.case_id}: {c.title}")
    print(f"  status {c.status}, severity {c.severity}, category {c.category}")
    print(f"  customer {c.customer_id}, assignee {c.assignee or '(unassigned)'}")
    print(
        f"  opened {_when(c.opened_at)}, updated {_when(c.updated_at)}, SLA due "
        f"{_when(c.sla_due_at)}" + ("  ** SLA BREACHED **" if c.sla_breached else "")
    )
    if c.pending_outcome:
        print(
            f"  pending: {c.pending_outcome} by {c.pending_by} ({_when(c.pending_at)}), "
            "needs a second officer"
        )
        print(f"  pending decision {c.pending_event_id} (approve or reject it with --decision)")
    print(f"\nexceptions ({len(view.exceptions)}):")
    for e in view.exceptions:
        print(
            f"  {_when(e.raised_at)} {e.severity:8} {e.kind} {e.rule_id or ''} "
            f"document {e.document_id or '-'} (event {e.event_id})"
        )
        print(f"      {e.reason}")
        for name, value in sorted(e.details.items()):
            print(f"      {name}: {value}")
    if view.trail:
        print(f"\naudit trail ({len(view.trail)}):")
        for t in view.trail:
            print(f"  {_when(t.occurred_at)} {t.event_type:22} {t.stage:20} {t.event_id}")
            if t.explanation:
                print(f"      {t.explanation}")
    if view.transactions:
        print(f"\ntransactions ({len(view.transactions)}):")
        for tx in view.transactions:
            print(
                f"  {tx.booked_at} {tx.direction:8} {tx.amount:>14} {tx.currency} "
                f"{tx.counterparty or '-'} {tx.counterparty_account or ''}"
            )
    print(f"\nhistory ({len(view.history)}):")
    for h in view.history:
        print(f"  {_when(h.at)} {h.actor:16} {h.action}" + (f": {h.comment}" if h.comment else ""))
    return 0


def _desk(settings: Settings) -> tuple[Any, Any]:
    from compliance import kafka_io
    from compliance.cases.desk import CaseDesk

    kafka_io.require_broker(settings)
    engine = _engine(settings)
    return CaseDesk(settings, engine), engine


def _done(case: Any) -> int:
    print(_line(case))
    return 0


def cmd_assign(settings: Settings, args: argparse.Namespace) -> int:
    desk, engine = _desk(settings)
    return _done(desk.assign(args.case_id, _officer(settings, engine, args), args.assignee))


def cmd_comment(settings: Settings, args: argparse.Namespace) -> int:
    desk, engine = _desk(settings)
    return _done(desk.comment(args.case_id, _officer(settings, engine, args), args.text))


def cmd_review(settings: Settings, args: argparse.Namespace) -> int:
    desk, engine = _desk(settings)
    return _done(desk.start_review(args.case_id, _officer(settings, engine, args)))


def cmd_escalate(settings: Settings, args: argparse.Namespace) -> int:
    desk, engine = _desk(settings)
    return _done(desk.escalate(args.case_id, _officer(settings, engine, args), args.reason))


def cmd_resolve(settings: Settings, args: argparse.Namespace) -> int:
    desk, engine = _desk(settings)
    case = desk.resolve(args.case_id, _officer(settings, engine, args), args.outcome, args.reason)
    if case.pending_outcome:
        print("recorded; a second officer (a supervisor) must approve it")
    return _done(case)


def cmd_approve(settings: Settings, args: argparse.Namespace) -> int:
    desk, engine = _desk(settings)
    return _done(desk.approve(args.case_id, _officer(settings, engine, args), args.decision))


def cmd_reject(settings: Settings, args: argparse.Namespace) -> int:
    desk, engine = _desk(settings)
    return _done(
        desk.reject(args.case_id, _officer(settings, engine, args), args.reason, args.decision)
    )


def cmd_rebuild(settings: Settings, args: argparse.Namespace) -> int:
    from compliance import kafka_io
    from compliance.cases.feed import rebuild

    kafka_io.require_broker(settings)
    dropped, applied = rebuild(settings, _engine(settings), timeout_s=args.timeout)
    print(
        f"dropped {dropped} case(s); applied {applied} decision(s) from "
        f"{settings.topic('cases.decisions')}"
    )
    return 0


def register(sub: Any) -> None:
    cases = sub.add_parser("cases", help="the case queue and officers' decisions").add_subparsers(
        dest="action", required=True
    )
    listing = cases.add_parser("list", help="cases by SLA due time (open ones unless told)")
    listing.add_argument("--status", action="append", help="repeatable; default: the open ones")
    listing.add_argument("--all", action="store_true", help="closed cases too")
    listing.add_argument("--category")
    listing.add_argument("--severity")
    listing.add_argument("--assignee")
    listing.add_argument("--search", help="customer id or document id (or their start)")
    listing.add_argument("--limit", type=int, default=50)
    listing.set_defaults(func=cmd_list)

    show = cases.add_parser("show", help="one case: exceptions, evidence, history")
    show.add_argument("case_id")
    show.set_defaults(func=cmd_show)

    def decision(name: str, help_text: str, func: Any) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = cases.add_parser(name, help=help_text)
        parser.add_argument("case_id")
        parser.add_argument(
            "--as", dest="as_user", required=True, metavar="USERNAME", help="the officer deciding"
        )
        parser.add_argument(
            "--password-stdin",
            action="store_true",
            help="read the officer's password from stdin (else it is prompted for)",
        )
        parser.set_defaults(func=func)
        return parser

    decision("assign", "assign the case to an officer", cmd_assign).add_argument("assignee")
    decision("comment", "add a comment", cmd_comment).add_argument("text")
    decision("review", "start reviewing the case", cmd_review)
    decision("escalate", "escalate the case", cmd_escalate).add_argument("--reason", required=True)
    resolve = decision("resolve", "clear or confirm the case", cmd_resolve)
    resolve.add_argument("outcome", choices=["cleared", "confirmed"])
    resolve.add_argument("--reason", required=True)
    pending_help = (
        "the id of the pending decision, as `compliance cases show` prints it: refused when "
        "the decision waiting is no longer that one"
    )
    approve = decision(
        "approve", "approve the decision waiting on the case (four eyes)", cmd_approve
    )
    approve.add_argument("--decision", required=True, metavar="DECISION_ID", help=pending_help)
    reject = decision("reject", "reject the decision waiting on the case", cmd_reject)
    reject.add_argument("--reason", required=True)
    reject.add_argument("--decision", required=True, metavar="DECISION_ID", help=pending_help)
    rebuild = cases.add_parser("rebuild", help="rebuild the case tables from cases.decisions")
    rebuild.add_argument("--timeout", type=float, default=600)
    rebuild.set_defaults(func=cmd_rebuild)
