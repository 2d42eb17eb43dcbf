"""Load every list found in a directory, recognised by the file names lists are published
(or bundled in this project) under."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from compliance.screening.loaders.csl import load_us_csl
from compliance.screening.loaders.eu import load_eu_consolidated
from compliance.screening.loaders.ofac import load_ofac_consolidated, load_ofac_sdn
from compliance.screening.loaders.opensanctions import (
    load_opensanctions_ftm,
    load_opensanctions_senzing,
)
from compliance.screening.loaders.uk import load_uk_consolidated
from compliance.screening.loaders.un import load_un_consolidated
from compliance.screening.model import SanctionsList


def _first(directory: Path, *names: str) -> Path | None:
    return next((directory / n for n in names if (directory / n).is_file()), None)


def _ofac(directory: Path, prefix: str, primary: str, loader: Callable[..., SanctionsList],
          comments: str) -> SanctionsList | None:  # fmt: skip
    main = _first(directory, primary, f"ofac_{primary}")
    if main is None:
        return None
    parts = [_first(directory, f"{prefix}{p}.csv", f"ofac_{prefix}{p}.csv") for p in ("alt", "add")]
    return loader(main, parts[0], parts[1], _first(directory, comments, f"ofac_{comments}"))


def load_directory(directory: str | Path) -> list[SanctionsList]:
    """Every recognised list in ``directory``; a broken file raises ListLoadError."""
    directory = Path(directory)
    lists: list[SanctionsList] = []
    for found in (
        _ofac(directory, "", "sdn.csv", load_ofac_sdn, "sdn_comments.csv"),
        _ofac(directory, "cons_", "cons_prim.csv", load_ofac_consolidated, "cons_comments.csv"),
    ):
        if found is not None:
            lists.append(found)
    single: list[tuple[tuple[str, ...], Callable[[Path], SanctionsList]]] = [
        (("un_consolidated.xml", "consolidated.xml"), load_un_consolidated),
        (("eu_consolidated.xml", "xmlFullSanctionsList_1_1.xml"), load_eu_consolidated),
        (("ConList.csv", "ConList.xml", "uk_consolidated.csv", "uk_consolidated.xml"),
         load_uk_consolidated),
        (("us_csl.csv", "consolidated_screening_list.csv"), load_us_csl),
    ]  # fmt: skip
    for names, loader in single:
        if (path := _first(directory, *names)) is not None:
            lists.append(loader(path))
    for path in sorted(directory.glob("*senzing*.json")):
        lists.append(load_opensanctions_senzing(path))
    for pattern in ("*.ftm.json", "*.ftm.jsonl", "*ftm*.jsonl"):
        for path in sorted(directory.glob(pattern)):
            if all(str(path) not in lst.files for lst in lists):
                lists.append(load_opensanctions_ftm(path))
    return lists
