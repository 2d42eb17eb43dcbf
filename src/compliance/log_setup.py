"""Logging of every ``compliance`` process: one format, and no personal data at any level.

At DEBUG the Anthropic SDK logs each request's options, the whole prompt with the document's
text in it (names, MRZ lines, addresses), and the HTTP clients under it (httpx, httpcore) and
boto3's (botocore, urllib3) log what they send and receive. Their loggers are held at INFO
whatever ``COMPLIANCE_LOG_LEVEL`` says, and a filter on the handlers drops their records below
INFO even when something raises their level afterwards (``ANTHROPIC_LOG=debug`` does, when the
SDK is imported). What they log at INFO and above names requests, not their bodies.
"""

from __future__ import annotations

import logging

FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
# Clients that log request or response bodies at DEBUG.
BODY_LOGGERS = (
    "anthropic",
    "httpx",
    "httpx2",
    "httpcore",
    "httpcore2",
    "botocore",
    "boto3",
    "s3transfer",
    "urllib3",
)
FLOOR = logging.INFO


def _is_body_logger(name: str) -> bool:
    return any(name == root or name.startswith(root + ".") for root in BODY_LOGGERS)


class NoClientBodies(logging.Filter):
    """Drops the records of the clients in ``BODY_LOGGERS`` below INFO."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= FLOOR or not _is_body_logger(record.name)


def configure(level: str) -> None:
    """Log to standard error at ``level``; the clients that log bodies stay at INFO or above."""
    logging.basicConfig(level=level, format=FORMAT)
    logging.getLogger().setLevel(level)
    number = logging.getLevelName(level)
    floor = max(FLOOR, number if isinstance(number, int) else FLOOR)
    for name in BODY_LOGGERS:
        logging.getLogger(name).setLevel(floor)
    guard = NoClientBodies()
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, NoClientBodies) for f in handler.filters):
            handler.addFilter(guard)
    # Alembic narrates each start-up at INFO; a real migration problem still shows.
    logging.getLogger("alembic").setLevel(logging.WARNING)
