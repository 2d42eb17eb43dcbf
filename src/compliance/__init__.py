"""The compliance stream: documents and transactions in; checks, exceptions, audit trail out."""

__version__ = "0.1.0"
