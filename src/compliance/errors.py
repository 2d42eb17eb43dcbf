"""The error classes, defined once; the runner maps each class to one action.

- ``PoisonMessage``: this record can never be processed (does not decode, wrong schema).
  Action: send it to the dead-letter topic with the reason and move on.
- ``DocumentUnreadable``: the event is fine but the document behind it cannot be read.
  Action: the stage turns it into an exception event for a human; nothing is dead-lettered.
- ``RetryableError``: infrastructure is unavailable (database down, broker timeout).
  Action: pause, back off, retry the same batch; never dead-letter, never commit.
- ``ConfigurationError``: the process cannot start or continue as configured.
  Action: stop with one clear sentence.
"""

from __future__ import annotations


class ComplianceError(Exception):
    """Base of every error the product raises on purpose."""


class PoisonMessage(ComplianceError):
    """A record that can never be processed, whatever is retried."""


class DocumentUnreadable(ComplianceError):
    """A document that exists as an event but whose content cannot be read or parsed."""

    def __init__(self, reason: str, code: str = "unreadable") -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


class RetryableError(ComplianceError):
    """A transient infrastructure failure: retry later, lose nothing."""


class ConfigurationError(ComplianceError):
    """Start-up cannot continue; the message is one sentence for the operator."""
