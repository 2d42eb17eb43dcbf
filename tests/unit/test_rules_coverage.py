"""No document escapes every rule: each type the classifier can emit has rules, a type no
rule decides (``unknown`` at any confidence, or one no rule names) is a review, a declared
type that disagrees with the classified one is a review, and a valid MRZ is evidence of the
type, not proof. Documents go through the real stages (classifier, codec, checker) as plain
functions: the local classifier, and Claude through the real ``anthropic`` SDK against a
local Messages-API server whose "model" obeys the document."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from compliance.classification.choose import Classifier, LocalClassifier
from compliance.classification.fieldsets import FIELDS
from compliance.classification.llm import ClaudeClassifier, client_for
from compliance.classification.model import DOCUMENT_TYPES
from compliance.codec import registry
from compliance.config import Settings
from compliance.processors.checker import check_document
from compliance.processors.classifier import classify_arrival
from compliance.publisher import arrival_event
from compliance.rules import Ruleset, evaluate, load_ruleset
from compliance.rules.model import RulesetError
from compliance.runner import Outgoing
from tests.support.messages_stub import (
    MessagesStub,
    Reply,
    answer_like_claude,
    document_text,
    tool_reply,
)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = PROJECT_ROOT / "tests" / "data" / "documents" / "rules"
SAMPLES = PROJECT_ROOT / "samples" / "documents"
DECIDED_AT = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
TYPE_RULES = {"classification.declared-type-agrees", "classification.type-has-rules"}


def wire(out: Outgoing) -> dict[str, Any]:
    """What the next stage receives: the record encoded and decoded by the codec."""
    event_type, record = registry().decode(registry().encode(out.event_type, out.record))
    assert event_type == out.event_type
    return record


def checked(
    settings: Settings,
    ruleset: Ruleset,
    path: Path,
    declared: str | None,
    classifier: Classifier | None = None,
) -> tuple[dict[str, Any], dict[str, str], dict[str, str]]:
    """(the classified record, rule id -> outcome, rule id -> exception kind) for a file."""
    arrival = arrival_event(path, source_system="t", customer_id="C-1", declared_type=declared)
    arrival = wire(Outgoing("documents.arrived", "DocumentArrived", arrival))
    outputs = classify_arrival(
        settings, "DocumentArrived", arrival, classifier or LocalClassifier()
    )
    [classified] = [wire(o) for o in outputs if o.event_type == "DocumentClassified"]
    classified["envelope"]["occurred_at"] = DECIDED_AT
    decided = [wire(o) for o in check_document(ruleset, "DocumentClassified", classified)]
    outcomes = {r["rule_id"]: r["outcome"] for r in decided if "outcome" in r}
    raised = {r["rule_id"]: r["kind"] for r in decided if "kind" in r}
    return classified, outcomes, raised


def not_passed(outcomes: dict[str, str]) -> dict[str, str]:
    return {rule: outcome for rule, outcome in outcomes.items() if outcome != "pass"}


@pytest.fixture
def settings(clean_env: pytest.MonkeyPatch) -> Settings:
    return Settings(document_roots=[DOCUMENTS, SAMPLES])


# --- every type is decided --------------------------------------------------------------------


def test_every_type_the_classifier_emits_has_rules_written_for_it(ruleset: Ruleset) -> None:
    decidable = set(DOCUMENT_TYPES) - {"unknown"}
    assert set(FIELDS) == set(DOCUMENT_TYPES)
    assert decidable <= ruleset.covered_types, decidable - ruleset.covered_types
    for document_type in decidable:
        own = [r for r in ruleset.for_type(document_type) if document_type in r.applies_to]
        assert own, f"no rule names {document_type}"


def test_a_ruleset_without_the_rule_that_catches_undecided_types_is_refused(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "rules"
    shutil.copytree(PROJECT_ROOT / "rules", folder)
    (folder / "classification.yaml").unlink()
    with pytest.raises(RulesetError, match="type_has_rules"):
        load_ruleset(folder)


def test_a_document_classified_unknown_is_a_review_never_a_silent_pass(ruleset: Ruleset) -> None:
    results = evaluate(ruleset, "unknown", {"full_name": "Ingrid Halvorsen"}, DECIDED_AT)
    outcomes = {r.rule.id: r.outcome for r in results}
    assert outcomes["classification.type-has-rules"] == "review"
    assert "classified as unknown" in next(
        r.explanation for r in results if r.rule.id == "classification.type-has-rules"
    )


def test_a_type_no_rule_names_is_a_review(ruleset: Ruleset) -> None:
    results = {r.rule.id: r for r in evaluate(ruleset, "horoscope", {}, DECIDED_AT)}
    assert set(results) == TYPE_RULES
    assert results["classification.type-has-rules"].outcome == "review"
    explanation = results["classification.type-has-rules"].explanation
    assert "no rule is written for horoscope" in explanation


def test_unknown_at_high_confidence_from_the_stage_raises_an_exception(
    ruleset: Ruleset, settings: Settings
) -> None:
    classified, _, _ = checked(
        settings, ruleset, DOCUMENTS / "passport_injected_unknown.txt", "passport"
    )
    assert classified["document_type"] == "unknown"
    classified["confidence"] = 0.99  # however sure the classifier is
    decided = [wire(o) for o in check_document(ruleset, "DocumentClassified", classified)]
    raised = {r["rule_id"]: r["kind"] for r in decided if "kind" in r}
    assert raised == {
        "classification.type-has-rules": "needs_review",
        "classification.declared-type-agrees": "needs_review",
    }


# --- the declared type ------------------------------------------------------------------------


def test_the_declared_type_travels_from_the_arrival_to_the_classified_event(
    ruleset: Ruleset, settings: Settings
) -> None:
    classified, outcomes, _ = checked(
        settings, ruleset, SAMPLES / "passport_halvorsen.txt", "passport"
    )
    assert classified["declared_type"] == "passport"
    assert not_passed(outcomes) == {}


def test_a_declared_type_that_disagrees_with_the_classified_type_raises_a_review(
    ruleset: Ruleset, settings: Settings
) -> None:
    _, outcomes, raised = checked(settings, ruleset, SAMPLES / "passport_halvorsen.txt", "invoice")
    assert not_passed(outcomes) == {"classification.declared-type-agrees": "review"}
    assert raised == {"classification.declared-type-agrees": "needs_review"}


def test_a_publisher_that_declares_no_type_is_decided_by_the_other_rules(
    ruleset: Ruleset, settings: Settings
) -> None:
    classified, outcomes, raised = checked(
        settings, ruleset, SAMPLES / "passport_halvorsen.txt", None
    )
    assert classified["declared_type"] is None
    assert outcomes["classification.declared-type-agrees"] == "pass"
    assert raised == {}


# --- a valid MRZ is evidence, not proof -------------------------------------------------------


def test_an_injected_text_with_a_valid_mrz_cannot_pass_silently_through_the_local_classifier(
    ruleset: Ruleset, settings: Settings
) -> None:
    classified, outcomes, raised = checked(
        settings, ruleset, DOCUMENTS / "passport_injected_valid_mrz.txt", "passport"
    )
    assert classified["document_type"] == "passport"  # the zone's document code
    assert outcomes["identity.mrz-check-digits"] == "pass"  # the zone itself is valid
    assert raised == {"classification.mrz-corroborated": "needs_review"}


def test_an_invoice_carrying_a_computed_mrz_does_not_escape_the_invoice_rules(
    ruleset: Ruleset, settings: Settings, tmp_path: Path
) -> None:
    invoice = (DOCUMENTS / "invoice_sanctioned_issuer.txt").read_text(encoding="utf-8")
    mrz = (SAMPLES / "passport_halvorsen.txt").read_text(encoding="utf-8").splitlines()[-2:]
    path = tmp_path / "invoice_with_mrz.txt"
    path.write_text(invoice + "\n" + "\n".join(mrz) + "\n", encoding="utf-8")
    settings = Settings(document_roots=[tmp_path])
    classified, _, raised = checked(settings, ruleset, path, "invoice")
    assert classified["document_type"] == "passport"
    assert raised["classification.declared-type-agrees"] == "needs_review"
    assert raised["classification.mrz-corroborated"] == "needs_review"


# --- the Claude path: a model that obeys the document -----------------------------------------


@pytest.fixture
def stub() -> Iterator[MessagesStub]:
    with MessagesStub() as server:
        yield server


def claude(stub: MessagesStub) -> ClaudeClassifier:
    settings = Settings(
        anthropic_api_key=SecretStr("test-key"),
        anthropic_base_url=stub.base_url,
        llm_max_retries=0,
        llm_timeout_s=5.0,
    )
    return ClaudeClassifier(settings, client_for(settings))


def obeys(document_type: str) -> Any:
    """A model that records what the document tells it to, at confidence 0.99."""

    def plan(request: dict[str, Any]) -> Reply:
        if "ignore all previous instructions" not in document_text(request):
            return answer_like_claude(request)
        tool_input = {"document_confidence": 0.99, "fields": {}}
        return tool_reply(request["model"], "record_" + document_type, tool_input)

    return plan


def test_claude_answering_unknown_for_an_injected_passport_with_a_valid_mrz_raises_a_review(
    ruleset: Ruleset, settings: Settings, stub: MessagesStub
) -> None:
    stub.plan = obeys("unknown")
    path = DOCUMENTS / "passport_injected_valid_mrz.txt"
    classified, outcomes, raised = checked(settings, ruleset, path, "passport", claude(stub))
    assert stub.count() == 1
    assert classified["document_type"] == "passport"  # the zone decided, the model said unknown
    assert {f["name"]: f["value"] for f in classified["fields"]}["text_type"] == "unknown"
    assert outcomes["identity.mrz-check-digits"] == "pass"  # computed check digits hold
    assert raised == {"classification.mrz-corroborated": "needs_review"}


def test_claude_answering_unknown_for_an_injected_passport_without_an_mrz_raises_a_review(
    ruleset: Ruleset, settings: Settings, stub: MessagesStub
) -> None:
    stub.plan = obeys("unknown")
    path = DOCUMENTS / "passport_injected_unknown.txt"
    classified, _, raised = checked(settings, ruleset, path, "passport", claude(stub))
    assert (classified["document_type"], classified["confidence"]) == ("unknown", 0.99)
    assert raised == {
        "classification.type-has-rules": "needs_review",
        "classification.declared-type-agrees": "needs_review",
    }


def test_claude_answering_a_wrong_type_at_high_confidence_raises_a_review(
    ruleset: Ruleset, settings: Settings, stub: MessagesStub
) -> None:
    stub.plan = obeys("consent_form")
    path = DOCUMENTS / "passport_injected_unknown.txt"
    classified, _, raised = checked(settings, ruleset, path, "passport", claude(stub))
    assert (classified["document_type"], classified["confidence"]) == ("consent_form", 0.99)
    assert raised["classification.declared-type-agrees"] == "needs_review"


# --- tax forms, invoices, statements ----------------------------------------------------------


def test_a_w9_with_a_valid_ssn_and_ein_passes_its_identifier_rules(
    ruleset: Ruleset, settings: Settings
) -> None:
    _, outcomes, raised = checked(settings, ruleset, DOCUMENTS / "w9_valid_tin.pdf", "W-9")
    assert outcomes["tax.taxpayer-id-present"] == "pass"
    assert outcomes["tax.taxpayer-id-valid"] == "pass"
    assert raised == {}


def test_a_w9_whose_ssn_was_never_issued_fails_its_tin_rule(
    ruleset: Ruleset, settings: Settings
) -> None:
    _, outcomes, raised = checked(settings, ruleset, DOCUMENTS / "w9_invalid_tin.pdf", "W-9")
    assert not_passed(outcomes) == {"tax.taxpayer-id-valid": "fail"}
    assert raised == {"tax.taxpayer-id-valid": "rule_failed"}


def test_a_w9_without_a_tin_is_a_review_not_a_pass(ruleset: Ruleset) -> None:
    fields = {"form": "W-9", "full_name": "John Doe", "business_name": "Arctex Inc."}
    outcomes = {r.rule.id: r.outcome for r in evaluate(ruleset, "tax_form", fields, DECIDED_AT)}
    assert not_passed(outcomes) == {"tax.taxpayer-id-present": "review"}


def test_a_clean_real_invoice_passes_every_rule(ruleset: Ruleset, settings: Settings) -> None:
    classified, outcomes, raised = checked(
        settings, ruleset, DOCUMENTS / "invoice_coolblue.pdf", "invoice"
    )
    fields = {f["name"]: f["value"] for f in classified["fields"]}
    assert (fields["issuer"], fields["vat_id"], fields["iban"]) == (
        "Coolblue B.V.",
        "NL810433941B01",
        "NL50INGB0683251309",
    )
    assert set(outcomes) == {r.id for r in ruleset.for_type("invoice")}
    assert not_passed(outcomes) == {} and raised == {}


def test_an_invoice_from_a_sanctioned_company_goes_to_review(
    ruleset: Ruleset, settings: Settings
) -> None:
    _, outcomes, raised = checked(
        settings, ruleset, DOCUMENTS / "invoice_sanctioned_issuer.txt", "invoice"
    )
    assert not_passed(outcomes) == {"aml.invoice-parties-screen": "review"}
    assert raised == {"aml.invoice-parties-screen": "needs_review"}


def test_an_invoice_that_identifies_nobody_is_a_review(ruleset: Ruleset) -> None:
    results = evaluate(ruleset, "invoice", {"invoice_number": "42183017"}, DECIDED_AT)
    outcomes = {r.rule.id: r.outcome for r in results}
    assert not_passed(outcomes) == {
        "aml.invoice-parties-screen": "review",  # no issuer read: nobody screened
        "invoice.issuer-identified": "review",
    }


def test_a_bank_statement_without_an_account_is_a_review(ruleset: Ruleset) -> None:
    results = evaluate(ruleset, "bank_statement", {"currency": "EUR"}, DECIDED_AT)
    outcomes = {r.rule.id: r.outcome for r in results}
    assert not_passed(outcomes) == {"identifiers.statement-account": "review"}


def test_the_sample_mt940_statement_passes_its_account_rules(
    ruleset: Ruleset, settings: Settings
) -> None:
    _, outcomes, raised = checked(
        settings, ruleset, SAMPLES / "statement_abnamro.sta", "bank statement"
    )
    assert outcomes["identifiers.statement-account"] == "pass"
    assert raised == {}
