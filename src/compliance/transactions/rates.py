"""Exchange rates to the reporting currency, from a YAML table the operator keeps.

Rules compare amounts in one currency (``reporting_currency``); each transaction's amount is
converted with the table's rate for its currency. The table says which day its rates are of.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml

from compliance.errors import ConfigurationError

CENT = Decimal("0.01")


@dataclass(frozen=True)
class RateTable:
    reporting_currency: str
    as_of: str
    rates: dict[str, Decimal]  # units of the reporting currency for one unit of the currency

    def to_reporting(self, amount: Decimal, currency: str) -> Decimal | None:
        """The amount in the reporting currency, to the cent; None without a rate."""
        if currency == self.reporting_currency:
            return amount
        rate = self.rates.get(currency)
        return None if rate is None else (amount * rate).quantize(CENT)


def rate_table(document: Any, where: Path) -> RateTable:
    if not isinstance(document, dict) or not isinstance(document.get("rates"), dict):
        raise ConfigurationError(f"{where}: expected reporting_currency, as_of and rates")
    try:
        rates = {str(c).upper(): Decimal(str(r)) for c, r in document["rates"].items()}
    except InvalidOperation:
        raise ConfigurationError(f"{where}: every rate must be a decimal number") from None
    if any(r <= 0 for r in rates.values()):
        raise ConfigurationError(f"{where}: every rate must be positive")
    return RateTable(
        reporting_currency=str(document.get("reporting_currency", "EUR")).upper(),
        as_of=str(document.get("as_of", "")),
        rates=rates,
    )


def load_rates(path: Path) -> RateTable:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigurationError(f"cannot read the rate table {path}: {exc}") from None
    return rate_table(document, path)
