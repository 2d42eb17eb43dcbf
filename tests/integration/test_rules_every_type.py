"""No document escapes every rule, end to end through the real broker and PostgreSQL: an
invoice from a sanctioned company, a W-9 whose SSN was never issued, and a declared passport
that talks the classifier into "unknown" each end in an exception for an officer; a clean
real invoice passes every check. A document of each type the classifier added (driving
licence, residence permit, payslip, receipt, contract, company registration extract, a W-2)
is decided by every rule of its type, its own among them; a letter that mentions a passport
once, declared a passport, is unknown and goes to an officer. Through Claude (the real SDK
in a real classifier process, against a Messages-API stand-in whose "model" obeys the
document), a passport with a valid MRZ that the model calls "unknown" and one it calls a
consent form go to review too. Every decision is read back from the audit trail.

Each test has its own topic prefix (the ``settings`` fixture) and its own customer ids.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from compliance.config import PROJECT_ROOT, Settings
from compliance.publisher import Published, Publisher
from compliance.rules import load_ruleset
from compliance.rules.backtest import backtest
from compliance.topics import DOCUMENTS_CLASSIFIED
from tests.support.messages_stub import (
    MessagesStub,
    Reply,
    answer_like_claude,
    document_text,
    tool_reply,
)

from .conftest import Processes, wait_for
from .test_classifier_llm import claude_env, unique_copy
from .test_rules_checker import checked, customer, exceptions_for, results_for, start_pipeline

DOCUMENTS = PROJECT_ROOT / "tests" / "data" / "documents" / "rules"
LABELLED = PROJECT_ROOT / "tests" / "data" / "documents" / "labelled"


def publish_declared(
    settings: Settings, filename: str, declared: str, folder: Path = DOCUMENTS
) -> Published:
    with Publisher(settings) as publisher:
        [published] = publisher.publish_files(
            [folder / filename],
            source_system=settings.topic_prefix,
            customer_id=customer(),
            declared_type=declared,
        )
    return published


def test_sanctioned_invoice_invalid_w9_and_passport_classified_unknown_raise_exceptions(
    settings: Settings, processes: Processes, engine: Engine
) -> None:
    started = datetime.now(UTC) - timedelta(minutes=1)
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

    # A replay decides as the checker did: the declared type is part of the audited event.
    report = backtest(
        engine,
        ruleset,
        topic=settings.topic(DOCUMENTS_CLASSIFIED),
        scope=settings.topic_prefix,
        since=started,
    )
    assert report.documents == 4
    assert report.changes == []


def obedient_model(request: dict[str, Any]) -> Reply:
    """A model that records what the document tells it at confidence 0.99: "unknown" for
    the passport with a zone, a consent form for the one without."""
    text = document_text(request)
    if "ignore all previous instructions" not in text:
        return answer_like_claude(request)
    told = "record_unknown" if "P<UTO" in text else "record_consent_form"
    return tool_reply(request["model"], told, {"document_confidence": 0.99, "fields": {}})


def test_passports_claude_is_talked_into_unknown_or_a_wrong_type_go_to_review(
    settings: Settings, processes: Processes, engine: Engine, tmp_path: Path
) -> None:
    ruleset = load_ruleset(settings.rules_dir)
    tag = uuid.uuid4().hex  # content of this test's own: no cached answer from another run
    with_mrz = unique_copy(DOCUMENTS / "passport_injected_valid_mrz.txt", tmp_path, tag)
    without = unique_copy(DOCUMENTS / "passport_injected_unknown.txt", tmp_path, tag)
    with MessagesStub(obedient_model) as stub:
        zoned = publish_declared(settings, with_mrz.name, "passport", tmp_path)
        persuaded = publish_declared(settings, without.name, "passport", tmp_path)
        processes.start("audit-sink")
        processes.start("classifier", **claude_env(stub))
        processes.start("checker")
        wait_for(
            lambda: (
                checked(engine, settings, zoned.document_id, len(ruleset.for_type("passport")))
                and checked(
                    engine,
                    settings,
                    persuaded.document_id,
                    len(ruleset.for_type("consent_form")),
                )
            ),
            120,
            "both documents checked through Claude and audited",
            processes,
        )
        assert stub.count() >= 2

    def raised(document_id: str) -> dict[str, str]:
        found = exceptions_for(engine, settings, document_id)
        return {rule: e["kind"] for rule, e in found.items() if rule is not None}

    wait_for(
        lambda: bool(raised(zoned.document_id)) and bool(raised(persuaded.document_id)),
        30,
        "the exceptions audited",
        processes,
    )
    zone = results_for(engine, settings, zoned.document_id)
    assert zone["identity.mrz-check-digits"]["outcome"] == "pass"  # computed, so valid
    corroborated = zone["classification.mrz-corroborated"]
    assert corroborated["outcome"] == "review"
    assert corroborated["inputs"] == {"text_type": "unknown", "document_type": "passport"}
    assert raised(zoned.document_id) == {"classification.mrz-corroborated": "needs_review"}

    wrong = results_for(engine, settings, persuaded.document_id)
    assert {r["document_type"] for r in wrong.values()} == {"consent_form"}
    assert wrong["classification.declared-type-agrees"]["outcome"] == "review"
    assert raised(persuaded.document_id)["classification.declared-type-agrees"] == "needs_review"


NEW_TYPES = {
    "driving_licence/de_fuehrerschein.txt": "driving_licence",
    "residence_permit/uk_brp.txt": "residence_permit",
    "payslip/fr_bulletin_de_paie.txt": "payslip",
    "receipt/restaurant_receipt_de.txt": "receipt",
    "contract/employment_contract.txt": "contract",
    "company_registration/uk_certificate_of_incorporation.txt": "company_registration",
    "tax_form/w2_2023_scan_ocr.txt": "tax_form",
}


def test_a_document_of_each_new_type_is_decided_by_the_rules_of_its_type(
    settings: Settings, processes: Processes, engine: Engine
) -> None:
    ruleset = load_ruleset(settings.rules_dir)
    published = {
        path: publish_declared(settings, path, declared, LABELLED).document_id
        for path, declared in NEW_TYPES.items()
    }
    letter = publish_declared(
        settings, "unknown/letter_mentions_passport.txt", "passport", LABELLED
    ).document_id
    expected = {published[path]: t for path, t in NEW_TYPES.items()} | {letter: "unknown"}
    start_pipeline(processes)
    wait_for(
        lambda: all(
            checked(engine, settings, d, len(ruleset.for_type(t))) for d, t in expected.items()
        ),
        120,
        "every document checked and audited",
        processes,
    )
    for document_id, document_type in expected.items():
        results = results_for(engine, settings, document_id)
        assert {r["document_type"] for r in results.values()} == {document_type}
        assert set(results) == {r.id for r in ruleset.for_type(document_type)}
        if document_type != "unknown":
            own = {r.id for r in ruleset.for_type(document_type) if document_type in r.applies_to}
            assert own and own <= set(results), document_type
            assert results["classification.type-has-rules"]["outcome"] == "pass"

    def raised(document_id: str) -> dict[str, str]:
        found = exceptions_for(engine, settings, document_id)
        return {rule: e["kind"] for rule, e in found.items() if rule is not None}

    wait_for(lambda: len(raised(letter)) == 2, 30, "the letter's exceptions audited", processes)
    assert raised(letter) == {
        "classification.declared-type-agrees": "needs_review",
        "classification.type-has-rules": "needs_review",
    }
