"""The parties every SAR names, from the configuration file (``COMPLIANCE_SAR_CONFIG_FILE``,
config/sar.yaml): the transmitter and its contact, the filing institution, its contact office
and, if another, the institution where the activity occurred."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

from compliance.errors import ConfigurationError
from compliance.reports.sar_model import SarParties


def load_sar_parties(path: Path) -> SarParties:
    """The parties in ``path``; a missing or wrong field stops with one sentence naming it."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigurationError(f"cannot read the SAR configuration {path}: {exc}") from None
    try:
        return SarParties.model_validate(document)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigurationError(f"{path}: {problems}") from None
