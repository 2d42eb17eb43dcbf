"""The sanctions rule on "the lists in force": bound to what a process provides (a list
version and the officers' clearances), the offline lists where nothing is provided, a
ruleset version per list version, a result cache per list version, and clearances applied
after the cache so that one granted after a hit counts from the next document on."""

from __future__ import annotations

import shutil
import uuid
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pytest

from compliance.config import Settings
from compliance.rules import RuleResult, Ruleset, evaluate, load_ruleset
from compliance.rules.examples import run_examples
from compliance.rules.kinds.screening import watchlist
from compliance.screening import Hit, ScreeningConfig, entity_version
from compliance.screening.customers import customer_version
from compliance.screening.events import Clearance
from compliance.screening.list_store import version_of
from compliance.screening.live import (
    ListsInForce,
    bundled_in_force,
    folder_in_force,
    loaded,
    read_list_folder,
)

RULES = Path(__file__).resolve().parents[2] / "rules"
RULE = "aml.sanctions-name-screen"
AS_OF = date(2026, 11, 2)
BLIX = {"full_name": "Zarathustra Blixquent", "date_of_birth": "1971-03-12"}
ZUBAYDAH = {"full_name": "Abu Zubaydah", "date_of_birth": "1971-03-12"}  # bundled lists only
QUAX = {"full_name": "Hieronymus Quaxwell", "date_of_birth": "1960-01-01"}


def write_version(folder: Path, people: list[tuple[int, str]]) -> ListsInForce:
    """A stored list version as ``LiveSanctions`` holds one: an sdn.csv listing ``people``."""
    folder.mkdir(parents=True)
    rows = [f'{num},"{name}","individual","SDGT"' + ",-0- " * 8 for num, name in people]
    (folder / "sdn.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    lists = folder_in_force(folder, "").lists
    fingerprint = version_of(read_list_folder(folder))
    return ListsInForce(fingerprint, 7, f"list version {fingerprint}", fingerprint, loaded(lists))


@dataclass
class FakeSanctions:
    """A ``SanctionsSource``: a list version in force and an allowlist in memory."""

    in_force: ListsInForce
    cleared: dict[tuple[str, str, str, str | None], Clearance] = field(default_factory=dict)
    asked: list[tuple[str, str]] = field(default_factory=list)

    def lists_in_force(self) -> ListsInForce:
        return self.in_force

    def clearance(
        self, customer_id: str, entity_id: str, entity_version: str, customer_version: str | None
    ) -> Clearance | None:
        self.asked.append((customer_id, entity_id))
        return self.cleared.get((customer_id, entity_id, entity_version, customer_version))

    def clear(self, customer_id: str, result: RuleResult, fields: dict[str, str]) -> Clearance:
        """Clear ``customer_id`` against the entity ``result`` matched, as an officer would
        (the entity version from the lists, the customer's details as screened)."""
        entity_id = result.inputs["entity_id"] or ""
        entity = next(
            e for lst in self.in_force.lists for e in lst.entities if e.entity_id == entity_id
        )
        details = customer_version(fields["full_name"], fields.get("date_of_birth"), [])
        clearance = Clearance(
            event_id=str(uuid.uuid4()), action="clear", customer_id=customer_id,
            entity_id=entity_id, entity_version=entity_version(entity),
            customer_version=details, officer="officer.jane", reason="different person",
        )  # fmt: skip
        self.cleared[(customer_id, entity_id, entity_version(entity), details)] = clearance
        return clearance


def screened(ruleset: Ruleset, fields: dict[str, str], customer: str | None = None) -> RuleResult:
    results = evaluate(ruleset, "passport", fields, AS_OF, customer_id=customer)
    return next(r for r in results if r.rule.id == RULE)


@pytest.fixture
def v1(tmp_path: Path) -> ListsInForce:
    return write_version(tmp_path / "v1", [(901, "BLIXQUENT, Zarathustra")])


@pytest.fixture
def v2(tmp_path: Path) -> ListsInForce:
    return write_version(
        tmp_path / "v2", [(901, "BLIXQUENT, Zarathustra"), (902, "QUAXWELL, Hieronymus")]
    )


# --- bound to a provider ----------------------------------------------------------------------


def test_a_bound_ruleset_screens_the_provided_lists_and_names_their_version(
    ruleset: Ruleset, v1: ListsInForce
) -> None:
    live = ruleset.with_lists(FakeSanctions(v1))
    hit = screened(live, BLIX)
    assert hit.outcome == "review"
    assert hit.inputs["entity_id"] == "OFAC-SDN:901"
    assert hit.inputs["list_version"] == v1.fingerprint
    assert hit.inputs["list"] == f"list version {v1.fingerprint}"
    # the offline (bundled) lists are not screened once bound: Zubaydah is not in v1
    assert screened(live, ZUBAYDAH).outcome == "pass"
    assert screened(ruleset, ZUBAYDAH).outcome == "review"
    assert screened(ruleset, BLIX).outcome == "pass"


def test_the_ruleset_version_combines_the_rule_files_and_the_list_version(
    ruleset: Ruleset, v1: ListsInForce, v2: ListsInForce
) -> None:
    one, two = ruleset.with_lists(FakeSanctions(v1)), ruleset.with_lists(FakeSanctions(v2))
    assert len({ruleset.version, one.version, two.version}) == 3
    assert {one.rules_version, two.rules_version} == {ruleset.rules_version}
    assert (one.lists_version, two.lists_version) == (v1.fingerprint, v2.fingerprint)
    assert ruleset.with_lists(FakeSanctions(v1)).version == one.version  # reproducible
    assert one.version.startswith("sha256:") and len(one.version) == len(ruleset.version)


def test_the_bundled_lists_in_force_give_the_same_version_as_the_offline_rules(
    ruleset: Ruleset,
) -> None:
    """A checker before any list load decides with the version `rules test` reports."""
    bundled = bundled_in_force(Settings(sanctions_dir=RULES / "watchlists"))
    assert bundled.fingerprint == ruleset.lists_version
    assert ruleset.with_lists(FakeSanctions(bundled)).version == ruleset.version


def test_a_ruleset_keeps_its_lists_when_the_provider_moves_on(
    ruleset: Ruleset, v1: ListsInForce, v2: ListsInForce
) -> None:
    source = FakeSanctions(v1)
    before = ruleset.with_lists(source)
    source.in_force = v2
    after = before.with_lists(source)
    assert screened(before, QUAX).outcome == "pass"  # still v1 throughout
    assert screened(before, QUAX).inputs["list_version"] == v1.fingerprint
    newly = screened(after, QUAX)
    assert (newly.outcome, newly.inputs["entity_id"]) == ("review", "OFAC-SDN:902")
    assert newly.inputs["list_version"] == v2.fingerprint


def test_pinned_lists_ignore_the_provider(rules_copy: Path, v2: ListsInForce) -> None:
    for file in rules_copy.glob("*.yaml"):  # every sanctions rule pinned
        pinned_text = file.read_text(encoding="utf-8").replace(
            "list: in_force", "list: watchlists/ofac_sdn.csv"
        )
        file.write_text(pinned_text, encoding="utf-8")
    pinned = load_ruleset(rules_copy)
    assert pinned.lists_version is None
    bound = pinned.with_lists(FakeSanctions(v2))
    assert bound.version == pinned.version
    result = screened(bound, ZUBAYDAH)
    assert result.outcome == "review"
    assert (result.inputs["list"] or "").startswith("watchlists/ofac_sdn.csv@sha256:")
    assert screened(bound, QUAX).outcome == "pass"


# --- the result cache -------------------------------------------------------------------------


def test_results_are_cached_per_list_version(v1: ListsInForce, v2: ListsInForce) -> None:
    old = watchlist(v1.fingerprint, lambda: v1.lists, 85.0)
    assert watchlist(v1.fingerprint, lambda: pytest.fail("built twice"), 85.0) is old
    assert old.screen("Hieronymus Quaxwell", "", "") == ()
    new = watchlist(v2.fingerprint, lambda: v2.lists, 85.0)
    assert new is not old
    assert [h.entity_id for h in new.screen("Hieronymus Quaxwell", "", "")] == ["OFAC-SDN:902"]
    assert old.screen("Hieronymus Quaxwell", "", "") == ()  # the old version's own answer
    assert watchlist(v1.fingerprint, lambda: v1.lists, 90.0) is not old  # another threshold


# --- clearances -------------------------------------------------------------------------------


def test_a_clearance_given_after_a_hit_counts_from_the_next_document(
    ruleset: Ruleset, v1: ListsInForce
) -> None:
    source = FakeSanctions(v1)
    live = ruleset.with_lists(source)
    first = screened(live, BLIX, "C-1")
    assert first.outcome == "review"
    clearance = source.clear("C-1", first, BLIX)
    again = screened(live, BLIX, "C-1")  # same ruleset, same cached hits
    assert again.outcome == "pass"
    assert again.inputs["cleared_entities"] == "OFAC-SDN:901"
    assert again.inputs["clearances"] == clearance.event_id
    assert again.inputs["list_version"] == v1.fingerprint
    assert "officer.jane cleared customer C-1" in again.explanation
    other = screened(live, BLIX, "C-2")  # the same name, another customer
    assert (other.outcome, other.inputs["entity_id"]) == ("review", "OFAC-SDN:901")
    assert "cleared_entities" not in other.inputs


def test_a_clearance_lapses_when_the_customer_details_change(
    ruleset: Ruleset, v1: ListsInForce
) -> None:
    source = FakeSanctions(v1)
    live = ruleset.with_lists(source)
    source.clear("C-1", screened(live, BLIX, "C-1"), BLIX)
    moved = dict(BLIX, date_of_birth="1971")
    assert screened(live, moved, "C-1").outcome == "review"


def test_clearances_are_asked_only_for_hits_of_a_known_customer(
    ruleset: Ruleset, v1: ListsInForce
) -> None:
    source = FakeSanctions(v1)
    live = ruleset.with_lists(source)
    screened(live, QUAX, "C-1")  # no hit
    screened(live, BLIX)  # a hit, no customer
    assert source.asked == []
    screened(live, BLIX, "C-1")
    assert source.asked == [("C-1", "OFAC-SDN:901")]


def test_only_the_cleared_entity_is_left_out(ruleset: Ruleset, tmp_path: Path) -> None:
    twice = write_version(
        tmp_path / "twice", [(901, "BLIXQUENT, Zarathustra"), (905, "BLIXQUENT, Zarathustra A.")]
    )
    source = FakeSanctions(twice)
    live = ruleset.with_lists(source)
    first = screened(live, BLIX, "C-1")
    assert first.outcome == "review" and first.inputs["hits"] == "2"
    source.clear("C-1", first, BLIX)
    left = screened(live, BLIX, "C-1")
    assert left.outcome == "review"
    assert left.inputs["entity_id"] != first.inputs["entity_id"]
    assert left.inputs["cleared_entities"] == first.inputs["entity_id"]
    assert left.inputs["hits"] == "1"


def clear_against(source: FakeSanctions, customer_id: str, entity_ids: set[str]) -> None:
    """Clear ``customer_id``, as screened with BLIX's details, against ``entity_ids``."""
    details = customer_version(BLIX["full_name"], BLIX["date_of_birth"], [])
    for lst in source.in_force.lists:
        for entity in lst.entities:
            if entity.entity_id in entity_ids:
                version = entity_version(entity)
                source.cleared[(customer_id, entity.entity_id, version, details)] = Clearance(
                    event_id=str(uuid.uuid4()), action="clear", customer_id=customer_id,
                    entity_id=entity.entity_id, entity_version=version,
                    customer_version=details, officer="officer.jane", reason="not this one",
                )  # fmt: skip


def test_hits_cleared_beyond_max_hits_do_not_hide_an_uncleared_one(
    ruleset: Ruleset, tmp_path: Path
) -> None:
    """The customer is cleared against more same-name entities than the screener returns
    (max_hits); the one more listed entity that also matches, and is not cleared, sorts
    after all of them: it must still be found."""
    max_hits = ScreeningConfig().max_hits
    people = [(1000 + n, "BLIXQUENT, Zarathustra") for n in range(max_hits + 2)]
    many = write_version(tmp_path / "many", people)
    source = FakeSanctions(many)
    live = ruleset.with_lists(source)
    ranked = [h.entity_id for h in screened_hits(many)]
    assert len(ranked) == max_hits  # the screener's cut: two entities are not returned
    every = [f"OFAC-SDN:{num}" for num, _ in people]
    uncleared = every[-1]
    assert uncleared not in ranked
    clear_against(source, "C-1", set(every) - {uncleared})  # max_hits + 1 clearances
    result = screened(live, BLIX, "C-1")
    assert (result.outcome, result.inputs["entity_id"]) == ("review", uncleared)
    assert result.inputs["hits"] == "1"
    assert set((result.inputs["cleared_entities"] or "").split(", ")) == set(every) - {uncleared}
    assert len(source.asked) == len(every)  # each hit asked about once
    other = screened(live, BLIX, "C-2")  # nothing cleared: the first screen is enough
    assert other.outcome == "review" and other.inputs["hits"] == str(max_hits)
    clear_against(source, "C-3", set(every))  # cleared against them all: a pass
    passed = screened(live, BLIX, "C-3")
    assert passed.outcome == "pass"
    assert f"and {len(every) - 1} more listed entity(ies)" in passed.explanation


def screened_hits(lists: ListsInForce) -> tuple[Hit, ...]:
    """What the rule's screener returns for BLIX on ``lists``, before any clearance."""
    wl = watchlist(lists.fingerprint, lambda: lists.lists, 85.0)
    return wl.screen(BLIX["full_name"], BLIX["date_of_birth"], "")


# --- offline ----------------------------------------------------------------------------------


def test_offline_the_rule_screens_the_rules_folder_and_its_examples_pass(
    ruleset: Ruleset,
) -> None:
    assert ruleset.lists == "lists in watchlists"
    assert ruleset.lists_version == version_of(read_list_folder(RULES / "watchlists"))
    runs = [run for run in run_examples(ruleset) if run.rule.id == RULE]
    assert len(runs) == 2 and all(run.ok for run in runs)
    assert screened(ruleset, ZUBAYDAH, "C-1").inputs["list_version"] == ruleset.lists_version


def test_offline_lists_changing_change_the_version(rules_copy: Path) -> None:
    before = load_ruleset(rules_copy)
    sdn = rules_copy / "watchlists" / "ofac_sdn.csv"
    sdn.chmod(0o644)
    sdn.write_bytes(
        sdn.read_bytes().rstrip(b"\x1a")
        + b'99999,"QUAXWELL, Hieronymus",individual,"TEST"'
        + b",-0- " * 8
        + b"\n"
    )
    after = load_ruleset(rules_copy)
    assert after.rules_version == before.rules_version
    assert after.lists_version != before.lists_version and after.version != before.version
    assert screened(after, QUAX).outcome == "review"


@pytest.fixture
def rules_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "rules"
    shutil.copytree(RULES, folder)
    return folder
