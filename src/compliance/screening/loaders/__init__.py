"""Loaders: each reads one published list format into a ``SanctionsList``."""

from compliance.screening.loaders.bundle import load_directory
from compliance.screening.loaders.csl import load_us_csl
from compliance.screening.loaders.eu import load_eu_consolidated
from compliance.screening.loaders.ofac import load_ofac_consolidated, load_ofac_sdn
from compliance.screening.loaders.opensanctions import (
    load_opensanctions_ftm,
    load_opensanctions_senzing,
)
from compliance.screening.loaders.uk import load_uk_consolidated
from compliance.screening.loaders.un import load_un_consolidated

__all__ = [
    "load_directory",
    "load_eu_consolidated",
    "load_ofac_consolidated",
    "load_ofac_sdn",
    "load_opensanctions_ftm",
    "load_opensanctions_senzing",
    "load_uk_consolidated",
    "load_un_consolidated",
    "load_us_csl",
]
