"""RulesetChanged: each copy of the checker announcing a ruleset is an event of its own."""

from __future__ import annotations

from compliance.config import PROJECT_ROOT
from compliance.rules import load_ruleset
from compliance.rules.events import ruleset_changed

RULES = load_ruleset(PROJECT_ROOT / "rules")


def announced_id(instance_id: str, reason: str = "start") -> str:
    out = ruleset_changed(None, RULES, reason=reason, scope="t.", instance_id=instance_id)
    return str(out.record["envelope"]["event_id"])


def test_two_checker_copies_loading_one_ruleset_announce_two_events_not_one_id_twice() -> None:
    # One id with two contents (the record names its copy) is a conflict in the audit trail.
    assert announced_id("checker-a") != announced_id("checker-b")


def test_one_checker_copy_announcing_the_same_ruleset_again_repeats_its_event_id() -> None:
    assert announced_id("checker-a") == announced_id("checker-a")
