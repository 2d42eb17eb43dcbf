"""What an officer is told when a case cannot be changed as asked."""

from __future__ import annotations

from compliance.errors import ComplianceError


class CaseNotFound(ComplianceError):
    """No case has this id."""

    def __init__(self, case_id: str) -> None:
        super().__init__(f"no case {case_id}")
        self.case_id = case_id


class TransitionRefused(ComplianceError):
    """The change is not allowed in the case's state or for this officer; the message says
    why in words an officer reads."""
