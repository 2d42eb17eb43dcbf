"""Announcing documents already in an S3-compatible store, through the real broker."""

from __future__ import annotations

import hashlib
import uuid

import pytest
from sqlalchemy import Engine

from compliance.config import Settings
from compliance.publisher import DocumentTooLarge, Publisher
from compliance.subject_keyring import sealing_codec
from compliance.topics import DOCUMENTS_ARRIVED

from .conftest import read_topic

pytestmark = pytest.mark.integration


def test_publish_reference_announces_the_object_and_refuses_one_over_the_limit(
    settings: Settings, engine: Engine
) -> None:
    content = f"UTOPIA - PASSPORT {uuid.uuid4()}\n".encode()
    digest = hashlib.sha256(content).hexdigest()
    limited = settings.model_copy(update={"max_document_bytes": len(content)})
    with Publisher(limited) as publisher:
        with pytest.raises(DocumentTooLarge, match="not published"):
            publisher.publish_reference(
                "s3://kyc-docs/too-big.pdf",
                size_bytes=len(content) + 1,
                sha256=digest,
                source_system="dms",
            )
        published = publisher.publish_reference(
            "s3://kyc-docs/onboarding/passport.txt",
            size_bytes=len(content),
            sha256=digest,
            source_system="dms",
            customer_id="C-1001",
        )
    [value] = read_topic(settings, DOCUMENTS_ARRIVED.name)
    assert value is not None
    event_type, record = sealing_codec(engine).decode(value)  # its reference is sealed
    assert event_type == "DocumentArrived"
    assert (record["uri"], record["filename"], record["media_type"]) == (
        "s3://kyc-docs/onboarding/passport.txt",
        "passport.txt",
        "text/plain",
    )
    assert (record["size_bytes"], record["sha256"], record["inline_content"]) == (
        len(content),
        digest,
        None,
    )
    assert (published.document_id, published.event_id, published.uri) == (
        record["document_id"],
        record["envelope"]["event_id"],
        "s3://kyc-docs/onboarding/passport.txt",
    )
