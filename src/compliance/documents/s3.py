"""Reading ``s3://bucket/key`` document references from any S3-compatible store.

boto3 is the optional ``s3`` extra, imported only when an s3:// reference is read, so the
product works without it. Like ``file://`` references and the document roots, only the buckets
listed in ``COMPLIANCE_S3_BUCKETS`` may be read. Credentials come from boto3's usual chain and
are never logged. At most ``max_bytes + 1`` bytes are requested (a Range request), so an object
larger than announced cannot fill memory.

What goes wrong is classified: a missing object or a refused bucket is a document problem
(``DocumentUnreadable``, an exception for a human); an unreachable, failing or throttling store
is an outage (``RetryableError``: the classifier pauses and the documents wait).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from compliance.errors import ConfigurationError, DocumentUnreadable, RetryableError

if TYPE_CHECKING:
    from compliance.config import Settings

S3_SCHEME = "s3://"
_MISSING = {"NoSuchKey", "NoSuchBucket", "NotFound", "404"}
_FORBIDDEN = {"AccessDenied", "AllAccessDisabled", "AccountProblem", "403"}
_TRANSIENT = {
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
    "RequestTimeout",
    "RequestTimeTooSkewed",
    "ExpiredToken",
    "InternalError",
    "ServiceUnavailable",
}
_client_lock = threading.Lock()


@dataclass(frozen=True)
class S3Access:
    """Where s3:// references may be read from; no buckets means none may."""

    buckets: frozenset[str] = frozenset()
    endpoint_url: str | None = None
    region: str | None = None


NO_S3 = S3Access()


def s3_access(settings: Settings) -> S3Access:
    return S3Access(
        buckets=frozenset(settings.s3_buckets),
        endpoint_url=settings.s3_endpoint_url,
        region=settings.s3_region,
    )


def split_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/some/key`` -> ("bucket", "some/key"); the key is taken as written."""
    bucket, _, key = uri.removeprefix(S3_SCHEME).partition("/")
    if not uri.startswith(S3_SCHEME) or not bucket or not key:
        raise DocumentUnreadable(f"{uri!r} is not an s3://bucket/key reference", "bad_uri")
    return bucket, key


def read_object(uri: str, access: S3Access, max_bytes: int) -> bytes:
    """The object's first ``max_bytes`` bytes; ``too_large`` if it has more."""
    bucket, key = split_uri(uri)
    if bucket not in access.buckets:
        raise DocumentUnreadable(
            f"bucket {bucket!r} is not among the allowed buckets (COMPLIANCE_S3_BUCKETS)",
            "forbidden",
        )
    data = _get(_client(access), bucket, key, max_bytes)
    if len(data) > max_bytes:
        raise DocumentUnreadable(f"document is over the {max_bytes}-byte limit", "too_large")
    return data


def _get(client: Any, bucket: str, key: str, max_bytes: int) -> bytes:
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        NoCredentialsError,
        PartialCredentialsError,
    )

    where = f"s3://{bucket}/{key}"
    try:
        response = client.get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{max_bytes}")
        body = response["Body"]
        try:
            data: bytes = body.read(max_bytes + 1)
            return data
        finally:
            body.close()
    except ClientError as exc:
        if _code(exc) == "InvalidRange":  # a Range request on an empty object
            return b""
        raise _classified(exc, where) from None
    except (NoCredentialsError, PartialCredentialsError):
        raise ConfigurationError(
            "no usable S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
            "(or AWS_PROFILE) for the classifier"
        ) from None
    except (BotoCoreError, OSError) as exc:  # unreachable, timed out, connection dropped
        raise RetryableError(
            f"S3 store unavailable reading {where}: {type(exc).__name__}"
        ) from None


def _code(exc: Any) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _classified(exc: Any, where: str) -> Exception:
    code = _code(exc)
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    if code in _TRANSIENT or status >= 500 or status == 429:
        return RetryableError(f"S3 store unavailable reading {where}: {code or status}")
    if code in _MISSING or status == 404:
        return DocumentUnreadable(f"document {where} does not exist ({code})", "missing")
    if code in _FORBIDDEN or status == 403:
        return DocumentUnreadable(f"access to {where} is denied ({code})", "forbidden")
    return DocumentUnreadable(f"cannot read {where}: {code or status}", "io_error")


def _client(access: S3Access) -> Any:
    with _client_lock:  # the stage's threads share one client rather than racing to make several
        return _new_client(access)


@lru_cache(maxsize=8)
def _new_client(access: S3Access) -> Any:
    """One client per configuration, shared by the stage's threads (clients are thread-safe)."""
    try:
        import boto3
        from botocore.config import Config
    except ImportError:
        raise DocumentUnreadable(
            "s3:// references need boto3: install the `s3` extra "
            "(pip install 'compliance-stream[s3]')",
            "s3_unavailable",
        ) from None
    config = Config(
        connect_timeout=5,
        read_timeout=30,
        retries={"max_attempts": 2, "mode": "standard"},
    )
    session = boto3.session.Session()
    return session.client(
        "s3", endpoint_url=access.endpoint_url, region_name=access.region, config=config
    )
