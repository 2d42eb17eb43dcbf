"""``compliance users add`` / ``list``: the officers who log in to the review application.

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
from compliance.officers import ROLES, add_officer, officer_list


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
