"""Exception routing: every exception carries a category, an SLA due time and its evidence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from compliance.config import PROJECT_ROOT
from compliance.errors import ConfigurationError
from compliance.events import envelope
from compliance.exception_routing import CATEGORIES, current_policy, load_policy
from compliance.exceptions import exception_event
from compliance.rules.ruleset import load_ruleset
from compliance.transactions.ruleset import load_transaction_rules


def _cause() -> dict[str, object]:
    return {
        "envelope": envelope(
            event_type="DocumentClassified",
            stage="classifier",
            cause="arrival-1",
            correlation_id="corr-1",
            subject_id="C-1",
            causation_id=None,
            occurred_at=datetime(2026, 12, 5, 12, 0, tzinfo=UTC),
        ),
        "document_id": "D-1",
        "customer_id": "C-1",
    }


def test_every_bundled_rule_routes_to_a_category_the_policy_names_for_it() -> None:
    policy = current_policy()
    documents = [r.id for r in load_ruleset(PROJECT_ROOT / "rules").rules]
    transactions = list(load_transaction_rules(PROJECT_ROOT / "rules" / "transactions").rules)
    for rule_id in documents + [r.id for r in transactions]:
        named = rule_id in policy.rules or any(
            p.endswith(".") and rule_id.startswith(p) for p in policy.rules
        )
        assert named, f"{rule_id} falls to the default category"
        assert policy.category("rule_failed", rule_id) in CATEGORIES


@pytest.mark.parametrize(
    ("kind", "rule_id", "category"),
    [
        ("needs_review", "aml.sanctions-name-screen", "sanctions"),
        ("rule_failed", "aml.high-risk-nationality", "kyc"),
        ("rule_failed", "gdpr.processing-consent", "gdpr"),
        ("transaction_alert", "tx.structuring", "transaction_monitoring"),
        ("document_unreadable", None, "document_quality"),
        ("subject_erased", None, "gdpr"),
        ("something_new", None, "kyc"),
    ],
)
def test_the_rule_decides_the_category_before_the_kind(
    kind: str, rule_id: str | None, category: str
) -> None:
    assert current_policy().category(kind, rule_id) == category


def test_an_exception_carries_its_category_due_time_and_evidence() -> None:
    out = exception_event(
        _cause(),
        stage="checker",
        kind="needs_review",
        severity="high",
        reason="possible match",
        rule_id="aml.sanctions-name-screen",
        evidence=[("check_result", "cr-1")],
    )
    record = out.record
    assert record["category"] == "sanctions"
    raised = record["envelope"]["occurred_at"]
    assert record["sla_due_at"] - raised < timedelta(hours=8)
    assert record["sla_due_at"] - raised > timedelta(hours=8) - timedelta(milliseconds=1)
    assert record["evidence"] == [
        {"kind": "event", "ref": _cause()["envelope"]["event_id"]},  # type: ignore[index]
        {"kind": "document", "ref": "D-1"},
        {"kind": "check_result", "ref": "cr-1"},
    ]


def test_a_policy_without_every_default_severity_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "routing.yaml"
    path.write_text("sla_hours:\n  default: {critical: 4, high: 24}\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="lacks low, medium"):
        load_policy(path)


def test_a_category_without_its_own_sla_uses_the_default(tmp_path: Path) -> None:
    path = tmp_path / "routing.yaml"
    path.write_text(
        "sla_hours:\n  default: {critical: 1, high: 2, medium: 3, low: 4}\n"
        "  sanctions: {critical: 0.5}\n",
        encoding="utf-8",
    )
    policy = load_policy(path)
    assert policy.sla("sanctions", "critical") == timedelta(minutes=30)
    assert policy.sla("sanctions", "high") == timedelta(hours=2)
    assert policy.sla("kyc", "low") == timedelta(hours=4)
