"""``compliance users add`` / ``list`` / ``disable`` / ``enable`` / ``set-password`` /
``logins``: the officers who log in to the review application.

``disable`` ends the officer's sessions at once and refuses their logins from then on;
``set-password`` replaces the password (their sessions end too); ``logins`` shows the latest
login attempts with a name (when, from where, the outcome; never a password).

The password is read from a prompt (twice, not echoed) or, with ``--password-stdin``, from the
first line of standard input; it is never an argument, so it stays out of shell histories and
process lists. Only its argon2id hash is kept (``compliance.officers``).
"""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from sqlalchemy import Engine

from compliance.config import Settings
from compliance.errors import ComplianceError
from compliance.officers import (
    ROLES,
    add_officer,
    disable_officer,
    enable_officer,
    officer_list,
    set_password,
)


def _engine(settings: Settings) -> Engine:
    from compliance.audit.store import connect, require_database

    engine = connect(settings.database_dsn)
    require_database(engine)
    return engine


def read_password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise ComplianceError("no password on standard input")
        return password
    password = getpass.getpass("Password: ")
    if getpass.getpass("Password again: ") != password:
        raise ComplianceError("the two passwords differ")
    return password


def cmd_users_add(settings: Settings, args: argparse.Namespace) -> int:
    password = read_password(args.password_stdin)
    officer = add_officer(_engine(settings), args.username, args.role, password, args.name)
    print(f"added {officer.username} ({officer.role})")
    return 0


def cmd_users_list(settings: Settings, _: argparse.Namespace) -> int:
    officers = officer_list(_engine(settings))
    for officer in officers:
        state = "  disabled" if officer.disabled else ""
        print(f"{officer.username:32} {officer.role:11} {officer.display_name}{state}")
    if not officers:
        print("no officer yet: add one with `compliance users add NAME --role analyst`")
    return 0


def cmd_users_disable(settings: Settings, args: argparse.Namespace) -> int:
    disable_officer(_engine(settings), args.username)
    print(f"disabled {args.username}: their sessions ended, they cannot log in")
    return 0


def cmd_users_enable(settings: Settings, args: argparse.Namespace) -> int:
    enable_officer(_engine(settings), args.username)
    print(f"enabled {args.username}")
    return 0


def cmd_users_set_password(settings: Settings, args: argparse.Namespace) -> int:
    engine = _engine(settings)
    password = read_password(args.password_stdin)
    set_password(engine, args.username, password)
    print(f"password of {args.username} changed; their sessions ended")
    return 0


def cmd_users_logins(settings: Settings, args: argparse.Namespace) -> int:
    from compliance.officer_logins import recent_logins

    for attempt in recent_logins(_engine(settings), args.username, args.limit):
        print(f"{attempt.at:%Y-%m-%d %H:%M:%S} {attempt.outcome:7} {attempt.client}")
    return 0


def register(sub: Any) -> None:
    users = sub.add_parser("users", help="officers of the review application").add_subparsers(
        dest="action", required=True
    )
    add = users.add_parser("add", help="add an officer (the password is asked for)")
    add.add_argument("username", help="lower-case letters, digits and . _ @ -")
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument("--name", help="the name shown in the application (default: the username)")
    add.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of standard input instead of a prompt",
    )
    add.set_defaults(func=cmd_users_add)
    users.add_parser("list", help="every officer, their role and whether disabled").set_defaults(
        func=cmd_users_list
    )
    disable = users.add_parser("disable", help="stop an officer: sessions end, no more login")
    disable.add_argument("username")
    disable.set_defaults(func=cmd_users_disable)
    enable = users.add_parser("enable", help="let a disabled officer log in again")
    enable.add_argument("username")
    enable.set_defaults(func=cmd_users_enable)
    change = users.add_parser(
        "set-password", help="replace an officer's password (asked for); their sessions end"
    )
    change.add_argument("username")
    change.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of standard input instead of a prompt",
    )
    change.set_defaults(func=cmd_users_set_password)
    logins = users.add_parser("logins", help="the latest login attempts with a user name")
    logins.add_argument("username")
    logins.add_argument("--limit", type=int, default=20)
    logins.set_defaults(func=cmd_users_logins)
