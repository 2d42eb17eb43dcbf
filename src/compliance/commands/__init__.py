"""Sub-commands of the ``compliance`` CLI, one module per area. Each module has
``register(subparsers)``, adding its commands; a command is ``fn(settings, args) -> int``."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from compliance.config import Settings

Command = Callable[[Settings, argparse.Namespace], int]

AREAS = ("documents", "rules", "sanctions", "audit", "transactions", "users")
