"""The error classes, defined once, and the one policy that maps each class to an action.

Content errors (``Action.DEAD_LETTER``): the record itself is bad and always will be.

- ``PoisonMessage``: this record can never be processed: it does not decode, it was written
  with an unknown schema, it is an event of a type that does not belong on its topic.
- ``FieldOutOfBounds`` (a ``PoisonMessage``): an identifier longer than its bound
  (``compliance.bounds``), which no index would take.

  Action: send it to ``<topic>.dlq`` with the reason, and, where the stage decoded a document
  to name, raise an exception event for an officer; commit, move on. A breaker stops the
  process when dead letters come too fast (``DeadLetterRateExceeded``): that is a bad deploy
  or a schema mismatch, not bad records.

Infrastructure (``Action.RETRY``):

- ``RetryableError``: infrastructure is unavailable (database down, broker timeout).
  Action: pause, back off, retry the same batch; never dead-letter, never commit.

Everything else (``Action.STOP``): a bug in our code, a schema our code does not expect, a
configuration that cannot work. Dead-lettering it would drain the input topic into its
dead-letter topic at full speed after one bad deploy.

- ``ConfigurationError``: the process cannot start or continue as configured.
- any other exception from a stage (``StageFailed`` names where it happened).

  Action: stop the process non-zero with one clear sentence, committing nothing of the batch;
  the supervisor restarts it, and the batch is read again once the bug is fixed.

``DocumentUnreadable`` is not for the runner: the stage turns it into an exception event for a
human (the event is fine, the document behind it is not); nothing is dead-lettered.
"""

from __future__ import annotations

from enum import Enum


class ComplianceError(Exception):
    """Base of every error the product raises on purpose."""


class PoisonMessage(ComplianceError):
    """A record that can never be processed, whatever is retried."""


class FieldOutOfBounds(PoisonMessage):
    """An identifier of the record is longer than its bound (``compliance.bounds``)."""


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


class StageFailed(ComplianceError):
    """A stage raised an error that is neither a content nor an infrastructure error: a bug.
    The message names the record and where the error was raised, never its text (which may
    quote personal data)."""


class DeadLetterRateExceeded(ComplianceError):
    """More records are dead-lettered than the breaker allows: stop rather than drain."""


class TransactionsUnrecoverable(ComplianceError):
    """The Kafka producer could not be brought back to a known transaction state."""


class Action(Enum):
    DEAD_LETTER = "dead-letter"
    RETRY = "retry"
    STOP = "stop"


def action_for(error: BaseException) -> Action:
    """What the runner does about ``error`` raised while processing one record."""
    if isinstance(error, PoisonMessage):
        return Action.DEAD_LETTER
    if isinstance(error, RetryableError):
        return Action.RETRY
    return Action.STOP
