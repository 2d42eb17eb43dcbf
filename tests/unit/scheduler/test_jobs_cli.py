"""``compliance jobs list``: the schedule as configured, next fire times in UTC."""

from __future__ import annotations

from pathlib import Path

import pytest

from compliance.cli import main


def test_jobs_list_shows_each_job_its_cron_and_whether_it_is_enabled(
    clean_env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    schedule = tmp_path / "scheduler.yaml"
    schedule.write_text(
        "misfire_grace_s: 600\njobs:\n"
        '  daily-report:\n    cron: "15 1 * * *"\n'
        '  sla-sweep:\n    cron: "*/5 * * * *"\n    enabled: false\n'
    )
    clean_env.setenv("COMPLIANCE_SCHEDULER_FILE", str(schedule))
    assert main(["jobs", "list"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:3] == ["daily-report", "15", "1"]
    assert "next" in out[0] and out[0].endswith(":15 UTC")
    assert out[1].split()[0] == "sla-sweep" and out[1].endswith("disabled")
    assert "misfire grace 600 s" in out[2]


def test_jobs_run_of_an_unconfigured_job_says_which_are_configured(
    clean_env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    schedule = tmp_path / "scheduler.yaml"
    schedule.write_text('jobs:\n  daily-report:\n    cron: "15 1 * * *"\n')
    clean_env.setenv("COMPLIANCE_SCHEDULER_FILE", str(schedule))
    assert main(["jobs", "run", "sla-sweep"]) == 2
    assert "no job 'sla-sweep' in the schedule (configured: daily-report)" in (
        capsys.readouterr().err
    )
