"""No document escapes every rule, end to end through the real broker and PostgreSQL: an
invoice from a sanctioned company, a W-9 whose SSN was never issued, and a declared passport
that talks the classifier into "unknown" each end in an exception for an officer; a clean
real invoice passes every check. Every decision is read back from the audit trail.

The test has its own topic prefix (the ``settings`` fixture) and its own customer ids.
"""

from __future__ import annotations

from sqlalchemy import Engine

from compliance.config import PROJECT_ROOT, Settings
from compliance.publisher import Published, Publisher
from compliance.rules import load_ruleset

from .conftest import Processes, wait_for
from .test_rules_checker import checked, customer, exceptions_for, results_for, start_pipeline

DOCUMENTS = PROJECT_ROOT / "tests" / "data" / "documents" / "rules"


def publish_declared(settings: Settings, filename: str, declared: str) -> Published:
    with Publisher(settings) as publisher:
        [published] = publisher.publish_files(
            [DOCUMENTS / filename],
            source_system=settings.topic_prefix,
            customer_id=customer(),
            declared_type=declared,
        )
    return published


def test_sanctioned_invoice_invalid_w9_and_passport_classified_unknown_raise_exceptions(
    settings: Settings, processes: Processes, engine: Engine
) -> None:
    ruleset = load_ruleset(settings.rules_dir)
    sanctioned = publish_declared(settings, "invoice_sanctioned_issuer.txt", "invoice")
    bad_tin = publish_declared(settings, "w9_invalid_tin.pdf", "W-9")
    persuaded = publish_declared(settings, "passport_injected_unknown.txt", "passport")
    clean = publish_declared(settings, "invoice_coolblue.pdf", "invoice")
    expected_results = {
        sanctioned.document_id: len(ruleset.for_type("invoice")),
        bad_tin.document_id: len(ruleset.for_type("tax_form")),
        persuaded.document_id: len(ruleset.for_type("unknown")),
        clean.document_id: len(ruleset.for_type("invoice")),
    }
    start_pipeline(processes)
    wait_for(
        lambda: all(checked(engine, settings, d, n) for d, n in expected_results.items()),
        120,
        "every document checked and audited",
        processes,
    )

    def raised(document_id: str) -> dict[str, str]:
        found = exceptions_for(engine, settings, document_id)
        return {rule: e["kind"] for rule, e in found.items() if rule is not None}

    def failed(document_id: str) -> dict[str, str]:
        results = results_for(engine, settings, document_id)
        return {rule: r["outcome"] for rule, r in results.items() if r["outcome"] != "pass"}

    wait_for(
        lambda: all(len(raised(d)) == len(failed(d)) for d in expected_results),
        30,
        "every exception audited",
        processes,
    )

    screen = results_for(engine, settings, sanctioned.document_id)["aml.invoice-parties-screen"]
    assert screen["outcome"] == "review"
    assert screen["inputs"]["issuer"] == "Anglo-Caribbean Co., Ltd."
    assert "ANGLO-CARIBBEAN" in screen["explanation"]
    assert raised(sanctioned.document_id) == {"aml.invoice-parties-screen": "needs_review"}

    tin = results_for(engine, settings, bad_tin.document_id)["tax.taxpayer-id-valid"]
    assert tin["outcome"] == "fail"
    assert "000123456" in tin["explanation"]
    assert raised(bad_tin.document_id) == {"tax.taxpayer-id-valid": "rule_failed"}

    results = results_for(engine, settings, persuaded.document_id)
    assert {r["document_type"] for r in results.values()} == {"unknown"}
    declared = results["classification.declared-type-agrees"]
    assert declared["inputs"] == {"declared_type": "passport", "document_type": "unknown"}
    assert raised(persuaded.document_id) == {
        "classification.declared-type-agrees": "needs_review",
        "classification.type-has-rules": "needs_review",
    }

    assert failed(clean.document_id) == {}
    assert raised(clean.document_id) == {}
    assert set(results_for(engine, settings, clean.document_id)) == {
        r.id for r in ruleset.for_type("invoice")
    }
