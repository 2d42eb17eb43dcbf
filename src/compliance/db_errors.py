"""Which PostgreSQL errors are an outage, defined once for every store the stages call.

An outage is anything the same statement would survive once the database is back: a
connection refused, dropped or invalidated, a server shutting down (``AdminShutdown``), a
primary that failed over and is now a read-only standby (``ReadOnlySqlTransaction``), too many
connections, a full disk, a serialization failure or deadlock, and the connection pool finding
no free connection in time. ``retryable_db_errors`` turns these into ``RetryableError``, so the
runner pauses and retries the batch; nothing is dead-lettered for them. Any other database
error (bad data, a constraint, a bug) is raised unchanged, for the caller to decide.

A content error is the values a statement carried, not the database or our SQL: a data
exception (class 22), an integrity constraint (23) or a program limit (54, e.g. 54000 "index row
size exceeds maximum" for a too-long key). ``is_content_error`` names them, so a writer can set
the offending record aside (dead-letter it) and write the rest; anything else that is neither
(a syntax error, a missing privilege, an internal error) is a bug or a misconfiguration and
stops the caller.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg2
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from compliance.errors import RetryableError

# SQLSTATE classes and codes of errors that go away when the database does.
_TRANSIENT_CLASSES = ("08", "53", "57P", "58")  # connection, resources, shutdown, system I/O
_TRANSIENT_CODES = frozenset(
    {
        "25006",  # read_only_sql_transaction: a failed-over primary, now a standby
        "40001",  # serialization_failure
        "40P01",  # deadlock_detected
        "55P03",  # lock_not_available
        "57014",  # query_canceled (statement timeout, pg_cancel_backend)
    }
)

# SQLSTATE classes of errors caused by the values written: data exception, integrity
# constraint violation, program limit exceeded.
_CONTENT_CLASSES = ("22", "23", "54")

# The same errors by class name, as psycopg2.errors and psycopg.errors both name them (for an
# error raised without its SQLSTATE, e.g. by a connection pooler or a test).
_TRANSIENT_NAMES = frozenset(
    {
        "ReadOnlySqlTransaction",
        "AdminShutdown",
        "CrashShutdown",
        "CannotConnectNow",
        "SerializationFailure",
        "DeadlockDetected",
        "LockNotAvailable",
        "QueryCanceled",
        "TooManyConnections",
        "DiskFull",
        "OutOfMemory",
    }
)


def _driver_error(exc: BaseException) -> BaseException | None:
    """The driver's own error: wrapped by SQLAlchemy, or raised by a raw cursor (COPY)."""
    if isinstance(exc, DBAPIError):
        return exc.orig
    return exc if isinstance(exc, psycopg2.Error) else None


def sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of the driver's error (psycopg2 ``pgcode``, psycopg 3 ``sqlstate``)."""
    orig = _driver_error(exc)
    code = getattr(orig, "pgcode", None) or getattr(orig, "sqlstate", None)
    return code if isinstance(code, str) else None


def is_outage(exc: BaseException) -> bool:
    """The server's SQLSTATE decides when there is one: the driver files some content errors
    under OperationalError too (54000 "index row size exceeds maximum" for a too-long value),
    and retrying those would stall the partition for good. Without a code (the connection
    broke before the server said anything), the error's class decides."""
    if isinstance(exc, PoolTimeout):
        return True
    orig = _driver_error(exc)
    if orig is None:
        return False
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    code = sqlstate(exc)
    if code is not None:
        return code in _TRANSIENT_CODES or code.startswith(_TRANSIENT_CLASSES)
    return (
        isinstance(exc, OperationalError | InterfaceError)
        or isinstance(orig, psycopg2.OperationalError | psycopg2.InterfaceError)
        or type(orig).__name__ in _TRANSIENT_NAMES
    )


def is_content_error(exc: BaseException) -> bool:
    """The values of the statement were refused (the same statement fails again on any day);
    decided by the server's SQLSTATE only, never by the driver's class."""
    if _driver_error(exc) is None or is_outage(exc):
        return False
    code = sqlstate(exc)
    return code is not None and code.startswith(_CONTENT_CLASSES)


def refusal(exc: BaseException) -> str:
    """Why the server refused a statement, fit for a dead letter and a log line: the SQLSTATE
    and the primary message only (the detail may quote the values, personal data included)."""
    orig = _driver_error(exc) or exc
    diag = getattr(orig, "diag", None)
    primary = getattr(diag, "message_primary", None) or (str(orig).splitlines() or [""])[0]
    return f"database refused the record (SQLSTATE {sqlstate(exc)}): {primary[:300]}"


@contextmanager
def retryable_db_errors(what: str) -> Iterator[None]:
    """Run the block; a database outage in it becomes ``RetryableError`` naming ``what``."""
    try:
        yield
    except (DBAPIError, PoolTimeout, psycopg2.Error) as exc:
        if not is_outage(exc):
            raise
        detail = _driver_error(exc) or exc
        raise RetryableError(f"{what} unavailable: {type(detail).__name__}: {detail}") from exc
