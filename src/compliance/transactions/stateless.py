"""Rules that judge one transaction alone: sanctioned counterparties, high-risk
jurisdictions, large single amounts per channel and currency."""

from __future__ import annotations

from decimal import Decimal
from functools import cached_property

from pydantic import BaseModel, ConfigDict, Field

from compliance.transactions.findings import Finding, Seen, money


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SanctionsParams(Params):
    threshold: float = Field(88.0, gt=0, le=100)


def counterparty_sanctions(params: SanctionsParams, seen: Seen) -> Finding | None:
    tx = seen.tx
    if not tx.counterparty_name or seen.sanctions is None:
        return None
    hits = seen.sanctions.open_hits(
        tx.counterparty_name, seen.country, tx.account_owner, params.threshold
    )
    if not hits:
        return None
    best = hits[0]
    side = "to" if tx.direction == "out" else "from"
    return Finding(
        (tx.transaction_id,),
        f"payment {side} a counterparty whose name matches listed "
        f"{best.entity_type.value} {best.entity_name!r} ({best.source}, score {best.score:g}"
        f"{', programs ' + '; '.join(best.programs) if best.programs else ''})",
        {
            "counterparty_name": tx.counterparty_name,
            "matched_name": best.matched_name,
            "entity_id": best.entity_id,
            "entity_version": best.entity_version,
            "score": f"{best.score:g}",
            "list": seen.sanctions.source,
            "other_hits": ", ".join(h.entity_id for h in hits[1:]) or None,
        },
    )


class JurisdictionParams(Params):
    list_name: str = Field(description="The list's name, as written in the alert")
    published: str = Field(description="When the list was published (the date it was taken)")
    countries: frozenset[str] = Field(description="ISO 3166 alpha-2 codes")


def jurisdiction(params: JurisdictionParams, seen: Seen) -> Finding | None:
    country = seen.country
    if country is None or country not in params.countries:
        return None
    side = "to" if seen.tx.direction == "out" else "from"
    return Finding(
        (seen.tx.transaction_id,),
        f"payment {side} {country}, on the {params.list_name} (published {params.published})",
        {"counterparty_country": country, "list": params.list_name, "published": params.published},
    )


class Threshold(Params):
    channel: str = "*"  # a channel, or * for any
    currency: str | None = None  # compare in this currency (its own amount); None: reporting
    at_least: Decimal = Field(gt=0)


class LargeAmountParams(Params):
    thresholds: tuple[Threshold, ...] = Field(min_length=1)

    @cached_property
    def _chosen(self) -> dict[tuple[str, str], Threshold | None]:
        return {}

    def threshold_for(self, channel: str, currency: str) -> Threshold | None:
        """The most specific threshold: channel and currency, then channel, then any
        (chosen once per channel and currency)."""
        key = (channel, currency)
        chosen = self._chosen
        if key not in chosen:
            if len(chosen) > 4096:  # channels and currencies are few; bound it anyway
                chosen.clear()
            chosen[key] = _most_specific(self.thresholds, channel, currency)
        return chosen[key]


def _most_specific(
    thresholds: tuple[Threshold, ...], channel: str, currency: str
) -> Threshold | None:
    ranked = sorted(
        (t for t in thresholds if t.channel in (channel, "*")),
        key=lambda t: (t.channel == channel, t.currency == currency),
        reverse=True,
    )
    for threshold in ranked:
        if threshold.currency in (None, currency):
            return threshold
    return None


def large_amount(params: LargeAmountParams, seen: Seen) -> Finding | None:
    tx = seen.tx
    threshold = params.threshold_for(tx.channel, tx.currency)
    if threshold is None:
        return None
    if threshold.currency is None:
        amount, currency = seen.amount, seen.reporting_currency
    else:
        amount, currency = tx.amount, tx.currency
    if amount is None or amount < threshold.at_least:
        return None
    return Finding(
        (tx.transaction_id,),
        f"single {tx.channel} payment of {money(amount, currency)} reaches the "
        f"{money(threshold.at_least, currency)} threshold for {tx.channel} payments",
        {"amount": str(amount), "currency": currency, "threshold": str(threshold.at_least)},
    )
