"""Fixtures of the transaction rule tests: the shipped rules (rules/transactions) and the
bundled sanctions lists, loaded once; payments are built with ``pay``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from compliance.config import PROJECT_ROOT
from compliance.transactions.model import Transaction
from compliance.transactions.ruleset import TransactionRules, load_transaction_rules
from compliance.transactions.sanctions import ListsScreen, folder_screen

Pay = Callable[..., Transaction]


@pytest.fixture(scope="session")
def rules() -> TransactionRules:
    return load_transaction_rules(PROJECT_ROOT / "rules" / "transactions")


@pytest.fixture(scope="session")
def lists() -> ListsScreen:
    return folder_screen(PROJECT_ROOT / "rules" / "watchlists")


@pytest.fixture
def pay() -> Pay:
    """``pay("2026-03-02 09:05", 9500, channel="cash")``: one payment on account ACC-1."""
    numbers = iter(range(1, 10_000))

    def make(at: str, amount: float | str, **fields: Any) -> Transaction:
        values: dict[str, Any] = {
            "transaction_id": f"tx-{next(numbers)}",
            "booked_at": datetime.fromisoformat(at).replace(tzinfo=UTC),
            "amount": Decimal(str(amount)),
            "currency": "EUR",
            "direction": "in",
            "account_id": "ACC-1",
            "channel": "wire",
        }
        values.update(fields)
        return Transaction(**values)

    return make
