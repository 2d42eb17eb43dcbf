"""Document references: build them for publishing, resolve them for reading.

A ``file://`` reference may only point inside the configured document roots (no path
traversal); an ``s3://bucket/key`` reference only into the configured buckets (see
``documents/s3.py``, an optional extra); an ``inline:`` reference carries small content in the
event itself. The bytes read must match the size and SHA-256 announced in the arrival event, or
the document is unreadable. A file that is missing or forbidden is unreadable too; storage
that fails under the read (EIO, ESTALE, a share that timed out) is an outage: the document
waits (``RetryableError``, see ``documents/io_errors.py``).
"""

from __future__ import annotations

import hashlib
import mimetypes
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

from compliance.codec import Record
from compliance.documents.io_errors import is_transient, outage
from compliance.documents.s3 import NO_S3, S3_SCHEME, S3Access, read_object
from compliance.errors import DocumentUnreadable

INLINE_URI = "inline:"
mimetypes.add_type("application/x-swift-mt940", ".sta")
mimetypes.add_type("application/x-swift-mt940", ".mt940")


@dataclass(frozen=True)
class DocumentFile:
    uri: str
    filename: str
    media_type: str
    size_bytes: int
    sha256: str
    inline_content: bytes | None


def describe(path: Path, inline_max_bytes: int = 0) -> DocumentFile:
    """Everything an arrival event says about a local file: reference, type, size, hash."""
    data = path.read_bytes()
    inline = data if len(data) <= inline_max_bytes else None
    return DocumentFile(
        uri=INLINE_URI if inline is not None else path.resolve().as_uri(),
        filename=path.name,
        media_type=guess_media_type(path.name),
        size_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        inline_content=inline,
    )


def guess_media_type(filename: str) -> str:
    media_type, _ = mimetypes.guess_type(filename)
    return media_type or "application/octet-stream"


def fetch(arrival: Record, roots: Sequence[Path], max_bytes: int, s3: S3Access = NO_S3) -> bytes:
    """The document's bytes, verified against the arrival event; DocumentUnreadable if not
    (RetryableError if the store holding it is unavailable)."""
    if arrival["size_bytes"] > max_bytes:
        raise DocumentUnreadable(
            f"document is {arrival['size_bytes']} bytes, over the {max_bytes}-byte limit",
            code="too_large",
        )
    uri: str = arrival["uri"]
    if uri == INLINE_URI:
        data = arrival["inline_content"] or b""
    elif uri.startswith("file://"):
        data = _read_file(uri, roots, max_bytes)
    elif uri.startswith(S3_SCHEME):
        data = read_object(uri, s3, max_bytes)
    else:
        scheme = uri.split(":", 1)[0]
        raise DocumentUnreadable(f"unsupported document reference scheme {scheme!r}", "bad_uri")
    if hashlib.sha256(data).hexdigest() != arrival["sha256"]:
        raise DocumentUnreadable(
            "document content does not match the SHA-256 in its arrival event", "hash_mismatch"
        )
    return data


def _read_file(uri: str, roots: Sequence[Path], max_bytes: int) -> bytes:
    path = Path(unquote(urlparse(uri).path))
    try:
        path = path.resolve()
        if not any(path.is_relative_to(root.resolve()) for root in roots):
            raise DocumentUnreadable(f"{path} is outside the allowed document roots", "forbidden")
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except FileNotFoundError:
        raise DocumentUnreadable(f"document file {path} does not exist", "missing") from None
    except OSError as exc:
        if is_transient(exc):
            raise outage(exc, f"reading {path}") from exc
        raise DocumentUnreadable(f"cannot read {path}: {exc.strerror}", "io_error") from None
    if len(data) > max_bytes:
        raise DocumentUnreadable(f"document is over the {max_bytes}-byte limit", "too_large")
    return data
