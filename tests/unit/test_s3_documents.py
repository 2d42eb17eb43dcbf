"""s3:// document references, read from a real S3-compatible HTTP server.

Fixture strategy: one moto S3 server (``ThreadedMotoServer``, real HTTP on 127.0.0.1 and a free
port) for the module, with boto3 pointed at it by endpoint URL, exactly as the product points it
at MinIO or Ceph. Dummy credentials are set in the environment for the module so boto3's usual
credential chain finds them (and no developer's ~/.aws is read). Buckets are made per test with
unique names, so tests never see each other's objects. The "store down" tests start a second
server of their own and stop it.
"""

from __future__ import annotations

import hashlib
import socket
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.server import ThreadedMotoServer

from compliance.codec import registry
from compliance.config import Settings
from compliance.documents import s3 as s3_module
from compliance.documents.reference import fetch
from compliance.documents.s3 import S3Access, s3_access
from compliance.errors import DocumentUnreadable, RetryableError
from compliance.processors.classifier import classify_arrival
from compliance.publisher import InvalidReference, arrival_for_reference
from compliance.topics import DOCUMENTS_CLASSIFIED

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "documents"
PASSPORT = SAMPLES / "passport_halvorsen.txt"
MAX = 1024 * 1024
CONTENT = b"UTOPIA - PASSPORT\nSurname: HALVORSEN\n"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_server() -> tuple[ThreadedMotoServer, str]:
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    return server, f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    nowhere = str(tmp_path_factory.mktemp("aws") / "none")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AWS_ACCESS_KEY_ID", "test-key-id")
        env.setenv("AWS_SECRET_ACCESS_KEY", "test-secret")
        env.delenv("AWS_SESSION_TOKEN", raising=False)
        env.delenv("AWS_PROFILE", raising=False)
        env.setenv("AWS_CONFIG_FILE", nowhere)
        env.setenv("AWS_SHARED_CREDENTIALS_FILE", nowhere)
        server, url = _start_server()
        try:
            yield url
        finally:
            server.stop()


@pytest.fixture
def bucket(endpoint: str) -> str:
    name = f"kyc-{uuid.uuid4().hex[:12]}"
    _admin(endpoint).create_bucket(Bucket=name)
    return name


def _admin(endpoint: str) -> Any:
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")


def _put(endpoint: str, bucket: str, key: str, data: bytes) -> str:
    _admin(endpoint).put_object(Bucket=bucket, Key=key, Body=data)
    return f"s3://{bucket}/{key}"


def _arrival(uri: str, data: bytes, /, **overrides: Any) -> dict[str, Any]:
    record = arrival_for_reference(
        uri,
        size_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        source_system="dms",
        customer_id="C-1001",
    )
    record.update(overrides)
    return record


def _access(endpoint: str, *buckets: str) -> S3Access:
    return S3Access(buckets=frozenset(buckets), endpoint_url=endpoint, region="us-east-1")


def _unreadable(arrival: dict[str, Any], access: S3Access, max_bytes: int = MAX) -> str:
    with pytest.raises(DocumentUnreadable) as info:
        fetch(arrival, [], max_bytes, access)
    assert info.value.reason == str(info.value) and info.value.reason
    return info.value.code


# --- fetch -------------------------------------------------------------------------------------


def test_fetch_reads_an_object_from_an_allowed_bucket_and_checks_its_hash(
    endpoint: str, bucket: str
) -> None:
    uri = _put(endpoint, bucket, "onboarding/2026/passport.txt", CONTENT)
    assert fetch(_arrival(uri, CONTENT), [], MAX, _access(endpoint, bucket)) == CONTENT


def test_fetch_reads_an_empty_object_as_empty_bytes(endpoint: str, bucket: str) -> None:
    uri = _put(endpoint, bucket, "empty.txt", b"")
    assert fetch(_arrival(uri, b""), [], MAX, _access(endpoint, bucket)) == b""


def test_fetch_refuses_an_object_whose_content_does_not_match_its_hash(
    endpoint: str, bucket: str
) -> None:
    uri = _put(endpoint, bucket, "passport.txt", CONTENT.replace(b"HALVORSEN", b"MALLORY"))
    assert _unreadable(_arrival(uri, CONTENT), _access(endpoint, bucket)) == "hash_mismatch"


def test_fetch_refuses_an_object_larger_than_announced_and_allowed(
    endpoint: str, bucket: str
) -> None:
    uri = _put(endpoint, bucket, "big.txt", CONTENT * 100)
    arrival = _arrival(uri, CONTENT)  # announced small, stored large
    access = _access(endpoint, bucket)
    assert _unreadable(arrival, access, max_bytes=len(CONTENT) * 10) == "too_large"


def test_fetch_refuses_an_object_announced_as_too_large_without_reading_it(
    endpoint: str, bucket: str
) -> None:
    uri = f"s3://{bucket}/never-stored.txt"
    access = _access(endpoint, bucket)
    assert _unreadable(_arrival(uri, CONTENT), access, max_bytes=len(CONTENT) - 1) == "too_large"


def test_fetch_reports_a_missing_key_as_missing(endpoint: str, bucket: str) -> None:
    uri = f"s3://{bucket}/gone.txt"
    assert _unreadable(_arrival(uri, CONTENT), _access(endpoint, bucket)) == "missing"


def test_fetch_refuses_a_bucket_that_is_not_allowed(endpoint: str, bucket: str) -> None:
    other = f"other-{uuid.uuid4().hex[:12]}"
    _admin(endpoint).create_bucket(Bucket=other)
    uri = _put(endpoint, other, "passport.txt", CONTENT)
    assert _unreadable(_arrival(uri, CONTENT), _access(endpoint, bucket)) == "forbidden"


def test_fetch_refuses_every_bucket_when_none_is_configured(endpoint: str, bucket: str) -> None:
    uri = _put(endpoint, bucket, "passport.txt", CONTENT)
    assert _unreadable(_arrival(uri, CONTENT), _access(endpoint)) == "forbidden"
    with pytest.raises(DocumentUnreadable) as info:
        fetch(_arrival(uri, CONTENT), [], MAX)  # callers that pass no S3 access
    assert info.value.code == "forbidden"


@pytest.mark.parametrize("uri", ["s3://", "s3://bucket", "s3://bucket/", "s3:///key"])
def test_fetch_refuses_an_s3_reference_without_bucket_or_key(endpoint: str, uri: str) -> None:
    arrival = _arrival("s3://b/k", CONTENT, uri=uri)
    assert _unreadable(arrival, _access(endpoint, "bucket")) == "bad_uri"


def test_fetch_raises_retryable_when_the_store_is_down(endpoint: str) -> None:
    server, url = _start_server()
    down = f"kyc-{uuid.uuid4().hex[:12]}"
    _admin(url).create_bucket(Bucket=down)
    uri = _put(url, down, "passport.txt", CONTENT)
    access = _access(url, down)
    assert fetch(_arrival(uri, CONTENT), [], MAX, access) == CONTENT  # the same client ...
    server.stop()
    with pytest.raises(RetryableError, match="S3 store unavailable"):
        fetch(_arrival(uri, CONTENT), [], MAX, access)  # ... once the store stops answering


def test_fetch_without_boto3_explains_which_extra_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "boto3", None)  # import boto3 now raises ImportError
    access = _access("http://127.0.0.1:9/without-boto3", "bucket")
    arrival = _arrival("s3://bucket/passport.txt", CONTENT)
    with pytest.raises(DocumentUnreadable, match="install the `s3` extra") as info:
        fetch(arrival, [], MAX, access)
    assert info.value.code == "s3_unavailable"


def _client_error(code: str, status: int) -> ClientError:
    response: Any = {"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return ClientError(response, "GetObject")


@pytest.mark.parametrize(
    ("code", "status", "outcome"),
    [
        ("SlowDown", 503, RetryableError),
        ("InternalError", 500, RetryableError),
        ("ServiceUnavailable", 503, RetryableError),
        ("Throttling", 400, RetryableError),
        ("", 502, RetryableError),
        ("AccessDenied", 403, "forbidden"),
        ("NoSuchKey", 404, "missing"),
        ("InvalidObjectState", 403, "forbidden"),
        ("InvalidArgument", 400, "io_error"),
    ],
)
def test_store_errors_are_classified_as_outages_or_document_problems(
    code: str, status: int, outcome: type[Exception] | str
) -> None:
    error = s3_module._classified(_client_error(code, status), "s3://b/k")
    if isinstance(outcome, str):
        assert isinstance(error, DocumentUnreadable) and error.code == outcome
    else:
        assert type(error) is outcome


# --- classifier stage ----------------------------------------------------------------------------


def _stage_settings(endpoint: str, bucket: str) -> Settings:
    return Settings(
        document_roots=[SAMPLES],
        s3_buckets=[bucket],
        s3_endpoint_url=endpoint,
        s3_region="us-east-1",
    )


def test_classifier_stage_classifies_a_passport_stored_in_the_bucket(
    clean_env: pytest.MonkeyPatch, endpoint: str, bucket: str
) -> None:
    data = PASSPORT.read_bytes()
    uri = _put(endpoint, bucket, "onboarding/passport_halvorsen.txt", data)
    arrival = registry().decode(registry().encode("DocumentArrived", _arrival(uri, data)))[1]
    settings = _stage_settings(endpoint, bucket)
    [out] = classify_arrival(settings, "DocumentArrived", arrival)
    assert (out.topic, out.event_type) == (DOCUMENTS_CLASSIFIED.name, "DocumentClassified")
    assert out.record["document_type"] == "passport"
    fields = {f["name"]: f["value"] for f in out.record["fields"]}
    assert "HALVORSEN" in (fields.get("surname") or fields.get("name") or "").upper()
    assert out.record["document_sha256"] == hashlib.sha256(data).hexdigest()


def test_classifier_stage_turns_a_refused_bucket_into_an_exception_event(
    clean_env: pytest.MonkeyPatch, endpoint: str, bucket: str
) -> None:
    uri = _put(endpoint, bucket, "passport.txt", CONTENT)
    settings = _stage_settings(endpoint, "some-other-bucket")
    [out] = classify_arrival(settings, "DocumentArrived", _arrival(uri, CONTENT))
    assert out.event_type == "ComplianceException"
    assert out.record["details"]["code"] == "forbidden"


def test_classifier_stage_waits_rather_than_raising_exceptions_when_the_store_is_down(
    clean_env: pytest.MonkeyPatch,
) -> None:
    server, url = _start_server()
    server.stop()
    settings = _stage_settings(url, "kyc-docs")
    with pytest.raises(RetryableError):
        classify_arrival(settings, "DocumentArrived", _arrival("s3://kyc-docs/p.txt", CONTENT))


def test_s3_settings_are_read_from_the_environment(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("COMPLIANCE_S3_BUCKETS", '["kyc-docs", "archive"]')
    clean_env.setenv("COMPLIANCE_S3_ENDPOINT_URL", "http://minio.internal:9000")
    clean_env.setenv("COMPLIANCE_S3_REGION", "eu-central-1")
    access = s3_access(Settings())
    assert access == S3Access(
        frozenset({"kyc-docs", "archive"}), "http://minio.internal:9000", "eu-central-1"
    )
    clean_env.delenv("COMPLIANCE_S3_BUCKETS")
    assert s3_access(Settings()).buckets == frozenset()


# --- publishing a reference --------------------------------------------------------------------


def test_arrival_for_reference_describes_the_object_and_matches_the_schema() -> None:
    digest = hashlib.sha256(CONTENT).hexdigest()
    record = arrival_for_reference(
        "s3://kyc-docs/onboarding/passport.txt",
        size_bytes=len(CONTENT),
        sha256=digest.upper(),
        source_system="dms",
        customer_id="C-1001",
    )
    event_type, decoded = registry().decode(registry().encode("DocumentArrived", record))
    assert event_type == "DocumentArrived"
    assert decoded["uri"] == "s3://kyc-docs/onboarding/passport.txt"
    assert (decoded["filename"], decoded["media_type"]) == ("passport.txt", "text/plain")
    assert (decoded["size_bytes"], decoded["sha256"]) == (len(CONTENT), digest)
    assert decoded["inline_content"] is None
    again = arrival_for_reference(
        "s3://kyc-docs/copy.txt",
        size_bytes=1,
        sha256=digest,
        source_system="dms",
        customer_id="C-1001",
    )
    assert again["document_id"] == record["document_id"]  # same content, customer, source


@pytest.mark.parametrize(
    ("uri", "size", "sha256"),
    [
        ("file:///tmp/passport.txt", 10, "a" * 64),
        ("s3://kyc-docs", 10, "a" * 64),
        ("s3://kyc-docs/p.txt", -1, "a" * 64),
        ("s3://kyc-docs/p.txt", 10, "not-a-hash"),
    ],
)
def test_arrival_for_reference_refuses_what_the_classifier_could_never_read(
    uri: str, size: int, sha256: str
) -> None:
    with pytest.raises(InvalidReference):
        arrival_for_reference(uri, size_bytes=size, sha256=sha256, source_system="dms")
