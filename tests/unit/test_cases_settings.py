"""The cases processor's sweep interval is a setting, read from its environment variable."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from compliance.config import Settings


def test_the_sweep_interval_defaults_to_30_s_and_is_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("COMPLIANCE_CASES_SWEEP_INTERVAL_S", raising=False)
    assert Settings().cases_sweep_interval_s == 30.0
    monkeypatch.setenv("COMPLIANCE_CASES_SWEEP_INTERVAL_S", "0.5")
    assert Settings().cases_sweep_interval_s == 0.5
    monkeypatch.setenv("COMPLIANCE_CASES_SWEEP_INTERVAL_S", "0")
    assert Settings().cases_sweep_interval_s == 0.0  # no sweep in the processor


def test_a_negative_sweep_interval_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMPLIANCE_CASES_SWEEP_INTERVAL_S", "-1")
    with pytest.raises(ValidationError, match="cases_sweep_interval_s"):
        Settings()
