"""What the checker publishes for one document: a check result per rule, and for each rule
that did not pass an exception whose evidence names that check result."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from compliance.events import derive_event_id, envelope
from compliance.rules import load_ruleset
from processors.checker import check_document

RULES = Path(__file__).resolve().parents[2] / "rules"


def _passport(fields: dict[str, str]) -> dict:
    return {
        "envelope": envelope(
            event_type="DocumentClassified",
            stage="classifier",
            cause="doc-1",
            correlation_id="doc-1",
            subject_id="C-1",
            causation_id=None,
            occurred_at=datetime(2026, 11, 2, 9, 30, tzinfo=UTC),
        ),
        "document_id": "doc-1",
        "customer_id": "C-1",
        "document_type": "passport",
        "confidence": 0.99,
        "fields": [{"name": k, "value": v, "confidence": 0.99} for k, v in fields.items()],
    }


def test_each_exception_names_the_check_result_of_its_rule_as_evidence() -> None:
    ruleset = load_ruleset(RULES)
    document = _passport({"full_name": "INGRID HALVORSEN", "expiry_date": "2020-01-01"})
    outputs = check_document(ruleset, "DocumentClassified", document)
    results = {o.record["rule_id"]: o.record for o in outputs if o.event_type == "CheckResult"}
    exceptions = [o.record for o in outputs if o.event_type != "CheckResult"]
    assert len(results) == len(ruleset.for_type("passport"))
    failed = {rule for rule, r in results.items() if r["outcome"] != "pass"}
    assert "identity.not-expired" in failed
    assert {e["rule_id"] for e in exceptions} == failed
    for exc in exceptions:
        result_id = results[exc["rule_id"]]["envelope"]["event_id"]
        assert result_id == derive_event_id(
            "checker", document["envelope"]["event_id"], exc["rule_id"]
        )
        assert {"kind": "check_result", "ref": result_id} in exc["evidence"]
