"""Each transaction rule on real-looking sequences of payments: the pattern must alert, once,
naming its payments; the near-miss must not."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from compliance.config import PROJECT_ROOT
from compliance.transactions.account import MAX_ENTRIES, AccountState
from compliance.transactions.examples import run_example
from compliance.transactions.model import Transaction
from compliance.transactions.ruleset import (
    Alert,
    TransactionRules,
    load_transaction_rules,
    screen,
)
from compliance.transactions.sanctions import ListsScreen
from tests.unit.test_sanctions_rule import write_version

from .conftest import Pay

SHIPPED = load_transaction_rules(PROJECT_ROOT / "rules" / "transactions")


def alerts_of(
    rules: TransactionRules,
    payments: list[Transaction],
    rule_id: str,
    lists: ListsScreen | None = None,
    account: AccountState | None = None,
) -> list[Alert]:
    account = account if account is not None else AccountState()
    found = []
    for tx in payments:
        found += [a for a in screen(rules, tx, account, lists).alerts if a.rule.id == rule_id]
    return found


@pytest.mark.parametrize(
    ("rule_id", "example"),
    [(r.id, e.name) for r in SHIPPED.rules for e in r.examples],
)
def test_every_shipped_example_decides_as_declared(
    rules: TransactionRules, lists: ListsScreen, rule_id: str, example: str
) -> None:
    rule = next(r for r in rules.rules if r.id == rule_id)
    spec = next(e for e in rule.examples if e.name == example)
    run = run_example(rules, rule, spec, lists)
    assert run.ok, f"expected {spec.expect}, got: {run.explanation}"


def test_every_rule_has_an_example_that_alerts_and_one_that_does_not(
    rules: TransactionRules,
) -> None:
    for rule in rules.rules:
        assert {e.expect for e in rule.examples} == {"alert", "no alert"}, rule.id


def test_five_cash_deposits_of_9500_in_a_day_raise_one_structuring_alert_naming_them(
    rules: TransactionRules, pay: Pay
) -> None:
    day = [f"2026-03-02T{h}" for h in ("09:05", "11:40", "13:15", "15:30", "16:55")]
    deposits = [pay(at, 9500, channel="cash") for at in day]
    alerts = alerts_of(rules, deposits, "tx.structuring")
    assert len(alerts) == 1
    assert alerts[0].finding.transactions == ("tx-1", "tx-2", "tx-3")
    assert "under the 10,000.00 EUR threshold" in alerts[0].finding.reason


def test_structuring_alerts_again_for_a_new_pattern_after_its_window(
    rules: TransactionRules, pay: Pay
) -> None:
    first = [pay(f"2026-03-02T{h:02d}:00", 9500, channel="cash") for h in (9, 10, 11)]
    second = [pay(f"2026-03-04T{h:02d}:00", 9400, channel="cash") for h in (9, 10, 11)]
    alerts = alerts_of(rules, first + second, "tx.structuring")
    assert [a.finding.transactions for a in alerts] == [
        ("tx-1", "tx-2", "tx-3"),
        ("tx-4", "tx-5", "tx-6"),
    ]


@pytest.mark.parametrize(
    ("amount", "channel"),
    [(9500, "wire"), (8400, "cash"), (10_000, "cash")],
    ids=["by wire, not cash", "below the band", "at the threshold (reported anyway)"],
)
def test_deposits_outside_the_structuring_band_do_not_alert(
    rules: TransactionRules, pay: Pay, amount: int, channel: str
) -> None:
    deposits = [pay(f"2026-03-02T{h:02d}:00", amount, channel=channel) for h in (9, 10, 11, 12)]
    assert alerts_of(rules, deposits, "tx.structuring") == []


def test_structuring_counts_dollar_cash_converted_to_the_reporting_currency(
    rules: TransactionRules, pay: Pay
) -> None:
    # USD 10,900 is 9,439.40 EUR at the table's rate: under the EUR threshold, in the band
    deposits = [
        pay(f"2026-03-02T{h:02d}:00", 10_900, channel="cash", currency="USD") for h in (9, 10, 11)
    ]
    assert len(alerts_of(rules, deposits, "tx.structuring")) == 1


def daily(pay: Pay, days: int, amount: float) -> list[Transaction]:
    return [pay(f"2026-03-{d:02d}T10:00:00", amount) for d in range(1, days + 1)]


def test_a_day_of_twelve_payments_after_a_month_of_one_a_day_is_unusual_velocity(
    rules: TransactionRules, pay: Pay
) -> None:
    usual = daily(pay, 20, 120)
    burst = [pay(f"2026-03-22T{8 + i // 2:02d}:{30 * (i % 2):02d}:00", 120) for i in range(12)]
    alerts = alerts_of(rules, usual + burst, "tx.velocity")
    assert len(alerts) == 1
    assert "10 transactions (usually 1.0)" in alerts[0].finding.reason
    assert len(alerts[0].finding.transactions) == 10


def test_four_times_the_usual_is_not_unusual_velocity(rules: TransactionRules, pay: Pay) -> None:
    usual = [pay(f"2026-03-{d:02d}T{h:02d}:00:00", 120) for d in range(1, 21) for h in (9, 12, 15)]
    busy = [pay(f"2026-03-22T{8 + i // 2:02d}:{30 * (i % 2):02d}:00", 120) for i in range(12)]
    assert alerts_of(rules, usual + busy, "tx.velocity") == []


def test_a_large_sum_far_over_the_accounts_usual_is_unusual_velocity(
    rules: TransactionRules, pay: Pay
) -> None:
    usual = daily(pay, 20, 300)
    alerts = alerts_of(rules, [*usual, pay("2026-03-22T10:00:00", 25_000)], "tx.velocity")
    assert len(alerts) == 1 and "25,000.00 EUR" in alerts[0].finding.reason


def test_money_from_eight_accounts_in_two_days_is_fan_in(rules: TransactionRules, pay: Pay) -> None:
    payers = [
        pay(f"2026-03-0{2 + i // 4}T{9 + i % 4:02d}:00:00", 800, counterparty_account=f"DE{i:020d}")
        for i in range(8)
    ]
    alerts = alerts_of(rules, payers, "tx.fan-in")
    assert len(alerts) == 1
    assert len(alerts[0].finding.transactions) == 8


def test_eight_payers_spread_over_a_fortnight_are_not_fan_in(
    rules: TransactionRules, pay: Pay
) -> None:
    payers = [
        pay(f"2026-03-{1 + 2 * i:02d}T09:00:00", 800, counterparty_account=f"DE{i:020d}")
        for i in range(8)
    ]
    assert alerts_of(rules, payers, "tx.fan-in") == []


def test_salary_paid_out_to_eight_people_is_fan_out_but_seven_are_not(
    rules: TransactionRules, pay: Pay
) -> None:
    names = ["Anna Berg", "Piotr Nowak", "Lena Vogel", "Marco Rossi", "Eva Novak", "Jan Smit"]
    names += ["Ines Costa", "Ola Dahl"]
    out = [
        pay(f"2026-03-02T09:{5 * i:02d}:00", 900, direction="out", counterparty_name=n)
        for i, n in enumerate(names)
    ]
    assert alerts_of(rules, out[:7], "tx.fan-out") == []
    assert len(alerts_of(rules, out, "tx.fan-out")) == 1


def test_money_passed_straight_through_is_rapid_movement(rules: TransactionRules, pay: Pay) -> None:
    flow = [
        pay("2026-03-02T09:00:00", 12_000),
        pay("2026-03-02T09:30:00", 8_000),
        pay("2026-03-02T14:00:00", 17_500, direction="out"),
    ]
    alerts = alerts_of(rules, flow, "tx.rapid-movement")
    assert len(alerts) == 1
    assert alerts[0].finding.transactions == ("tx-1", "tx-2", "tx-3")
    assert "(88%) left again" in alerts[0].finding.reason


def test_half_of_an_inflow_leaving_is_not_rapid_movement(rules: TransactionRules, pay: Pay) -> None:
    flow = [pay("2026-03-02T09:00:00", 20_000), pay("2026-03-02T14:00:00", 10_000, direction="out")]
    assert alerts_of(rules, flow, "tx.rapid-movement") == []


def test_three_round_transfers_in_a_week_alert_but_two_do_not(
    rules: TransactionRules, pay: Pay
) -> None:
    out = [pay(f"2026-03-0{d}T09:00:00", a, direction="out") for d, a in ((2, 5000), (4, 8000))]
    assert alerts_of(rules, out, "tx.round-amounts") == []
    third = pay("2026-03-06T09:00:00", 20_000, direction="out")
    assert len(alerts_of(rules, [*out, third], "tx.round-amounts")) == 1


def test_a_listed_counterparty_alerts_and_a_similar_ordinary_name_does_not(
    rules: TransactionRules, lists: ListsScreen, pay: Pay
) -> None:
    listed = pay("2026-03-02T09:00:00", 3000, direction="out", counterparty_name="Kim Jong Un")
    ordinary = pay("2026-03-02T09:00:00", 3000, direction="out", counterparty_name="Kim Jensen")
    hits = alerts_of(rules, [listed], "tx.sanctioned-counterparty", lists)
    assert len(hits) == 1 and hits[0].finding.inputs["entity_id"]
    assert alerts_of(rules, [ordinary], "tx.sanctioned-counterparty", lists) == []


def test_an_officers_clearance_silences_the_counterparty_for_that_customer_only(
    rules: TransactionRules, lists: ListsScreen, pay: Pay
) -> None:
    listed = lists.open_hits("Kim Jong Un", None, None, 88)[0].entity_id

    def clearance(customer: str, entity: str, _version: str, _details: str | None) -> Any:
        return object() if (customer, entity) == ("C-CLEARED", listed) else None

    with_clearances = ListsScreen(lists._in_force, clearance)
    for owner, expected in (("C-CLEARED", 0), ("C-OTHER", 1)):
        payment = pay(
            "2026-03-02T09:00:00",
            3000,
            direction="out",
            counterparty_name="Kim Jong Un",
            account_owner=owner,
        )
        found = alerts_of(rules, [payment], "tx.sanctioned-counterparty", with_clearances)
        assert len(found) == expected, owner


def test_the_country_comes_from_the_iban_when_not_given(rules: TransactionRules, pay: Pay) -> None:
    to_iran = pay("2026-03-02T09:00:00", 500, counterparty_account="IR062960000000100324200001")
    assert len(alerts_of(rules, [to_iran], "tx.jurisdiction-call-for-action")) == 1


def test_a_currency_without_a_rate_is_an_alert_not_a_silent_pass(
    rules: TransactionRules, pay: Pay
) -> None:
    alerts = alerts_of(rules, [pay("2026-03-02T09:00:00", 900, currency="XAU")], "tx.rate-missing")
    assert len(alerts) == 1 and "no rate from XAU to EUR" in alerts[0].finding.reason


def test_the_same_payment_published_twice_is_counted_once(
    rules: TransactionRules, pay: Pay
) -> None:
    deposits = [pay(f"2026-03-02T{h:02d}:00:00", 9500, channel="cash") for h in (9, 10)]
    account = AccountState()
    for tx in [*deposits, deposits[1]]:
        result = screen(rules, tx, account)
    assert result.duplicate and result.alerts == ()
    assert len(account.entries) == 2
    third = pay("2026-03-02T11:00:00", 9500, channel="cash")
    assert len(alerts_of(rules, [third], "tx.structuring", account=account)) == 1


def test_a_late_payment_counts_in_the_window_of_its_booking_time(
    rules: TransactionRules, pay: Pay
) -> None:
    late = pay("2026-03-02T09:00:00", 9500, channel="cash")
    rest = [pay(f"2026-03-02T{h:02d}:00:00", 9500, channel="cash") for h in (10, 11)]
    alerts = alerts_of(rules, [rest[0], rest[1], late], "tx.structuring")
    assert len(alerts) == 1 and set(alerts[0].finding.transactions) == {"tx-1", "tx-2", "tx-3"}


def test_state_saved_and_restored_decides_as_if_never_saved(
    rules: TransactionRules, pay: Pay
) -> None:
    deposits = [pay(f"2026-03-02T{h:02d}:00:00", 9500, channel="cash") for h in (9, 10, 11)]
    account = AccountState()
    for tx in deposits[:2]:
        screen(rules, tx, account)
        account = AccountState.from_json(account.to_json())
    assert len(alerts_of(rules, deposits[2:], "tx.structuring", account=account)) == 1


def test_history_keeps_only_the_longest_window_and_at_most_max_entries(
    rules: TransactionRules, pay: Pay
) -> None:
    account = AccountState()
    start = pay("2026-01-01T00:00:00", 10).booked_at
    for i in range(MAX_ENTRIES + 50):
        at = (start + timedelta(minutes=i)).isoformat()[:19]
        screen(rules, pay(at, 10), account)
    assert len(account.entries) == MAX_ENTRIES
    screen(rules, pay("2026-02-01T00:00:00", 10), account)
    assert len(account.entries) == 1  # a month later: everything older than 7 days is gone


def test_a_counterparty_screened_again_after_a_new_list_version_is_judged_by_the_new_lists(
    tmp_path: Path,
) -> None:
    v1 = write_version(tmp_path / "v1", [(901, "BLIXQUENT, Zarathustra")])
    v2 = write_version(tmp_path / "v2", [(902, "QUAXWELL, Hieronymus")])
    in_force = [v1]
    screen_ = ListsScreen(lambda: in_force[0])
    for _ in range(2):  # the second time from the cache of v1
        assert [h.entity_id for h in screen_.open_hits("Zarathustra Blixquent", None, None, 88)]
        assert screen_.open_hits("Hieronymus Quaxwell", None, None, 88) == []
    in_force[0] = v2
    assert screen_.open_hits("Zarathustra Blixquent", None, None, 88) == []
    assert screen_.open_hits("Hieronymus Quaxwell", None, None, 88)


def test_a_clearance_given_after_a_counterparty_was_screened_silences_it_next_time(
    lists: ListsScreen,
) -> None:
    cleared: set[str] = set()

    def clearance(customer: str, entity: str, _version: str, _details: str | None) -> Any:
        return object() if (customer, entity) in {("C-1", e) for e in cleared} else None

    officers = ListsScreen(lists._in_force, clearance)
    hits = officers.open_hits("Kim Jong Un", None, "C-1", 88)
    assert hits
    cleared.update(h.entity_id for h in hits)
    assert officers.open_hits("Kim Jong Un", None, "C-1", 88) == []
    assert officers.open_hits("Kim Jong Un", None, "C-2", 88)


def test_screened_counterparty_names_leave_the_cache_within_a_key_lifetime(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A counterparty's name is personal data sealed with the account's key: the plain name
    # kept as a cache key must not outlive an erasure longer than a cached key does.
    from compliance.transactions import sanctions

    clock = [1000.0]
    monkeypatch.setattr(sanctions.time, "monotonic", lambda: clock[0])
    v1 = write_version(tmp_path / "v1", [(901, "BLIXQUENT, Zarathustra")])
    screen_ = ListsScreen(lambda: v1)
    assert screen_.open_hits("Hieronymus Quaxwell", None, None, 88) == []
    assert any("Hieronymus Quaxwell" in key for key in screen_._hits)
    clock[0] += sanctions.HITS_TTL_S - 0.1
    screen_.open_hits("Zarathustra Blixquent", None, None, 88)
    assert any("Hieronymus Quaxwell" in key for key in screen_._hits)  # still within
    clock[0] += 0.2
    assert [h.entity_id for h in screen_.open_hits("Zarathustra Blixquent", None, None, 88)]
    assert not any("Hieronymus Quaxwell" in key for key in screen_._hits)
    assert sanctions.HITS_TTL_S <= sanctions.KEY_CACHE_TTL_S
