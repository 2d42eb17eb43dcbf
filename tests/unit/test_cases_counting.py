"""The case metrics count each decision passed once, by what it did."""

from __future__ import annotations

from typing import Any

from prometheus_client import REGISTRY

from compliance.cases.counting import count_decisions


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _decision(action: str, **fields: Any) -> dict[str, Any]:
    return {"action": action, "category": "kyc", "severity": "high", "outcome": None} | fields


def test_opened_closed_and_breached_decisions_are_counted_by_their_labels() -> None:
    opened = _value("compliance_cases_opened_total", category="kyc", severity="high")
    cleared = _value("compliance_cases_closed_total", resolution="cleared")
    confirmed = _value("compliance_cases_closed_total", resolution="confirmed")
    breached = _value("compliance_sla_breaches_total", category="kyc", severity="high")
    count_decisions(
        [
            _decision("opened"),
            _decision("exception_added"),
            _decision("commented"),
            _decision("closed", outcome="cleared"),
            _decision("decision_proposed", outcome="confirmed"),  # not closed yet
            _decision("decision_approved", outcome="confirmed"),
            _decision("sla_breached"),
        ]
    )
    assert _value("compliance_cases_opened_total", category="kyc", severity="high") == opened + 1
    assert _value("compliance_cases_closed_total", resolution="cleared") == cleared + 1
    assert _value("compliance_cases_closed_total", resolution="confirmed") == confirmed + 1
    assert _value("compliance_sla_breaches_total", category="kyc", severity="high") == breached + 1
