"""Stateful check kinds on in-memory customer state: name matching (explained), consistency
of name, birth date and address across one customer's documents, and GDPR consent (given,
expired, withdrawn; a withdrawal acts only from the moment it was recorded)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from compliance.rules.checks import Context
from compliance.rules.kinds.consent import ConsentParams, consent, covers, lawful_basis
from compliance.rules.kinds.consistency import ConsistencyParams, customer_consistent
from compliance.rules.kinds.names import compare_names
from compliance.rules.state import ConsentStatement, CustomerDocument, CustomerState

AT = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("first", "second", "matches"),
    [
        ("INGRID MARIE HALVORSEN", "Ingrid Marie Halvorsen", True),
        ("HALVORSEN INGRID MARIE", "Ingrid Halvorsen", True),  # order, omitted middle name
        ("DANIEL CHUKWUEMEKA OKAFOR", "D. Okafor", True),  # an initial
        ("Zoë Ångström", "ZOE ANGSTROM", True),  # accents
        ("Ingrid Halvorsen", "Ingrid Halvorson", True),  # one typo in a long word
        ("Ingrid Halvorsen", "Jonas Berg", False),
        ("Ingrid Halvorsen", "Ingrid Berg", False),  # same given name, another family
        ("Daniel Okafor", "Okafor", False),  # a surname alone is not a match
    ],
)
def test_names_are_compared_word_by_word(first: str, second: str, matches: bool) -> None:
    agreement = compare_names(first, second)
    assert agreement.matches is matches, agreement.describe()


def test_a_name_comparison_says_what_was_omitted_and_what_had_no_counterpart() -> None:
    omitted = compare_names("Ingrid Marie Halvorsen", "Ingrid Halvorsen").describe()
    assert omitted == "similarity 100; not in the shorter name: marie"
    other = compare_names("Ingrid Halvorsen", "Ingrid Berg").describe()
    assert "no counterpart for halvorsen" in other and "berg" in other


def earlier(doc_type: str, minutes: int, **values: str) -> CustomerDocument:
    return CustomerDocument(
        event_id=f"e{minutes}",
        document_id=f"doc-{minutes}",
        document_type=doc_type,
        occurred_at=AT - timedelta(minutes=minutes),
        **values,
    )


def consistent(
    attribute: str, value: str, *documents: CustomerDocument, customer: str | None = "C-1"
):  # type: ignore[no-untyped-def]
    ctx = Context(date(2026, 11, 2), AT, "proof_of_address", customer, CustomerState(documents))
    params = ConsistencyParams(attribute=attribute)  # type: ignore[arg-type]
    return customer_consistent(params, {attribute: value}, None, ctx)


def test_the_name_is_held_to_the_customers_first_identity_document() -> None:
    history = (
        earlier("proof_of_address", 60, full_name="Jonas Berg"),  # an odd earlier bill
        earlier("passport", 30, full_name="INGRID MARIE HALVORSEN"),
    )
    ok = consistent("full_name", "Ingrid Halvorsen", *history)
    assert ok.passed, ok.explanation
    assert ok.inputs["record_document_id"] == "doc-30"
    bad = consistent("full_name", "Jonas Berg", *history)
    assert not bad.passed
    assert "does not match 'INGRID MARIE HALVORSEN' on the customer's passport doc-30" in (
        bad.explanation
    )


def test_without_an_identity_document_the_earliest_document_is_the_record() -> None:
    history = (
        earlier("proof_of_address", 10, full_name="Anna Berg"),
        earlier("consent_form", 90, full_name="Daniel Okafor"),
    )
    assert consistent("full_name", "D. Okafor", *history).passed
    assert not consistent("full_name", "Anna Berg", *history).passed


def test_birth_dates_must_be_equal_and_addresses_similar() -> None:
    born = earlier("national_id", 5, date_of_birth="1991-06-04")
    assert consistent("date_of_birth", "1991-06-04", born).passed
    assert not consistent("date_of_birth", "1991-04-06", born).passed
    home = earlier("proof_of_address", 5, address="Storgata 12, 0155 Oslo, Norway")
    assert consistent("address", "STORGATA 12 0155 OSLO", home).passed
    moved = consistent("address", "Kongens gate 3, 7011 Trondheim", home)
    assert not moved.passed and "similarity" in moved.explanation


def test_consistency_passes_for_a_first_document_or_an_unknown_customer() -> None:
    assert "first document" in consistent("full_name", "Ingrid Halvorsen").explanation
    anonymous = consistent(
        "full_name", "A B", earlier("passport", 1, full_name="C D"), customer=None
    )
    assert anonymous.passed and "names no customer" in anonymous.explanation


# --- consent ----------------------------------------------------------------------------------


def statement(
    recorded: datetime,
    purpose: str = "marketing",
    given: datetime | None = None,
    expires: datetime | None = None,
    withdrawn: datetime | None = None,
) -> ConsentStatement:
    return ConsentStatement(
        event_id=f"c-{recorded.isoformat()}",
        consent_id="K-1",
        purpose=purpose,
        lawful_basis="consent",
        recorded_at=recorded,
        given_at=given,
        expires_at=expires,
        withdrawn_at=withdrawn,
    )


def decide(at: datetime, *statements: ConsentStatement, **fields: str):  # type: ignore[no-untyped-def]
    ctx = Context(at.date(), at, "consent_form", "C-1", CustomerState((), statements))
    params = ConsentParams(evidence_field="consent_given_at")
    values = {"purpose": "marketing communications by e-mail", "lawful_basis": "consent"}
    return consent(params, values | fields, None, ctx)


DAY = timedelta(days=1)
GIVEN = statement(AT - 30 * DAY, given=AT - 30 * DAY)
WITHDRAWN = statement(AT - DAY, withdrawn=AT - DAY)


def test_a_consent_given_and_not_withdrawn_is_valid() -> None:
    verdict = decide(AT, GIVEN)
    assert verdict.passed, verdict.explanation
    assert verdict.inputs["consent"] == "consent K-1"


def test_a_withdrawal_makes_later_processing_fail() -> None:
    verdict = decide(AT, GIVEN, WITHDRAWN)
    assert not verdict.passed
    assert "withdrawn on" in verdict.explanation
    assert verdict.inputs["withdrawn_at"] == (AT - DAY).isoformat()


def test_a_withdrawal_does_not_reach_back_before_it_was_recorded() -> None:
    assert decide(AT - 2 * DAY, GIVEN, WITHDRAWN).passed
    backdated = statement(AT, withdrawn=AT - 10 * DAY)  # recorded now, effective earlier
    assert decide(AT - 5 * DAY, GIVEN, backdated).passed  # not known at that moment
    assert not decide(AT, GIVEN, backdated).passed


def test_a_new_grant_after_a_withdrawal_is_valid_again() -> None:
    regranted = statement(AT - DAY / 2, given=AT - DAY / 2)
    assert decide(AT, GIVEN, WITHDRAWN, regranted).passed


def test_an_expired_consent_fails() -> None:
    expiring = statement(AT - 30 * DAY, given=AT - 30 * DAY, expires=AT - DAY)
    verdict = decide(AT, expiring)
    assert not verdict.passed and "expired on" in verdict.explanation


def test_a_consent_for_another_purpose_does_not_count() -> None:
    other = statement(AT - 30 * DAY, purpose="profiling", given=AT - 30 * DAY)
    verdict = decide(AT, other)
    assert not verdict.passed and "no consent on record" in verdict.explanation


def test_the_consent_form_is_itself_evidence_until_withdrawn() -> None:
    assert decide(AT, consent_given_at="2026-08-30").passed
    assert not decide(AT, WITHDRAWN, consent_given_at="2026-08-30").passed
    assert decide(AT, WITHDRAWN, consent_given_at="2026-11-02").passed  # signed again since


@pytest.mark.parametrize(
    ("basis", "passes"),
    [
        ("Legal obligation", True),
        ("contract", True),
        ("legitimate interest", True),
        ("whim", False),
    ],
)
def test_other_lawful_bases_need_no_consent_and_unknown_ones_fail(basis: str, passes: bool) -> None:
    assert decide(AT, lawful_basis=basis).passed is passes


def test_purposes_and_bases_are_normalised() -> None:
    assert covers("Marketing", "marketing communications by e-mail")
    assert not covers("marketing by post", "marketing communications by e-mail")
    assert lawful_basis("Legitimate Interest") == "legitimate_interests"
