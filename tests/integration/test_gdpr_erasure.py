"""`compliance gdpr erase` reaches every place the product keeps a subject's personal data:
the audit trail (crypto-shredded), the checker's memory of the customer, and Claude's cached
answers for the customer's documents; another customer is untouched."""

from __future__ import annotations

import hashlib
import uuid

from sqlalchemy import Engine, func, insert, select

from compliance.audit.checkpoints import signing_key
from compliance.audit.verify import verify
from compliance.classification.cache import llm_results
from compliance.classification.cache import metadata as cache_metadata
from compliance.config import PROJECT_ROOT, Settings
from compliance.rules.store import customer_documents

from .conftest import Processes, compliance_cli, wait_for
from .test_pipeline import publish
from .test_rules_checker import audited

SAMPLES = PROJECT_ROOT / "samples" / "documents"


def remembered(engine: Engine, settings: Settings, customer: str) -> int:
    t = customer_documents.c
    query = select(func.count()).where(t.scope == settings.topic_prefix, t.customer_id == customer)
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def cached(engine: Engine, sha256: str) -> int:
    query = select(func.count()).where(llm_results.c.content_sha256 == sha256)
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def test_erasure_reaches_the_audit_trail_the_checker_state_and_the_llm_cache(
    settings: Settings, processes: Processes, engine: Engine
) -> None:
    erased, kept = f"C-{uuid.uuid4().hex[:8]}", f"C-{uuid.uuid4().hex[:8]}"
    erased_doc = SAMPLES / "passport_halvorsen.txt"
    kept_doc = SAMPLES / "id_card_okafor_bad_check_digit.txt"
    publish(settings, [erased_doc], erased)
    publish(settings, [kept_doc], kept)
    processes.start("audit-sink")
    processes.start("classifier")
    processes.start("checker")

    def classified_and_remembered() -> bool:
        subjects = {c["customer_id"] for c in audited(engine, settings, "DocumentClassified")}
        return (
            {erased, kept} <= subjects
            and remembered(engine, settings, erased) == 1
            and remembered(engine, settings, kept) == 1
        )

    wait_for(classified_and_remembered, 90, "both documents classified and remembered", processes)
    # As if Claude had classified both documents: its answers are cached by content hash.
    cache_metadata.create_all(engine, checkfirst=True)
    hashes = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in (erased_doc, kept_doc)}
    with engine.begin() as conn:
        for sha in hashes.values():
            if not cached(engine, sha):
                conn.execute(
                    insert(llm_results).values(
                        content_sha256=sha,
                        model="claude-test",
                        prompt_version=settings.topic_prefix,
                        result={"document_type": "passport", "fields": []},
                    )
                )

    result = compliance_cli(settings, "gdpr", "erase", erased)
    assert result.returncode == 0, result.stderr
    assert "checker's remembered documents deleted: 1" in result.stdout

    assert remembered(engine, settings, erased) == 0
    assert cached(engine, hashes[erased_doc]) == 0
    by_customer = {c["customer_id"]: c for c in audited(engine, settings, "DocumentClassified")}
    assert by_customer[erased]["fields"] == "[erased]"
    assert "HALVORSEN" not in str(by_customer[erased])
    report = verify(engine, signing_key(settings), settings.topic_prefix)
    assert report.intact, report.findings  # the rows stay, the chain still verifies
    # The other customer keeps everything.
    assert remembered(engine, settings, kept) == 1
    assert cached(engine, hashes[kept_doc]) == 1
    assert isinstance(by_customer[kept]["fields"], list) and by_customer[kept]["fields"]

    again = compliance_cli(settings, "gdpr", "erase", erased)
    assert again.returncode == 0, again.stderr
    assert "deleted: 0; cached Claude answers for its documents deleted: 0" in again.stdout
