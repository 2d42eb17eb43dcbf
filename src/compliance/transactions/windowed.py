"""Rules over a window of an account's history, ending at the transaction screened.

Each reads ``seen.account`` (the account's recent transactions, this one included) and
names every transaction that made it fire. Windows are by booking time, so a replay of last
year's payments decides as the live stream did.
"""

from __future__ import annotations

from decimal import Decimal
from functools import cached_property

from pydantic import Field, field_validator

from compliance.transactions.account import DAY_MS, Entry, day_of
from compliance.transactions.findings import Finding, Seen, duration_ms, ids, money
from compliance.transactions.stateless import Params


class WindowParams(Params):
    window: str = Field(description="How far back the rule looks, e.g. 24h or 7d")

    @field_validator("window")
    @classmethod
    def _is_duration(cls, value: str) -> str:
        duration_ms(value)
        return value

    @cached_property
    def window_ms(self) -> int:
        return duration_ms(self.window)

    def entries(self, seen: Seen) -> list[Entry]:
        return seen.window(self.window_ms)


class StructuringParams(WindowParams):
    channels: frozenset[str] = frozenset({"cash"})
    direction: str = "in"
    threshold: Decimal = Field(gt=0, description="The reporting threshold being avoided")
    below_pct: Decimal = Field(
        Decimal(15), gt=0, lt=100, description="Amounts this close below it count"
    )
    min_count: int = Field(3, ge=2)

    @cached_property
    def band(self) -> tuple[float, float]:
        """The amounts that count, ``[low, high)``, in the reporting currency."""
        return float(self.threshold * (1 - self.below_pct / 100)), float(self.threshold)


def structuring(params: StructuringParams, seen: Seen) -> Finding | None:
    """Several amounts just under a reporting threshold within the window."""
    low, high = params.band
    channels, direction = params.channels, params.direction

    def is_near(e: Entry) -> bool:
        return e.channel in channels and e.direction == direction and low <= e.amount < high

    if not is_near(seen.entry):  # the pattern is judged on the transaction that is part of it
        return None
    near = [e for e in params.entries(seen) if is_near(e)]
    if len(near) < params.min_count or seen.entry not in near:
        return None
    total = sum(e.amount for e in near)
    cur = seen.reporting_currency
    return Finding(
        ids(near),
        f"{len(near)} {'/'.join(sorted(params.channels))} amounts between {money(low, cur)} "
        f"and {money(high, cur)} within {params.window} (together {money(total, cur)}): "
        f"possibly structured to stay under the {money(high, cur)} threshold",
        {"count": str(len(near)), "total": f"{total:.2f}", "window": params.window},
    )


class VelocityParams(WindowParams):
    baseline_days: int = Field(30, ge=2, le=366)
    min_history_days: int = Field(7, ge=1)
    factor: float = Field(5.0, gt=1, description="How many times the usual is unusual")
    min_count: int = Field(10, ge=1, description="Fewer transactions never alert on count")
    min_sum: Decimal = Field(Decimal(10_000), ge=0, description="Nor a smaller sum on sum")


def _baseline(params: VelocityParams, seen: Seen) -> tuple[float, float, int] | None:
    """The account's average per window (count, sum) over the baseline days before the
    window, and the days it covers; None while the account is too new to have one."""
    window_start = seen.entry.booked_ms - params.window_ms
    first = seen.account.first_ms if seen.account.first_ms is not None else window_start
    days = min(params.baseline_days, (window_start - first) // DAY_MS)
    if days < params.min_history_days:
        return None
    first_day, last_day = day_of(window_start - days * DAY_MS), day_of(window_start)
    past = [v for d, v in seen.account.days.items() if first_day <= d < last_day]
    per_window = params.window_ms / DAY_MS / days
    return (
        sum(v[0] for v in past) * per_window,
        sum(v[1] for v in past) * per_window,
        int(days),
    )


def velocity(params: VelocityParams, seen: Seen) -> Finding | None:
    """The count or sum in the window is many times the account's own usual."""
    baseline = _baseline(params, seen)
    if baseline is None:
        return None
    usual_count, usual_sum, days = baseline
    window = params.entries(seen)
    count, total = len(window), sum(e.amount for e in window)
    by_count = count >= params.min_count and count > params.factor * max(usual_count, 1.0)
    by_sum = total >= float(params.min_sum) and total > params.factor * max(usual_sum, 1.0)
    if not (by_count or by_sum):
        return None
    cur = seen.reporting_currency
    what = " and ".join(
        part
        for part, hit in (
            (f"{count} transactions (usually {usual_count:.1f})", by_count),
            (f"{money(total, cur)} (usually {money(usual_sum, cur)})", by_sum),
        )
        if hit
    )
    return Finding(
        ids(window),
        f"{what} within {params.window}, over {params.factor:g} times the account's average "
        f"of the previous {days} days",
        {
            "count": str(count),
            "total": f"{total:.2f}",
            "usual_count": f"{usual_count:.2f}",
            "usual_total": f"{usual_sum:.2f}",
            "baseline_days": str(days),
        },
    )


class CounterpartiesParams(WindowParams):
    min_counterparties: int = Field(5, ge=2)
    min_total: Decimal = Field(Decimal(0), ge=0)


def _many_counterparties(
    params: CounterpartiesParams, seen: Seen, direction: str
) -> Finding | None:
    if seen.entry.direction != direction:
        return None
    window = [e for e in params.entries(seen) if e.direction == direction and e.counterparty]
    parties = {e.counterparty for e in window}
    total = sum(e.amount for e in window)
    if len(parties) < params.min_counterparties or total < float(params.min_total):
        return None
    side = "from" if direction == "in" else "to"
    return Finding(
        ids(window),
        f"{len(window)} payments {side} {len(parties)} different counterparties within "
        f"{params.window}, together {money(total, seen.reporting_currency)}",
        {"counterparties": str(len(parties)), "total": f"{total:.2f}", "window": params.window},
    )


def fan_in(params: CounterpartiesParams, seen: Seen) -> Finding | None:
    """Money comes in from many distinct counterparties within the window."""
    return _many_counterparties(params, seen, "in")


def fan_out(params: CounterpartiesParams, seen: Seen) -> Finding | None:
    """Money goes out to many distinct counterparties within the window."""
    return _many_counterparties(params, seen, "out")


class RapidMovementParams(WindowParams):
    min_amount: Decimal = Field(gt=0, description="Inflows below this are not considered")
    out_share_pct: Decimal = Field(
        Decimal(80), gt=0, le=100, description="Share of the inflow leaving again"
    )


def rapid_movement(params: RapidMovementParams, seen: Seen) -> Finding | None:
    """Money comes in and most of it leaves again within the window (pass-through)."""
    if seen.entry.direction != "out":
        return None
    window = params.entries(seen)
    inflows = [e for e in window if e.direction == "in"]
    came_in = sum(e.amount for e in inflows)
    if not inflows or came_in < float(params.min_amount):
        return None
    first_in = inflows[0].booked_ms
    outflows = [e for e in window if e.direction == "out" and e.booked_ms >= first_in]
    went_out = sum(e.amount for e in outflows)
    if went_out < came_in * float(params.out_share_pct) / 100:
        return None
    cur = seen.reporting_currency
    return Finding(
        ids(inflows) + ids(outflows),
        f"{money(came_in, cur)} came in and {money(went_out, cur)} "
        f"({went_out / came_in:.0%}) left again within {params.window}",
        {"in": f"{came_in:.2f}", "out": f"{went_out:.2f}", "window": params.window},
    )


class RoundAmountsParams(WindowParams):
    multiple: Decimal = Field(Decimal(1000), gt=0)
    min_amount: Decimal = Field(Decimal(5000), ge=0)
    min_count: int = Field(3, ge=1)


def _round(entry: Entry, params: RoundAmountsParams) -> bool:
    return (
        entry.original_amount >= float(params.min_amount)
        and Decimal(str(entry.original_amount)) % params.multiple == 0
    )


def round_amounts(params: RoundAmountsParams, seen: Seen) -> Finding | None:
    """Several large round amounts within the window."""
    if not _round(seen.entry, params):
        return None
    rounds = [e for e in params.entries(seen) if _round(e, params)]
    if len(rounds) < params.min_count:
        return None
    return Finding(
        ids(rounds),
        f"{len(rounds)} round amounts (multiples of {params.multiple:,}, at least "
        f"{params.min_amount:,}) within {params.window}",
        {"count": str(len(rounds)), "multiple": str(params.multiple), "window": params.window},
    )
