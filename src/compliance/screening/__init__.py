"""Sanctions and PEP screening: list loaders, name matching and an atomically swappable
index. A library: no Kafka, no database; the rules engine and the transaction screener
call it.

    lists = load_directory("/path/to/lists")          # or the load_* function per format
    screener = Screener(lists, is_cleared=clearances.is_cleared)
    hits = screener.screen("Vladimir Putin", dob="1952-10-07", customer_id="c-42")
    screener.load(new_lists)                           # hot swap; ListLoadError keeps old

The modules imported here need no Kafka and no database. Around them, imported explicitly:
``clearance_store`` (the officers' allowlist in PostgreSQL), ``list_store`` (validated list
versions in PostgreSQL), ``list_watcher`` (keeps a running screener on the version in
force), ``live.start_screener`` (both, for a processor), ``rescreen`` and
``customer_source`` (re-screening the audit trail's customers on a list change).
"""

from compliance.screening.config import ScreeningConfig
from compliance.screening.errors import ListLoadError
from compliance.screening.hits import Hit, ScoreBreakdown, TokenMatch
from compliance.screening.index import ListInfo, ScreeningIndex
from compliance.screening.loaders import (
    load_directory,
    load_eu_consolidated,
    load_ofac_consolidated,
    load_ofac_sdn,
    load_opensanctions_ftm,
    load_opensanctions_senzing,
    load_uk_consolidated,
    load_un_consolidated,
    load_us_csl,
)
from compliance.screening.model import (
    Address,
    Alias,
    AliasType,
    DateOfBirth,
    Entity,
    EntityType,
    PartialDate,
    SanctionsList,
    entity_version,
)
from compliance.screening.normalise import normalise_name
from compliance.screening.screener import ClearanceCheck, Screener

__all__ = [
    "Address",
    "Alias",
    "AliasType",
    "ClearanceCheck",
    "DateOfBirth",
    "Entity",
    "EntityType",
    "Hit",
    "ListInfo",
    "ListLoadError",
    "PartialDate",
    "SanctionsList",
    "ScoreBreakdown",
    "Screener",
    "ScreeningConfig",
    "ScreeningIndex",
    "TokenMatch",
    "entity_version",
    "load_directory",
    "load_eu_consolidated",
    "load_ofac_consolidated",
    "load_ofac_sdn",
    "load_opensanctions_ftm",
    "load_opensanctions_senzing",
    "load_uk_consolidated",
    "load_un_consolidated",
    "load_us_csl",
    "normalise_name",
]
