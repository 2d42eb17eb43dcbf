"""Errors raised by the screening library."""

from __future__ import annotations

from pathlib import Path

from compliance.errors import ComplianceError


class ListLoadError(ComplianceError):
    """A sanctions/PEP list file could not be loaded.

    The message always names the file and, where known, the line or XML element at fault.
    Loading is all-or-nothing: a caller that gets this error keeps the list it already had.
    """

    def __init__(
        self,
        path: str | Path,
        reason: str,
        *,
        line: int | None = None,
        element: str | None = None,
    ) -> None:
        self.path = str(path)
        self.reason = reason
        self.line = line
        self.element = element
        where = self.path
        if line is not None:
            where += f", line {line}"
        if element is not None:
            where += f", element {element}"
        super().__init__(f"cannot load {where}: {reason}")


class ClearanceError(ComplianceError):
    """A clearance cannot be given or revoked as asked (unknown entity, nothing to revoke,
    no reason given); the message says which."""


class ListVersionError(ComplianceError):
    """A set of list files cannot become the new list version (unrecognised file, a list
    that shrank suspiciously, nothing new); the message names the file or list."""
