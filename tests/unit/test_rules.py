"""Rules as versioned data: loading and validating rule files, and evaluating them."""

from __future__ import annotations

import shutil
import textwrap
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from compliance.errors import ConfigurationError
from compliance.rules import RuleResult, Ruleset, RulesetError, evaluate, load_ruleset
from compliance.rules.checks import CHECKS, Context, Verdict

RULES = Path(__file__).resolve().parents[2] / "rules"
AS_OF = date(2026, 11, 2)
PASSPORT = {
    "full_name": "INGRID MARIE HALVORSEN",
    "document_number": "X71K42Q90",
    "expiry_date": "2034-09-21",
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
"""

# --- loading and versions ------------------------------------------------------------------


def test_the_bundled_ruleset_loads_with_its_rules(ruleset: Ruleset) -> None:
    assert {r.id for r in ruleset.rules} == {
        "identity.document-number-format",
        "identity.mrz-check-digits",
        "identity.not-expired",
        "aml.sanctions-name-screen",
        "address.address-present",
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
    with watchlist.open("a", encoding="utf-8") as handle:
        handle.write(
            '99999,"DOE, John","individual","TEST",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0-\n'
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
        GOOD_RULE + "    owner: compliance-team\n",
        ["extra.yaml", "test.sample-rule", "owner"],
    ),
    "duplicate id": (
        GOOD_RULE.replace("test.sample-rule", "identity.not-expired"),
        ["extra.yaml", "kyc.yaml", "identity.not-expired", "id"],
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


def test_a_missing_watchlist_is_an_error_naming_the_rule(rules_copy: Path) -> None:
    (rules_copy / "watchlists" / "ofac_sdn.csv").unlink()
    with pytest.raises(RulesetError, match=r"aml\.sanctions-name-screen"):
        load_ruleset(rules_copy)


# --- evaluation ------------------------------------------------------------------------------


def test_every_rule_for_the_type_gives_one_result(ruleset: Ruleset) -> None:
    results = evaluate(ruleset, "passport", PASSPORT, AS_OF)
    assert [r.rule.id for r in results] == [r.id for r in ruleset.for_type("passport")]
    assert len(results) == 4
    assert {r.outcome for r in results} == {"pass"}
    assert evaluate(ruleset, "bank_statement", {}, AS_OF) == []


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
    fields = dict(PASSPORT, full_name=name)
    result = _by_rule(evaluate(ruleset, "passport", fields, AS_OF))["aml.sanctions-name-screen"]
    assert result.outcome == "review"
    assert result.inputs["matched_name"] == "ABU ZUBAYDAH"
    assert float(result.inputs["score"] or 0) >= 90
    assert (result.inputs["list"] or "").startswith("watchlists/ofac_sdn.csv@sha256:")
    assert "Possible sanctions match" in result.explanation


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
    assert others == {
        "identity.document-number-format": "pass",
        "identity.mrz-check-digits": "pass",
        "identity.not-expired": "pass",
        "aml.sanctions-name-screen": "pass",
    }


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
    fields = {"full_name": "Daniel Okafor", "address": "   "}
    results = _by_rule(evaluate(ruleset, "proof_of_address", fields, AS_OF))
    assert set(results) == {"aml.sanctions-name-screen", "address.address-present"}
    assert results["address.address-present"].outcome == "fail"


def test_a_rule_for_every_type_applies_to_any_type(rules_copy: Path) -> None:
    everywhere = GOOD_RULE.replace("applies_to: [passport]", 'applies_to: ["*"]')
    _write_rules(rules_copy, "extra.yaml", "rules:\n" + everywhere)
    ruleset = load_ruleset(rules_copy)
    assert [r.id for r in ruleset.for_type("bank_statement")] == ["test.sample-rule"]
