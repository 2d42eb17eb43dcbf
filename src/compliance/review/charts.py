"""Pictures of a transaction-monitoring case, drawn on the server as SVG (no script): the
account's payments in the alert's window on a timeline (money in above the line, out below,
bar length by amount), and its counterparties as a small graph around the account (arrows
in and out, width by total amount), so fan-in, fan-out and rapid movement show at a glance.

This module computes the geometry only; the template draws it, escaping every label."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

Direction = Literal["in", "out"]
WIDTH = 760
TIMELINE_HEIGHT = 220
GRAPH_SIZE = 420
MAX_COUNTERPARTIES = 16


@dataclass(frozen=True)
class Payment:
    at: datetime
    amount: Decimal
    currency: str
    direction: Direction
    counterparty: str


@dataclass(frozen=True)
class Bar:
    x: float
    y1: float
    y2: float
    direction: Direction
    title: str


@dataclass(frozen=True)
class Timeline:
    width: int
    height: int
    axis_y: float
    left: float
    right: float
    bars: list[Bar]
    start_label: str
    end_label: str
    max_label: str


@dataclass(frozen=True)
class Node:
    x: float
    y: float
    label: str
    title: str
    label_y: float = 0.0  # below a node in the lower half, above one in the upper half


@dataclass(frozen=True)
class Edge:
    x1: float
    y1: float
    x2: float
    y2: float
    width: float
    direction: Direction
    title: str


@dataclass(frozen=True)
class Graph:
    size: int
    centre: Node
    nodes: list[Node]
    edges: list[Edge]


def _money(amount: Decimal, currency: str) -> str:
    return f"{amount:,.2f} {currency}"


def _stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M")


def timeline(payments: list[Payment]) -> Timeline:
    ordered = sorted(payments, key=lambda p: p.at)
    left, right, axis = 60.0, WIDTH - 20.0, TIMELINE_HEIGHT / 2
    first, last = ordered[0].at, ordered[-1].at
    span = max((last - first).total_seconds(), 1.0)
    largest = max(p.amount for p in ordered) or Decimal(1)
    reach = axis - 24
    bars = []
    for p in ordered:
        x = left + (right - left) * (p.at - first).total_seconds() / span
        length = max(3.0, reach * float(p.amount / largest))
        y2 = axis - length if p.direction == "in" else axis + length
        word = "from" if p.direction == "in" else "to"
        title = f"{_stamp(p.at)}  {_money(p.amount, p.currency)} {word} {p.counterparty}"
        bars.append(Bar(round(x, 1), axis, round(y2, 1), p.direction, title))
    return Timeline(
        WIDTH,
        TIMELINE_HEIGHT,
        axis,
        left,
        right,
        bars,
        _stamp(first),
        _stamp(last),
        _money(largest, ordered[0].currency),
    )


def counterparty_graph(payments: list[Payment]) -> Graph:
    totals: dict[tuple[str, Direction], Decimal] = defaultdict(Decimal)
    counts: dict[tuple[str, Direction], int] = defaultdict(int)
    for p in payments:
        totals[(p.counterparty, p.direction)] += p.amount
        counts[(p.counterparty, p.direction)] += 1
    by_party: dict[str, Decimal] = defaultdict(Decimal)
    for (party, _), amount in totals.items():
        by_party[party] += amount
    parties = sorted(by_party, key=lambda name: (-by_party[name], name))[:MAX_COUNTERPARTIES]
    half = GRAPH_SIZE / 2
    ring = half - 70
    centre = Node(half, half, "account", "the account of this case")
    largest = max(totals.values()) or Decimal(1)
    currency = payments[0].currency
    nodes: list[Node] = []
    edges: list[Edge] = []
    for index, party in enumerate(parties):
        angle = 2 * math.pi * index / len(parties) - math.pi / 2
        x, y = half + ring * math.cos(angle), half + ring * math.sin(angle)
        label_y = y + 24 if y >= half else y - 16
        nodes.append(Node(round(x, 1), round(y, 1), party[:22], party, round(label_y, 1)))
        directions: tuple[Direction, ...] = ("in", "out")
        for direction in directions:
            key = (party, direction)
            if key not in totals:
                continue
            width = 1.5 + 6 * float(totals[key] / largest)
            tail, head = ((x, y), (half, half)) if direction == "in" else ((half, half), (x, y))
            (x1, y1), (x2, y2) = _shorten(tail, head, 18)
            word = "from" if direction == "in" else "to"
            title = f"{counts[key]} payment(s), {_money(totals[key], currency)} {word} {party}"
            ends = (round(x1, 1), round(y1, 1), round(x2, 1), round(y2, 1))
            edges.append(Edge(*ends, round(width, 1), direction, title))
    return Graph(GRAPH_SIZE, centre, nodes, edges)


def _shorten(
    tail: tuple[float, float], head: tuple[float, float], by: float
) -> tuple[tuple[float, float], tuple[float, float]]:
    """The segment from tail to head with ``by`` taken off both ends (room for the dots)."""
    dx, dy = head[0] - tail[0], head[1] - tail[1]
    length = math.hypot(dx, dy) or 1.0
    ux, uy = dx / length, dy / length
    return (tail[0] + ux * by, tail[1] + uy * by), (head[0] - ux * by, head[1] - uy * by)


def payments_of(view: Any) -> list[Payment]:
    """The payments behind a transaction-monitoring case's alerts, as the case view lists
    them (``compliance.cases.queries.TransactionView``; none for other categories)."""
    found = []
    for tx in getattr(view, "transactions", None) or []:
        at = _instant(tx.booked_at)
        try:
            amount = Decimal(str(tx.amount))
        except ArithmeticError:
            continue
        if at is None or not amount.is_finite():
            continue
        direction: Direction = "in" if str(tx.direction).lower() == "in" else "out"
        party = tx.counterparty or tx.counterparty_account or "(unknown)"
        found.append(Payment(at, abs(amount), str(tx.currency), direction, str(party)))
    return found


def _instant(value: object) -> datetime | None:
    """A booking time as the audit trail keeps it: ISO 8601 text, or epoch milliseconds."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, int | float) or (isinstance(value, str) and value.isdigit()):
        moment = datetime.fromtimestamp(int(value) / 1000, UTC)
    else:
        try:
            moment = datetime.fromisoformat(str(value))
        except ValueError:
            return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
