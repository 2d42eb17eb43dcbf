"""The pictures of a transaction-monitoring case: geometry of the timeline and the
counterparty graph, and that labels from payments stay text when drawn."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace

from compliance.review.charts import (
    Payment,
    counterparty_graph,
    payments_of,
    timeline,
)
from compliance.review.templating import environment

START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def pay(minutes: int, amount: str, direction: str, party: str) -> Payment:
    return Payment(START + timedelta(minutes=minutes), Decimal(amount), "EUR", direction, party)  # type: ignore[arg-type]


def test_money_in_is_drawn_above_the_line_money_out_below_in_time_order() -> None:
    drawn = timeline([pay(60, "24000", "out", "B"), pay(0, "25000", "in", "A")])
    first, second = drawn.bars
    assert first.x == drawn.left and second.x == drawn.right
    assert first.direction == "in" and first.y2 < drawn.axis_y
    assert second.direction == "out" and second.y2 > drawn.axis_y
    assert abs(drawn.axis_y - second.y2) < abs(drawn.axis_y - first.y2)


def test_fan_in_shows_one_node_per_sender_with_arrows_into_the_account() -> None:
    senders = [pay(i, "900", "in", f"sender {i}") for i in range(6)]
    graph = counterparty_graph([*senders, pay(10, "5000", "out", "mule")])
    assert len(graph.nodes) == 7
    into = [e for e in graph.edges if e.direction == "in"]
    assert len(into) == 6
    out = next(e for e in graph.edges if e.direction == "out")
    assert out.width > max(e.width for e in into)


def test_payments_are_read_from_the_case_view_with_iso_or_epoch_booking_times() -> None:
    view = SimpleNamespace(
        transactions=[
            SimpleNamespace(booked_at="2026-12-01T09:00:00+00:00", amount="10.50",
                            currency="EUR", direction="in", counterparty="Acme",
                            counterparty_account=None),
            SimpleNamespace(booked_at=str(int(START.timestamp() * 1000)), amount="3",
                            currency="EUR", direction="out", counterparty=None,
                            counterparty_account="NL91ABNA0417164300"),
            SimpleNamespace(booked_at="not a time", amount="1", currency="EUR",
                            direction="in", counterparty="x", counterparty_account=None),
        ]
    )  # fmt: skip
    found = payments_of(view)
    assert [p.amount for p in found] == [Decimal("10.50"), Decimal("3")]
    assert found[1].counterparty == "NL91ABNA0417164300" and found[1].at == START


def test_a_counterparty_named_with_markup_is_drawn_as_text() -> None:
    hostile = "<script>alert(1)</script>"
    payments = [pay(0, "100", "in", hostile), pay(5, "90", "out", "B")]
    html = (
        environment()
        .get_template("_charts.html")
        .render(timeline=timeline(payments), graph=counterparty_graph(payments))
    )
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
