"""The pure parts of case management: grouping exceptions into cases, the SLA breaches, the
decision events and their ids, sealing on the wire."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from compliance.cases.decisions import (
    CaseState,
    decision,
    desk_discriminator,
    earlier,
    higher_severity,
)
from compliance.cases.grouping import case_key, take_in
from compliance.cases.samples import sample_exception
from compliance.cases.sweep import breaches
from compliance.codec import Record, registry
from compliance.processors.cases import CaseGrouper
from compliance.sealing import ERASED, is_sealed, open_text

from .test_sealing import DictKeyring

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def exception(customer: str = "c-1", **kw: Any) -> Record:
    return sample_exception(customer, occurred_at=T0, cause=f"cause-{kw}", **kw).record


def test_the_first_exception_of_a_customer_and_category_opens_a_case() -> None:
    e = exception(category="kyc", severity="medium", rule_id="identity.name-present")
    out, case = take_in(e, None, "")
    d = out.record
    assert d["action"] == "opened" and d["status"] == "open"
    assert (d["customer_id"], d["category"]) == ("c-1", "kyc")
    assert d["exception"]["event_id"] == e["envelope"]["event_id"]
    assert d["title"] == "kyc: customer c-1, identity.name-present"
    assert d["envelope"]["subject_id"] == "c-1"  # keyed by customer, like the exceptions
    assert case.case_id == d["case_id"] and case.last_event_id == d["envelope"]["event_id"]


def test_further_exceptions_join_the_open_case_raising_severity_and_advancing_due_time() -> None:
    first = exception(severity="medium", sla_due_at=T0 + timedelta(hours=24))
    _, case = take_in(first, None, "")
    later = exception(severity="critical", sla_due_at=T0 + timedelta(hours=4), rule_id="x.1")
    out, after = take_in(later, case, "")
    assert out.record["action"] == "exception_added"
    assert out.record["case_id"] == case.case_id
    assert after.severity == "critical" and after.sla_due_at == T0 + timedelta(hours=4)
    lower = exception(severity="low", sla_due_at=T0 + timedelta(hours=48), rule_id="x.2")
    _, last = take_in(lower, after, "")
    assert last.severity == "critical" and last.sla_due_at == T0 + timedelta(hours=4)


def test_an_exception_after_the_case_closed_opens_another_case() -> None:
    _, case = take_in(exception(), None, "")
    closed = replace(case, status="closed_cleared")
    out, new = take_in(exception(rule_id="x.9"), closed, "")
    assert out.record["action"] == "opened" and new.case_id != case.case_id


def test_the_same_exception_taken_in_again_gives_the_same_event_and_case() -> None:
    e = exception()
    a, _ = take_in(e, None, "")
    b, _ = take_in(e, None, "")
    assert a.record["envelope"]["event_id"] == b.record["envelope"]["event_id"]
    assert a.record["case_id"] == b.record["case_id"]


def test_an_old_exception_without_a_category_is_routed_by_its_rule() -> None:
    e = exception(rule_id="aml.sanctions-name-screen")
    e["category"] = None
    assert case_key(e) == ("c-1", "sanctions")


def test_an_exception_without_a_customer_is_grouped_by_its_subject() -> None:
    e = exception("doc-7")
    e["customer_id"] = None
    assert case_key(e)[0] == "doc-7"


def test_severities_and_due_times_combine() -> None:
    assert higher_severity("low", "high") == "high"
    assert higher_severity("critical", "high") == "critical"
    assert higher_severity(None, "medium") == "medium"
    assert earlier(None, T0) == T0 and earlier(T0, T0 + timedelta(1)) == T0


def _case(**kw: Any) -> CaseState:
    base = CaseState(
        case_id="case-1",
        scope="",
        customer_id="c-1",
        category="kyc",
        severity="high",
        status="open",
        assignee=None,
        sla_due_at=T0,
        sla_breached=False,
        pending_outcome=None,
        pending_by=None,
        last_event_id="e-0",
    )
    return replace(base, **kw)


def test_only_open_unflagged_cases_past_their_due_time_breach() -> None:
    at = T0 + timedelta(minutes=1)
    cases = [
        _case(case_id="late"),
        _case(case_id="on-time", sla_due_at=at + timedelta(hours=1)),
        _case(case_id="flagged", sla_breached=True),
        _case(case_id="closed", status="closed_confirmed"),
        _case(case_id="no-due", sla_due_at=None),
    ]
    out = breaches(cases, at)
    assert [o.record["case_id"] for o in out] == ["late"]
    assert out[0].record["action"] == "sla_breached"
    assert (
        breaches(cases, at)[0].record["envelope"]["event_id"]
        == out[0].record["envelope"]["event_id"]
    )


def test_an_officers_decision_id_depends_on_the_case_state_and_what_was_written() -> None:
    def comment_id(case: CaseState, text: str) -> str:
        out = decision(
            case,
            action="commented",
            actor="ana",
            stage="case-desk",
            cause=case.last_event_id,
            discriminator=desk_discriminator("commented", "ana", text),
        )
        return str(out.record["envelope"]["event_id"])

    case = _case()
    assert comment_id(case, "hello") == comment_id(case, "hello")  # a form sent twice
    assert comment_id(case, "hello") != comment_id(case, "hello!")
    assert comment_id(case, "hello") != comment_id(replace(case, last_event_id="e-1"), "hello")
    assert "hello" not in desk_discriminator("commented", "ana", "hello")


def test_unknown_actions_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown case action"):
        decision(_case(), action="deleted", actor="a", stage="s", cause="c", discriminator="d")


def test_a_decision_on_the_wire_carries_comment_reason_and_details_sealed() -> None:
    keyring = DictKeyring()
    codec = registry().with_keyring(keyring)
    e = exception(reason="INGRID HALVORSEN does not match", details={"full_name": "INGRID"})
    out, _ = take_in(e, None, "")
    out.record["comment"] = "called INGRID"
    wire = codec.encode(out.event_type, out.record)
    assert b"INGRID" not in wire
    _, plain = registry().decode(wire)  # a reader without keys sees sealed values only
    assert is_sealed(plain["comment"]) and is_sealed(plain["exception"]["reason"])
    assert is_sealed(plain["exception"]["details"]["full_name"])
    _, opened = codec.decode(wire)
    assert opened["exception"]["reason"] == "INGRID HALVORSEN does not match"
    assert opened == out.record


def grouper(keyring: DictKeyring) -> Any:
    """The grouper without a database: ``_sealed`` reads none."""
    return CaseGrouper(engine=None, keyring=keyring, scope="")


def _as_on_the_wire(keyring: DictKeyring, record: Record) -> Record:
    """The record as the cases processor reads it: personal values sealed by the producer."""
    codec = registry().with_keyring(keyring)
    _, sealed = registry().decode(codec.encode("ComplianceException", record))
    return sealed


def test_an_exception_of_the_customer_itself_passes_on_sealed_as_it_came() -> None:
    keyring = DictKeyring()
    wire = _as_on_the_wire(keyring, exception(reason="INGRID is listed", details={"n": "INGRID"}))
    assert grouper(keyring)._sealed(wire, "c-1") is wire


def test_an_exception_of_another_subject_is_sealed_again_with_the_customers_key() -> None:
    keyring = DictKeyring()
    e = exception("acct-9", reason="INGRID paid 9,000", details={"n": "INGRID"})
    wire = _as_on_the_wire(keyring, e)
    sealed = grouper(keyring)._sealed(wire, "c-1")
    key = keyring.opening_key("c-1")
    assert key is not None
    assert open_text(key, sealed["reason"]) == "INGRID paid 9,000"
    assert open_text(key, sealed["details"]["n"]) == "INGRID"


def test_an_erased_subjects_values_become_erased_for_the_customer() -> None:
    keyring = DictKeyring()
    wire = _as_on_the_wire(keyring, exception("acct-9", reason="INGRID paid"))
    keyring.erase("acct-9")
    assert grouper(keyring)._sealed(wire, "c-1")["reason"] == ERASED
