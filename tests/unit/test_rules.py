"""Rules as versioned data: loading and validating rule files, and evaluating them."""

from __future__ import annotations

import shutil
import textwrap
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from compliance.cli import main as cli_main
from compliance.errors import ConfigurationError, RetryableError
from compliance.rules import RuleResult, Ruleset, RulesetError, evaluate, load_ruleset
from compliance.rules.checks import CHECKS, Context, Verdict
from compliance.rules.examples import run_examples

RULES = Path(__file__).resolve().parents[2] / "rules"
AS_OF = date(2026, 11, 2)
PASSPORT = {
    "full_name": "INGRID MARIE HALVORSEN",
    "document_number": "X71K42Q90",
    "expiry_date": "2034-09-21",
    "date_of_birth": "1988-03-17",
    "nationality": "UTO",
    "issuing_state": "UTO",
    "mrz_lines": "P<UTOHALVORSEN<<INGRID<MARIE<<<<<<<<<<<<<<<<\n"
    "X71K42Q906UTO8803171F3409213<<<<<<<<<<<<<<<2",
}


@pytest.fixture
def rules_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "rules"
    shutil.copytree(RULES, folder)
    return folder


def _by_rule(results: list[RuleResult]) -> dict[str, RuleResult]:
    return {r.rule.id: r for r in results}


def _write_rules(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


GOOD_RULE = """\
  - id: test.sample-rule
    version: 1
    description: A rule used by the tests.
    applies_to: [passport]
    severity: low
    check: {kind: required_field, field: full_name}
    on_fail: fail
    message: Sample rule failed
    examples:
      - {name: named, expect: pass, as_of: 2026-11-02, fields: {full_name: A B}}
      - {name: unnamed, expect: fail, as_of: 2026-11-02, fields: {}}
"""

# --- loading and versions ------------------------------------------------------------------


def test_the_bundled_ruleset_loads_with_its_rules(ruleset: Ruleset) -> None:
    assert {r.id for r in ruleset.rules} == {
        "identity.document-number-format",
        "identity.mrz-check-digits",
        "identity.not-expired",
        "identity.minimum-age",
        "identity.name-matches-customer",
        "identity.birth-date-consistent",
        "identity.personal-number",
        "aml.sanctions-name-screen",
        "aml.high-risk-nationality",
        "address.address-present",
        "address.recent-document",
        "address.consistent",
        "gdpr.processing-consent",
        "gdpr.consent-form-complete",
        "identifiers.account-iban",
        "identifiers.bank-bic",
        "identifiers.statement-account",
        "classification.declared-type-agrees",
        "classification.type-has-rules",
        "classification.mrz-corroborated",
        "tax.taxpayer-id-present",
        "tax.taxpayer-id-valid",
        "aml.tax-form-business-screen",
        "aml.invoice-parties-screen",
        "invoice.issuer-identified",
        "identifiers.invoice-vat",
        "identifiers.invoice-iban",
        "address.holder-named",
        "aml.tax-form-payer-screen",
        "identity.licence-number-present",
        "identity.licence-zone-valid",
        "identity.holder-named",
        "income.employee-named",
        "income.recent-payslip",
        "aml.employer-screen",
        "aml.receipt-issuer-screen",
        "receipt.amount-and-date",
        "aml.contract-parties-screen",
        "contract.dated",
        "aml.company-screen",
        "company.registration-number-present",
        "company.recent-extract",
    }
    assert ruleset.version.startswith("sha256:")
    assert len(ruleset.version) == len("sha256:") + 16


def test_the_ruleset_version_is_stable_across_loads_and_folders(rules_copy: Path) -> None:
    first, second = load_ruleset(RULES), load_ruleset(RULES)
    assert first.version == second.version
    assert load_ruleset(rules_copy).version == first.version  # a content hash, not a path
    assert [r.full_version for r in first.rules] == [r.full_version for r in second.rules]


def test_editing_a_rule_changes_the_ruleset_version_and_that_rules_version(
    rules_copy: Path,
) -> None:
    before = load_ruleset(rules_copy)
    kyc = rules_copy / "kyc.yaml"
    text = kyc.read_text(encoding="utf-8")
    edited = text.replace("message: Identity document expired", "message: Document expired")
    assert edited != text
    kyc.write_text(edited, encoding="utf-8")
    after = load_ruleset(rules_copy)
    assert after.version != before.version
    changed = {
        r.id
        for r, s in zip(before.rules, after.rules, strict=True)
        if r.full_version != s.full_version
    }
    assert changed == {"identity.not-expired"}  # an edit without a version bump still shows


def test_changing_a_watchlist_changes_the_ruleset_version(rules_copy: Path) -> None:
    before = load_ruleset(rules_copy).version
    watchlist = rules_copy / "watchlists" / "ofac_sdn.csv"
    content = watchlist.read_bytes().rstrip(b"\x1a")
    watchlist.chmod(0o644)
    watchlist.write_bytes(content)
    with watchlist.open("a", encoding="utf-8") as handle:
        handle.write(
            '99999,"DOE, John",individual,"TEST",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- \n'
        )
    assert load_ruleset(rules_copy).version != before


def test_adding_a_rule_file_changes_the_version_and_adds_its_rules(rules_copy: Path) -> None:
    before = load_ruleset(rules_copy)
    _write_rules(rules_copy, "extra.yaml", "rules:\n" + GOOD_RULE)
    after = load_ruleset(rules_copy)
    assert after.version != before.version
    assert "test.sample-rule" in {r.id for r in after.rules}


def test_an_empty_rules_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(RulesetError, match="no rule files"):
        load_ruleset(tmp_path)


# --- invalid rule files: the error names the file, the rule and the field -------------------


BAD_RULES = {
    "unknown check kind": (
        GOOD_RULE.replace("{kind: required_field, field: full_name}", "{kind: bogus, field: x}"),
        ["extra.yaml", "test.sample-rule", "check.kind", "bogus"],
    ),
    "missing rule attribute": (
        GOOD_RULE.replace("    message: Sample rule failed\n", ""),
        ["extra.yaml", "test.sample-rule", "message"],
    ),
    "check without its field parameter": (
        GOOD_RULE.replace("{kind: required_field, field: full_name}", "{kind: required_field}"),
        ["extra.yaml", "test.sample-rule", "field"],
    ),
    "bad severity": (
        GOOD_RULE.replace("severity: low", "severity: severe"),
        ["extra.yaml", "test.sample-rule", "severity"],
    ),
    "bad on_fail": (
        GOOD_RULE.replace("on_fail: fail", "on_fail: block"),
        ["extra.yaml", "test.sample-rule", "on_fail"],
    ),
    "unknown attribute": (
        GOOD_RULE.replace("    version: 1\n", "    version: 1\n    owner: compliance-team\n"),
        ["extra.yaml", "test.sample-rule", "owner"],
    ),
    "duplicate id": (
        GOOD_RULE.replace("test.sample-rule", "identity.not-expired"),
        ["extra.yaml", "kyc.yaml", "identity.not-expired", "id"],
    ),
    "unknown parameter of a check kind": (
        GOOD_RULE.replace("field: full_name}", "field: full_name, feild: x}"),
        ["extra.yaml", "test.sample-rule", "check", "feild"],
    ),
    "parameter of the wrong type": (
        GOOD_RULE.replace(
            "{kind: required_field, field: full_name}",
            "{kind: minimum_age, field: date_of_birth, years: old}",
        ),
        ["extra.yaml", "test.sample-rule", "check", "years", "integer"],
    ),
    "unknown kind inside a combination": (
        GOOD_RULE.replace(
            "{kind: required_field, field: full_name}",
            "{all: [{kind: required_field, field: a}, {not: {kind: bogus}}]}",
        ),
        ["extra.yaml", "test.sample-rule", "check.all.1.not.check.kind", "bogus"],
    ),
    "empty combination": (
        GOOD_RULE.replace("{kind: required_field, field: full_name}", "{any: []}"),
        ["extra.yaml", "test.sample-rule", "check.any", "at least 1"],
    ),
    "no examples": (
        GOOD_RULE.split("    examples:")[0],
        ["extra.yaml", "test.sample-rule", "examples"],
    ),
    "no failing example": (
        GOOD_RULE.replace("expect: fail", "expect: pass"),
        ["extra.yaml", "test.sample-rule", "examples", "expecting fail"],
    ),
    "example outcome the rule cannot give": (
        GOOD_RULE.replace("name: unnamed, expect: fail", "name: unnamed, expect: review"),
        ["extra.yaml", "test.sample-rule", "unnamed", "review"],
    ),
    "data file outside the rules folder": (
        GOOD_RULE.replace(
            "{kind: required_field, field: full_name}",
            "{kind: one_of, field: nationality, list: ../../etc/passwd}",
        ),
        ["extra.yaml", "test.sample-rule", "check", "outside the rules folder"],
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_RULES))
def test_an_invalid_rule_raises_ruleset_error_naming_file_rule_and_field(
    rules_copy: Path, case: str
) -> None:
    rule_text, expected_in_message = BAD_RULES[case]
    _write_rules(rules_copy, "extra.yaml", "rules:\n" + rule_text)
    with pytest.raises(RulesetError) as info:
        load_ruleset(rules_copy)
    message = str(info.value)
    missing = [part for part in expected_in_message if part not in message]
    assert missing == [], f"{case}: message {message!r} does not name {missing}"
    assert isinstance(info.value, ConfigurationError)  # stops start-up with one sentence


def test_invalid_yaml_raises_ruleset_error_naming_the_file_and_line(rules_copy: Path) -> None:
    _write_rules(rules_copy, "extra.yaml", "rules:\n  - id: test.broken\n    check: {kind: [\n")
    with pytest.raises(RulesetError, match=r"extra\.yaml: not valid YAML") as info:
        load_ruleset(rules_copy)
    assert "line" in str(info.value)


def test_invalid_yaml_error_is_one_line_for_the_operator(rules_copy: Path) -> None:
    # errors.ConfigurationError: "the message is one sentence for the operator"; the CLI
    # prints it as its one line on stderr.
    _write_rules(rules_copy, "extra.yaml", "rules:\n  - id: test.broken\n    check: {kind: [\n")
    with pytest.raises(RulesetError) as info:
        load_ruleset(rules_copy)
    assert "\n" not in str(info.value), str(info.value)


def test_a_rule_file_without_a_rules_list_is_an_error_naming_the_file(rules_copy: Path) -> None:
    _write_rules(rules_copy, "extra.yaml", "checks: []\n")
    with pytest.raises(RulesetError, match=r"extra\.yaml"):
        load_ruleset(rules_copy)


def test_a_missing_offline_list_folder_is_an_error_naming_the_rule(rules_copy: Path) -> None:
    kyc = rules_copy / "kyc.yaml"
    kyc.write_text(
        kyc.read_text(encoding="utf-8").replace("offline: watchlists", "offline: lists-gone"),
        encoding="utf-8",
    )
    with pytest.raises(RulesetError, match=r"aml\.sanctions-name-screen.*lists-gone"):
        load_ruleset(rules_copy)


def test_a_missing_pinned_watchlist_is_an_error_naming_the_rule(rules_copy: Path) -> None:
    kyc = rules_copy / "kyc.yaml"
    kyc.write_text(
        kyc.read_text(encoding="utf-8").replace("list: in_force", "list: watchlists/gone.csv"),
        encoding="utf-8",
    )
    with pytest.raises(RulesetError, match=r"aml\.sanctions-name-screen.*gone\.csv"):
        load_ruleset(rules_copy)


# --- evaluation ------------------------------------------------------------------------------


def test_every_rule_for_the_type_gives_one_result(ruleset: Ruleset) -> None:
    results = evaluate(ruleset, "passport", PASSPORT, AS_OF)
    assert [r.rule.id for r in results] == [r.id for r in ruleset.for_type("passport")]
    assert len(results) == 11
    assert {r.outcome for r in results} == {"pass"}


def test_expired_passport_fails_and_valid_passport_passes(ruleset: Ruleset) -> None:
    expired = dict(PASSPORT, expiry_date="2012-04-15")
    failed = _by_rule(evaluate(ruleset, "passport", expired, AS_OF))["identity.not-expired"]
    assert failed.outcome == "fail"
    assert failed.explanation.startswith("Identity document expired")
    assert "2012-04-15" in failed.explanation
    assert failed.inputs == {"expiry_date": "2012-04-15", "as_of": "2026-11-02"}
    passed = _by_rule(evaluate(ruleset, "passport", PASSPORT, AS_OF))["identity.not-expired"]
    assert passed.outcome == "pass"


@pytest.mark.parametrize("expiry", [None, "", "soon", "2034-13-01"])
def test_a_passport_without_a_readable_expiry_date_fails(
    ruleset: Ruleset, expiry: str | None
) -> None:
    fields = dict(PASSPORT, expiry_date=expiry)
    result = _by_rule(evaluate(ruleset, "passport", fields, AS_OF))["identity.not-expired"]
    assert result.outcome == "fail"


@pytest.mark.parametrize(
    ("as_of", "outcome"),
    [(date(2034, 9, 20), "pass"), (date(2034, 9, 21), "pass"), (date(2034, 9, 22), "fail")],
)
def test_results_use_the_as_of_date(ruleset: Ruleset, as_of: date, outcome: str) -> None:
    result = _by_rule(evaluate(ruleset, "passport", PASSPORT, as_of))["identity.not-expired"]
    assert result.outcome == outcome
    assert result.inputs["as_of"] == as_of.isoformat()


@pytest.mark.parametrize("name", ["Abu Zubaydah", "ZUBAYDAH, Abu", "abu  zubaydah"])
def test_a_name_on_the_sdn_list_is_sent_for_review_with_the_matched_name(
    ruleset: Ruleset, name: str
) -> None:
    fields = dict(PASSPORT, full_name=name, date_of_birth="1971-03-12")
    result = _by_rule(evaluate(ruleset, "passport", fields, AS_OF))["aml.sanctions-name-screen"]
    assert result.outcome == "review"
    assert result.inputs["matched_name"] == "ABU ZUBAYDAH"
    assert result.inputs["entity_id"] == "OFAC-SDN:6905"
    assert float(result.inputs["score"] or 0) >= 85
    assert result.inputs["list"] == "lists in watchlists"  # offline: the rules' own folder
    assert result.inputs["list_version"] == ruleset.lists_version
    assert (ruleset.lists_version or "").startswith("lists:")
    assert "Possible sanctions match" in result.explanation
    assert "date of birth" in (result.inputs["why"] or "")  # the library's explanation


def test_a_listed_name_with_a_clearly_different_birth_date_scores_lower(ruleset: Ruleset) -> None:
    same = dict(PASSPORT, full_name="Abu Zubaydah", date_of_birth="1971-03-12")
    other = dict(same, date_of_birth="1998-01-01")
    rule = "aml.sanctions-name-screen"
    matched = _by_rule(evaluate(ruleset, "passport", same, AS_OF))[rule]
    differs = _by_rule(evaluate(ruleset, "passport", other, AS_OF))[rule]
    assert matched.outcome == "review"
    assert differs.outcome == "pass"


@pytest.mark.parametrize("name", ["Ingrid Marie Halvorsen", "Daniel Okafor", "Anna Maria Eriksson"])
def test_an_ordinary_name_passes_the_sanctions_screen(ruleset: Ruleset, name: str) -> None:
    fields = dict(PASSPORT, full_name=name)
    result = _by_rule(evaluate(ruleset, "passport", fields, AS_OF))["aml.sanctions-name-screen"]
    assert result.outcome == "pass"
    assert "matched_name" not in result.inputs


def test_a_check_that_raises_is_an_error_outcome_and_other_rules_still_run(
    rules_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explodes(params: dict[str, Any], fields: Any, resource: Any, ctx: Context) -> Verdict:
        raise ZeroDivisionError("division by zero in a broken check")

    monkeypatch.setitem(CHECKS, "explodes", explodes)
    broken = GOOD_RULE.replace("test.sample-rule", "test.broken-check").replace(
        "{kind: required_field, field: full_name}", "{kind: explodes}"
    )
    _write_rules(rules_copy, "broken.yaml", "rules:\n" + broken)
    ruleset = load_ruleset(rules_copy)
    results = _by_rule(evaluate(ruleset, "passport", PASSPORT, AS_OF))
    assert results["test.broken-check"].outcome == "error"
    assert "ZeroDivisionError" in results["test.broken-check"].explanation
    others = {rid: r.outcome for rid, r in results.items() if rid != "test.broken-check"}
    assert len(others) == 11
    assert set(others.values()) == {"pass"}


def test_a_check_whose_database_is_down_makes_no_decision_the_batch_waits(
    rules_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def database_down(params: dict[str, Any], fields: Any, resource: Any, ctx: Context) -> Verdict:
        raise RetryableError("database unavailable while looking up a clearance")

    monkeypatch.setitem(CHECKS, "database_down", database_down)
    waits = GOOD_RULE.replace("test.sample-rule", "test.reads-the-database").replace(
        "{kind: required_field, field: full_name}", "{kind: database_down}"
    )
    _write_rules(rules_copy, "waits.yaml", "rules:\n" + waits)
    ruleset = load_ruleset(rules_copy)
    with pytest.raises(RetryableError):  # not an "error" outcome raising an exception
        evaluate(ruleset, "passport", PASSPORT, AS_OF)


def test_a_field_value_that_breaks_a_check_is_an_error_outcome(ruleset: Ruleset) -> None:
    fields: dict[str, Any] = dict(PASSPORT, document_number=12345678)  # not text
    results = _by_rule(evaluate(ruleset, "passport", fields, AS_OF))
    assert results["identity.document-number-format"].outcome == "error"
    assert results["identity.not-expired"].outcome == "pass"


def test_an_mrz_with_a_wrong_check_digit_fails_its_rule(ruleset: Ruleset) -> None:
    fields = dict(PASSPORT, mrz_lines=PASSPORT["mrz_lines"].replace("X71K42Q906", "X71K42Q907"))
    result = _by_rule(evaluate(ruleset, "passport", fields, AS_OF))["identity.mrz-check-digits"]
    assert result.outcome == "fail"
    assert "document_number" in result.explanation


def test_a_malformed_document_number_fails_its_rule(ruleset: Ruleset) -> None:
    fields = dict(PASSPORT, document_number="X7-1K")
    rule_id = "identity.document-number-format"
    assert _by_rule(evaluate(ruleset, "passport", fields, AS_OF))[rule_id].outcome == "fail"


def test_proof_of_address_without_an_address_fails(ruleset: Ruleset) -> None:
    fields = {"full_name": "Daniel Okafor", "address": "   ", "document_date": "2026-10-01"}
    results = _by_rule(evaluate(ruleset, "proof_of_address", fields, AS_OF))
    assert set(results) == {
        "classification.declared-type-agrees",
        "classification.type-has-rules",
        "aml.sanctions-name-screen",
        "address.address-present",
        "address.recent-document",
        "address.consistent",
        "address.holder-named",
        "identity.name-matches-customer",
    }
    assert results["address.address-present"].outcome == "fail"
    assert {r.outcome for k, r in results.items() if k != "address.address-present"} == {"pass"}


def test_a_rule_for_every_type_applies_to_any_type(rules_copy: Path) -> None:
    everywhere = GOOD_RULE.replace("applies_to: [passport]", 'applies_to: ["*"]')
    _write_rules(rules_copy, "extra.yaml", "rules:\n" + everywhere)
    ruleset = load_ruleset(rules_copy)
    assert "test.sample-rule" in [r.id for r in ruleset.for_type("no_such_type")]


# --- examples declared beside each rule ------------------------------------------------------


def test_every_bundled_rule_ships_a_passing_and_a_failing_example(ruleset: Ruleset) -> None:
    for rule in ruleset.rules:
        outcomes = {example.expect for example in rule.examples}
        assert "pass" in outcomes and rule.on_fail in outcomes, rule.id


def test_every_bundled_example_gives_the_outcome_it_expects(ruleset: Ruleset) -> None:
    runs = run_examples(ruleset)
    assert len(runs) == sum(len(r.examples) for r in ruleset.rules) >= 2 * len(ruleset.rules)
    wrong = [
        f"{r.rule.id} / {r.example.name}: expected {r.example.expect}, got {r.outcome} "
        f"({r.explanation})"
        for r in runs
        if not r.ok
    ]
    assert wrong == []


def test_an_example_that_no_longer_holds_is_reported(rules_copy: Path) -> None:
    kyc = rules_copy / "kyc.yaml"
    kyc.write_text(
        kyc.read_text(encoding="utf-8").replace("years: 18}", "years: 16}"), encoding="utf-8"
    )
    runs = [r for r in run_examples(load_ruleset(rules_copy)) if not r.ok]
    assert [(r.rule.id, r.example.name, r.outcome) for r in runs] == [
        ("identity.minimum-age", "eighteenth birthday is tomorrow", "pass")
    ]


def test_rules_test_command_exits_non_zero_when_an_example_fails(
    rules_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli_main(["rules", "test", str(rules_copy)]) == 0
    kyc = rules_copy / "kyc.yaml"
    kyc.write_text(
        kyc.read_text(encoding="utf-8").replace("max_age_days: 90", "max_age_days: 900"),
        encoding="utf-8",
    )
    assert cli_main(["rules", "test", str(rules_copy)]) == 1
    out = capsys.readouterr().out
    assert "FAIL address.recent-document: bill from last year" in out
    assert "expected fail, got pass" in out


def test_editing_only_an_example_keeps_the_rule_version(rules_copy: Path) -> None:
    before = load_ruleset(rules_copy)
    kyc = rules_copy / "kyc.yaml"
    kyc.write_text(
        kyc.read_text(encoding="utf-8").replace("name: born 1988", "name: born in 1988"),
        encoding="utf-8",
    )
    after = load_ruleset(rules_copy)
    assert after.version != before.version  # the files changed ...
    assert [r.full_version for r in after.rules] == [r.full_version for r in before.rules]


# --- boolean combinations ---------------------------------------------------------------------


COMBINED = """\
  - id: test.combined
    version: 1
    description: Combinations.
    applies_to: [passport]
    severity: low
    check:
      any:
        - all:
            - {kind: required_field, field: full_name}
            - not: {kind: one_of, field: nationality, values: [PRK, IRN]}
        - {kind: required_field, field: waiver}
    on_fail: review
    message: Combined
    examples:
      - {name: a, expect: pass, as_of: 2026-11-02, fields: {full_name: A, nationality: UTO}}
      - {name: b, expect: review, as_of: 2026-11-02, fields: {full_name: A, nationality: PRK}}
"""


@pytest.mark.parametrize(
    ("fields", "outcome", "says"),
    [
        ({"full_name": "A", "nationality": "UTO"}, "pass", "is not on"),
        ({"full_name": "A", "nationality": "prk"}, "review", "'prk' is on"),
        ({"nationality": "UTO"}, "review", "has no full name"),
        ({"full_name": "A", "nationality": "IRN", "waiver": "W-1"}, "pass", "waiver is present"),
    ],
)
def test_all_any_and_not_combine_checks_and_explain_the_decisive_one(
    rules_copy: Path, fields: dict[str, str], outcome: str, says: str
) -> None:
    _write_rules(rules_copy, "extra.yaml", "rules:\n" + COMBINED)
    result = _by_rule(evaluate(load_ruleset(rules_copy), "passport", fields, AS_OF))[
        "test.combined"
    ]
    assert result.outcome == outcome
    assert says in result.explanation
    assert result.inputs.get("full_name") == fields.get("full_name")


def test_the_ruleset_knows_which_customer_state_a_document_type_needs(ruleset: Ruleset) -> None:
    assert ruleset.needs_for_type("passport") == {"documents"}
    assert ruleset.needs_for_type("consent_form") == {"documents", "consents"}
    assert ruleset.needs_for_type("bank_statement") == frozenset()
