"""``compliance rules ...``: the rule files."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from compliance.config import Settings


def cmd_rules_validate(settings: Settings, args: argparse.Namespace) -> int:
    from compliance.rules import load_ruleset

    ruleset = load_ruleset(args.folder or settings.rules_dir)
    print(f"{len(ruleset.rules)} rules valid, ruleset version {ruleset.version}")
    return 0


def register(sub: Any) -> None:
    rules = sub.add_parser("rules", help="the rule files").add_subparsers(
        dest="action", required=True
    )
    validate = rules.add_parser("validate", help="check the rule files")
    validate.add_argument("folder", nargs="?", type=Path)
    validate.set_defaults(func=cmd_rules_validate)
