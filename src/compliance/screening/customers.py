"""The customer side of screening: what was screened about a customer, and its version.

A clearance holds "until the entity or the customer changes". The entity's version is
``entity_version``; the customer's is ``customer_version``: a hash of the customer's
screened details (name, date of birth, countries) after normalisation, so that writing the
same name differently ("PUTIN, Vladimir" / "Vladimir Putin") is no change, while a new
name, birth date or nationality is.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from compliance.screening.countries import normalise_country
from compliance.screening.dates import coerce_query_date
from compliance.screening.model import PartialDate
from compliance.screening.normalise import normalise_name


@dataclass(frozen=True, slots=True)
class CustomerProfile:
    """A customer's details as screened: the full name, date of birth and countries."""

    customer_id: str
    name: str
    dob: str | None = None
    countries: tuple[str, ...] = ()

    @property
    def version(self) -> str:
        return customer_version(self.name, self.dob, self.countries)


def customer_version(
    name: str,
    dob: str | date | PartialDate | None = None,
    countries: Sequence[str] = (),
) -> str:
    """A stable hash of the customer's screened details (see the module docstring)."""
    # every word as the screener reads a name of unknown kind (a surname spelt like a legal
    # form, "Sabrina Sá", is part of the name: changing it lapses the clearance)
    tokens = " ".join(sorted(normalise_name(name, legal_forms=False)))
    query_dob = coerce_query_date(dob)
    codes = ",".join(sorted({normalise_country(c) for c in countries if c.strip()}))
    text = f"{tokens}\x1f{query_dob or ''}\x1f{codes}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
