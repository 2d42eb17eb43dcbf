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
