"""Sealing benchmark: what sealing personal fields on Kafka costs a document.

Run from the project root:  .venv/bin/python benchmarks/sealing_bench.py [--documents N]
Writes benchmarks/results/sealing.json. Reproducible (fixed seed). Uses the real PostgreSQL
(``COMPLIANCE_DATABASE_URL``) for the keys; the subjects it creates are its own and are removed
at the end.

For each document (every one a new subject, the worst case for the key cache), the codec work
it causes in each stage, with the keyring the processors use: the classifier decodes its
arrival and encodes the classification (ten extracted fields); the checker decodes that and
encodes six check results and one exception. Timed with a plain codec, then with the sealing
codec for new subjects (their keys, made by the publisher, read a batch of 500 in one query as
the runner does) and again with the keys cached. The difference, per document, is the cost of
sealing. At the 2,000
documents/s end-to-end target each stage process has 500 µs a document; sealing should take at
most a fifth of that: the target is 100 µs a document per stage. Run it on a quiet machine:
every figure is CPU time.
"""

from __future__ import annotations

import argparse
import random
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from host import ROOT, load_average, machine, use_checkout, write_results

use_checkout(development_mode=True)

from sqlalchemy import text  # noqa: E402

from compliance.audit.store import connect, create_schema  # noqa: E402
from compliance.codec import SchemaRegistry, registry  # noqa: E402
from compliance.config import Settings  # noqa: E402
from compliance.events import caused_by, envelope  # noqa: E402
from compliance.subject_keyring import DatabaseKeyring  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "sealing.json"
SEED = 20261205
BATCH = 500
TARGET_US_PER_DOCUMENT = 100.0
FIELDS = (
    "surname",
    "given_names",
    "full_name",
    "date_of_birth",
    "nationality",
    "document_number",
    "expiry_date",
    "sex",
    "issuing_country",
    "mrz",
)
RULES = ("mrz", "expiry", "age", "name-match", "sanctions", "document-number")


def documents(n: int, prefix: str, rng: random.Random) -> list[tuple[dict[str, Any], ...]]:
    """(arrival, classification, check results..., exception) per document, as the stages
    build them."""
    out = []
    at = datetime(2026, 12, 5, tzinfo=UTC)
    for i in range(n):
        customer = f"{prefix}{i}"
        arrival = {
            "envelope": envelope(
                event_type="DocumentArrived",
                stage="publisher",
                cause=customer,
                correlation_id=f"doc-{i}",
                subject_id=customer,
                causation_id=None,
                occurred_at=at,
            ),
            "document_id": f"doc-{i}",
            "customer_id": customer,
            "source_system": "bench",
            "uri": f"file:///data/onboarding/{customer}/passport_{rng.randrange(10**9)}.pdf",
            "filename": f"passport_{rng.randrange(10**9)}.pdf",
            "media_type": "application/pdf",
            "size_bytes": 48_213,
            "sha256": "0" * 64,
            "inline_content": None,
            "declared_type": "passport",
            "metadata": {"channel": "branch", "branch": "Oslo sentrum"},
        }
        classified = {
            "envelope": caused_by(arrival, event_type="DocumentClassified", stage="classifier"),
            "document_id": f"doc-{i}",
            "customer_id": customer,
            "document_type": "passport",
            "confidence": 0.97,
            "fields": [
                {"name": f, "value": f"{f}-{rng.randrange(10**8)}", "confidence": 0.95}
                for f in FIELDS
            ],
            "extraction_method": "pdf-text",
            "text_sha256": "1" * 64,
            "document_sha256": "0" * 64,
        }
        checks = [
            {
                "envelope": caused_by(
                    classified, event_type="CheckResult", stage="checker", discriminator=rule
                ),
                "document_id": f"doc-{i}",
                "customer_id": customer,
                "document_type": "passport",
                "rule_id": rule,
                "rule_version": "1#abc",
                "outcome": "pass",
                "severity": "high",
                # Rules read the document's own values: a name, a birth date, a number.
                "inputs": {
                    "full_name": classified["fields"][2]["value"],
                    "date_of_birth": classified["fields"][3]["value"],
                    "document_number": classified["fields"][5]["value"],
                    "expected": None,
                },
                "explanation": f"{rule}: the document's values agree ({rng.randrange(10**6)})",
            }
            for rule in RULES
        ]
        exception = {
            "envelope": caused_by(
                classified, event_type="ComplianceException", stage="checker", discriminator="x"
            ),
            "document_id": f"doc-{i}",
            "customer_id": customer,
            "kind": "needs_review",
            "severity": "medium",
            "rule_id": "sanctions",
            "rule_version": "1#abc",
            "reason": f"possible match for NAME {rng.randrange(10**8)}",
            "details": {"score": "0.91", "entity": "OFAC-SDN:1"},
        }
        out.append((arrival, classified, *checks, exception))
    return out


def published(publisher: SchemaRegistry, docs: list[tuple[dict[str, Any], ...]]) -> list[bytes]:
    """The arrivals as the publisher writes them (creating the subjects' keys when sealing)."""
    out = []
    for start in range(0, len(docs), BATCH):
        batch = docs[start : start + BATCH]
        publisher.prefetch_keys(d[0]["customer_id"] for d in batch)
        out += [publisher.encode("DocumentArrived", d[0]) for d in batch]
    return out


def stage_seconds(
    codec: SchemaRegistry, docs: list[tuple[dict[str, Any], ...]], arrivals: list[bytes]
) -> tuple[float, float]:
    """Seconds of codec work of the classifier and of the checker for every document, batch
    by batch; each stage reads the keys of its batch in one query first, as the runner does."""
    classifier = checker = 0.0
    for start in range(0, len(docs), BATCH):
        batch = docs[start : start + BATCH]
        subjects = [d[0]["customer_id"] for d in batch]
        arrived = arrivals[start : start + BATCH]
        began = time.perf_counter()
        codec.prefetch_keys(subjects)
        classified = []
        for data, d in zip(arrived, batch, strict=True):
            codec.decode(data)
            classified.append(codec.encode("DocumentClassified", d[1]))
        middle = time.perf_counter()
        codec.prefetch_keys(subjects)
        for data, d in zip(classified, batch, strict=True):
            codec.decode(data)
            for check in d[2:-1]:
                codec.encode("CheckResult", check)
            codec.encode("ComplianceException", d[-1])
        ended = time.perf_counter()
        classifier += middle - began
        checker += ended - middle
    return classifier, checker


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--documents", type=int, default=5000)
    args = parser.parse_args()
    host = machine(
        then=f"; load average {load_average()} at the start (other work shares the CPUs)"
    )
    settings = Settings()
    engine = connect(settings.database_dsn)  # the processors' role, as in production
    owner = connect(settings.admin_database_dsn)  # makes the schema, removes the bench's keys
    create_schema(owner)
    prefix = f"bench-seal-{uuid.uuid4().hex[:8]}-"
    docs = documents(args.documents, prefix, random.Random(SEED))
    plain = stage_seconds(registry(), docs, published(registry(), docs))
    sealed = published(registry().with_keyring(DatabaseKeyring(engine)), docs)
    sealing = registry().with_keyring(DatabaseKeyring(engine))
    new = stage_seconds(sealing, docs, sealed)  # keys read from the database, a batch a query
    cached = stage_seconds(sealing, docs, sealed)  # the same subjects again, keys cached
    with owner.begin() as conn:
        conn.execute(
            text("DELETE FROM audit_subject_keys WHERE subject_id LIKE :p"), {"p": prefix + "%"}
        )
    n = args.documents
    figures: dict[str, dict[str, Any]] = {}
    for i, stage in enumerate(("classifier", "checker")):
        figures[f"{stage}: codec work per document, plain"] = {
            "value": round(plain[i] / n * 1e6, 1),
            "unit": "µs/document",
            "target": None,
        }
        figures[f"{stage}: sealing cost per document, keys read"] = {
            "value": round((new[i] - plain[i]) / n * 1e6, 1),
            "unit": "µs/document",
            "target": TARGET_US_PER_DOCUMENT,
        }
        figures[f"{stage}: sealing cost per document, keys cached"] = {
            "value": round((cached[i] - plain[i]) / n * 1e6, 1),
            "unit": "µs/document",
            "target": TARGET_US_PER_DOCUMENT,
        }
    write_results(RESULTS, ".venv/bin/python benchmarks/sealing_bench.py", host, figures)


if __name__ == "__main__":
    main()
