"""Which file-system errors are an outage and which are the document's own.

Reading a document can fail because the storage under it is unwell (an I/O error, a stale NFS
handle, a full disk for OCR's temporary copy, a network share that timed out or dropped): the
same read will work once it recovers, so the document must wait (``RetryableError``), not go to
a human. A file that is missing, unreadable by permission, or a folder is the reference's own
problem: an exception for a human (``DocumentUnreadable``), raised by the caller.
"""

from __future__ import annotations

import errno

from compliance.errors import RetryableError

TRANSIENT_ERRNOS = frozenset(
    {
        errno.EIO,
        errno.ESTALE,
        errno.ENOSPC,
        errno.EDQUOT,
        errno.EAGAIN,
        errno.ETIMEDOUT,
        errno.ENOTCONN,
        errno.ECONNRESET,
        errno.ECONNREFUSED,
        errno.ECONNABORTED,
        errno.EHOSTDOWN,
        errno.EHOSTUNREACH,
        errno.ENETDOWN,
        errno.ENETUNREACH,
        errno.EBUSY,
        errno.EMFILE,
        errno.ENFILE,
        errno.ENOMEM,
        errno.EINTR,
    }
)


def is_transient(exc: OSError) -> bool:
    return exc.errno in TRANSIENT_ERRNOS


def outage(exc: OSError, doing: str) -> RetryableError:
    """The ``RetryableError`` for a transient ``exc`` met while ``doing`` something."""
    name = errno.errorcode.get(exc.errno or 0, str(exc.errno))
    return RetryableError(f"storage unavailable {doing}: {exc.strerror or exc} ({name})")
