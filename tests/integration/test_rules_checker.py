"""The checker end to end through the real broker and PostgreSQL: expired passport, wrong MRZ
check digit, a name mismatch across one customer's documents, a withdrawn consent, rules
reloaded on SIGHUP, and a backtest of a changed ruleset; every event audited.

Each test has its own topic prefix (the `settings` fixture) and its own customer ids, so its
rows in the shared audit table and in the checker's state tables are its own.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from confluent_kafka import Producer
from sqlalchemy import Engine, select

from compliance.audit.personal_data import reveal
from compliance.audit.store import audit_events
from compliance.audit.subject_keys import existing_keys
from compliance.codec import registry
from compliance.config import PROJECT_ROOT, Settings
from compliance.events import subject_key
from compliance.rules import load_ruleset
from compliance.rules.backtest import backtest
from compliance.rules.events import consent_event
from compliance.rules.store import consents
from compliance.topics import DOCUMENTS_CLASSIFIED

from .conftest import Processes, processor_env, wait_for
from .test_pipeline import publish

SAMPLES = PROJECT_ROOT / "samples" / "documents"


def audited(engine: Engine, settings: Settings, event_type: str) -> list[dict[str, Any]]:
    """The audited payloads of one event type, personal fields opened."""
    t = audit_events.c
    query = select(t.event_id, t.subject_id, t.payload).where(
        t.topic.startswith(settings.topic_prefix), t.event_type == event_type
    )
    with engine.connect() as conn:
        rows = list(conn.execute(query))
        keys = existing_keys(conn, {subject for _, subject, _ in rows if subject})
    return [reveal(str(e), payload, keys.get(s) if s else None) for e, s, payload in rows]


def results_for(engine: Engine, settings: Settings, document_id: str) -> dict[str, dict[str, Any]]:
    return {
        r["rule_id"]: r
        for r in audited(engine, settings, "CheckResult")
        if r["document_id"] == document_id
    }


def exceptions_for(engine: Engine, settings: Settings, document_id: str) -> dict[str, Any]:
    return {
        e["rule_id"]: e
        for e in audited(engine, settings, "ComplianceException")
        if e["document_id"] == document_id
    }


def checked(engine: Engine, settings: Settings, document_id: str, rules: int) -> bool:
    return len(results_for(engine, settings, document_id)) == rules


def start_pipeline(processes: Processes, **checker_env: str) -> None:
    processes.start("audit-sink")
    processes.start("classifier")
    processes.start("checker", **checker_env)


def customer() -> str:
    return f"C-{uuid.uuid4().hex[:8]}"


def test_expired_passport_and_wrong_mrz_check_digit_fail_are_audited_and_backtest_sees_a_change(
    settings: Settings, processes: Processes, engine: Engine, tmp_path: Path
) -> None:
    started = datetime.now(UTC) - timedelta(minutes=1)
    ruleset = load_ruleset(settings.rules_dir)
    [expired] = publish(settings, [SAMPLES / "passport_icao_specimen_expired.txt"], customer())
    [bad_mrz] = publish(settings, [SAMPLES / "id_card_okafor_bad_check_digit.txt"], customer())
    start_pipeline(processes)
    passport_rules = len(ruleset.for_type("passport"))
    id_rules = len(ruleset.for_type("national_id"))
    wait_for(
        lambda: (
            checked(engine, settings, expired.document_id, passport_rules)
            and checked(engine, settings, bad_mrz.document_id, id_rules)
            and len(audited(engine, settings, "ComplianceException")) >= 2
        ),
        90,
        "both documents checked and audited",
        processes,
    )

    results = results_for(engine, settings, expired.document_id)
    not_expired = results["identity.not-expired"]
    assert not_expired["outcome"] == "fail"
    assert "expired on 2012-04-15" in not_expired["explanation"]
    assert not_expired["inputs"]["expiry_date"] == "2012-04-15"
    assert not_expired["rule_version"] == ruleset.rule("identity.not-expired").full_version
    assert not_expired["envelope"]["ruleset_version"] == ruleset.version
    assert {r: v["outcome"] for r, v in results.items() if r != "identity.not-expired"} == {
        r.id: "pass" for r in ruleset.for_type("passport") if r.id != "identity.not-expired"
    }
    [raised] = exceptions_for(engine, settings, expired.document_id).values()
    assert (raised["rule_id"], raised["kind"], raised["severity"]) == (
        "identity.not-expired",
        "rule_failed",
        "medium",
    )

    mrz = results_for(engine, settings, bad_mrz.document_id)["identity.mrz-check-digits"]
    assert mrz["outcome"] == "fail"
    assert "document_number" in mrz["explanation"]
    raised_mrz = exceptions_for(engine, settings, bad_mrz.document_id)
    assert set(raised_mrz) == {"identity.mrz-check-digits"}
    assert raised_mrz["identity.mrz-check-digits"]["severity"] == "high"

    [announced] = audited(engine, settings, "RulesetChanged")
    assert (announced["version"], announced["reason"], announced["accepted"]) == (
        ruleset.version,
        "start",
        True,
    )

    # Backtest: the same audited documents through a ruleset where expiry only needs review.
    changed = tmp_path / "rules"
    shutil.copytree(settings.rules_dir, changed)
    kyc = changed / "kyc.yaml"
    text = kyc.read_text(encoding="utf-8")
    start = text.index("  - id: identity.not-expired")
    end = text.index("  - id: identity.minimum-age")
    block = text[start:end].replace("on_fail: fail", "on_fail: review")
    kyc.write_text(
        text[:start] + block.replace("expect: fail", "expect: review") + text[end:],
        encoding="utf-8",
    )
    report = backtest(
        engine,
        load_ruleset(changed),
        topic=settings.topic(DOCUMENTS_CLASSIFIED),
        scope=settings.topic_prefix,
        since=started,
    )
    assert report.documents == 2
    assert [(c.document_id, c.rule_id, c.before, c.after) for c in report.changes] == [
        (expired.document_id, "identity.not-expired", "fail", "review")
    ]
    assert report.versions_before == {ruleset.version}
    command = [sys.executable, "-m", "compliance", "rules", "backtest"]
    cli = subprocess.run(
        [*command, "--since", started.isoformat(), "--folder", str(changed)],
        env=processor_env(settings),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert cli.returncode == 0, cli.stderr
    assert "1 of " in cli.stdout and "identity.not-expired: fail -> review: 1" in cli.stdout


def test_a_name_mismatch_between_two_documents_of_one_customer_goes_to_review(
    settings: Settings, processes: Processes, engine: Engine, tmp_path: Path
) -> None:
    who = customer()
    ruleset = load_ruleset(settings.rules_dir)
    start_pipeline(processes)
    [passport] = publish(settings, [SAMPLES / "passport_halvorsen.txt"], who)
    wait_for(
        lambda: checked(engine, settings, passport.document_id, len(ruleset.for_type("passport"))),
        60,
        "the passport checked",
        processes,
    )
    bill = tmp_path / "utility_bill_berg.txt"
    today = datetime.now(UTC).date().isoformat()
    bill.write_text(
        (SAMPLES / "utility_bill_halvorsen.txt")
        .read_text(encoding="utf-8")
        .replace("Ingrid Marie Halvorsen", "Jonas Berg")
        .replace("Bill date: 2026-10-02", f"Bill date: {today}"),
        encoding="utf-8",
    )
    [other] = publish(settings, [bill], who)
    wait_for(
        lambda: checked(
            engine, settings, other.document_id, len(ruleset.for_type("proof_of_address"))
        ),
        60,
        "the bill checked",
        processes,
    )
    first = results_for(engine, settings, passport.document_id)["identity.name-matches-customer"]
    assert first["outcome"] == "pass" and "first document" in first["explanation"]
    result = results_for(engine, settings, other.document_id)["identity.name-matches-customer"]
    assert result["outcome"] == "review"
    assert result["inputs"]["record_document_id"] == passport.document_id
    assert result["inputs"]["record_value"] == "INGRID MARIE HALVORSEN"
    assert "'Jonas Berg' does not match 'INGRID MARIE HALVORSEN'" in result["explanation"]
    wait_for(
        lambda: (
            "identity.name-matches-customer" in exceptions_for(engine, settings, other.document_id)
        ),
        30,
        "the mismatch exception audited",
        processes,
    )
    raised = exceptions_for(engine, settings, other.document_id)
    assert set(raised) == {"identity.name-matches-customer"}
    assert (
        raised["identity.name-matches-customer"]["kind"],
        raised["identity.name-matches-customer"]["severity"],
    ) == ("needs_review", "high")


def test_a_withdrawn_consent_fails_later_processing_for_its_purpose(
    settings: Settings, processes: Processes, engine: Engine
) -> None:
    who = customer()
    now = datetime.now(UTC)
    statements = [
        consent_event(
            consent_id=f"K-{who}",
            customer_id=who,
            purpose="marketing",
            source_system=settings.topic_prefix,
            given_at=now - timedelta(days=60),
            occurred_at=now - timedelta(days=60),
        ),
        consent_event(
            consent_id=f"K-{who}",
            customer_id=who,
            purpose="marketing",
            source_system=settings.topic_prefix,
            withdrawn_at=now - timedelta(minutes=1),
            occurred_at=now - timedelta(minutes=1),
        ),
    ]
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap})
    for out in statements:
        producer.produce(
            settings.topic(out.topic),
            key=subject_key(out.record),
            value=registry().encode(out.event_type, out.record),
        )
    assert producer.flush(10) == 0
    start_pipeline(processes)

    def stored() -> int:
        query = select(consents.c.event_id).where(
            consents.c.scope == settings.topic_prefix, consents.c.customer_id == who
        )
        with engine.connect() as conn:
            return len(list(conn.execute(query)))

    wait_for(lambda: stored() == 2, 60, "the consent statements kept", processes)
    [form] = publish(settings, [SAMPLES / "consent_okafor_marketing.txt"], who)
    rules = len(load_ruleset(settings.rules_dir).for_type("consent_form"))
    wait_for(
        lambda: (
            checked(engine, settings, form.document_id, rules)
            and "gdpr.processing-consent" in exceptions_for(engine, settings, form.document_id)
        ),
        60,
        "the consent form checked",
        processes,
    )
    result = results_for(engine, settings, form.document_id)["gdpr.processing-consent"]
    assert result["outcome"] == "fail"
    assert (
        "consent for 'marketing communications by e-mail' was withdrawn on"
        in (result["explanation"])
    )
    withdrawn: datetime = statements[1].record["withdrawn_at"]
    recorded = datetime.fromisoformat(result["inputs"]["withdrawn_at"])
    assert recorded == withdrawn.replace(microsecond=withdrawn.microsecond // 1000 * 1000)
    raised = exceptions_for(engine, settings, form.document_id)["gdpr.processing-consent"]
    assert (raised["kind"], raised["severity"]) == ("rule_failed", "high")
    wait_for(
        lambda: len(audited(engine, settings, "ConsentRecorded")) == 2,
        30,
        "the consent statements audited",
        processes,
    )


def test_rules_reload_on_sighup_is_audited_and_decides_later_documents(
    settings: Settings, processes: Processes, engine: Engine, tmp_path: Path
) -> None:
    folder = tmp_path / "rules"
    shutil.copytree(settings.rules_dir, folder)
    before = load_ruleset(folder)
    start_pipeline(
        processes, COMPLIANCE_RULES_DIR=str(folder), COMPLIANCE_RULES_RELOAD_INTERVAL_S="0"
    )
    wait_for(
        lambda: len(audited(engine, settings, "RulesetChanged")) == 1,
        30,
        "the start announced",
        processes,
    )
    kyc = folder / "kyc.yaml"
    kyc.write_text(
        kyc.read_text(encoding="utf-8").replace(
            "message: Identity document expired", "message: Identity document out of date"
        ),
        encoding="utf-8",
    )
    after = load_ruleset(folder)
    processes.running["checker"].send_signal(signal.SIGHUP)

    def announced() -> list[dict[str, Any]]:
        return [r for r in audited(engine, settings, "RulesetChanged") if r["reason"] == "signal"]

    wait_for(lambda: len(announced()) == 1, 30, "the reload announced", processes)
    [change] = announced()
    assert (change["previous_version"], change["version"], change["accepted"]) == (
        before.version,
        after.version,
        True,
    )
    assert change["changed"] == ["identity.not-expired"]
    assert (
        change["rules"]["identity.not-expired"] == after.rule("identity.not-expired").full_version
    )

    (folder / "broken.yaml").write_text("rules:\n  - id: broken\n", encoding="utf-8")
    processes.running["checker"].send_signal(signal.SIGHUP)
    wait_for(lambda: len(announced()) == 2, 30, "the rejected reload announced", processes)
    [rejected] = [r for r in announced() if not r["accepted"]]
    assert rejected["version"] == after.version and "broken.yaml" in rejected["error"]

    [doc] = publish(settings, [SAMPLES / "passport_icao_specimen_expired.txt"], customer())
    rules = len(after.for_type("passport"))
    wait_for(lambda: checked(engine, settings, doc.document_id, rules), 60, "checked", processes)
    result = results_for(engine, settings, doc.document_id)["identity.not-expired"]
    assert result["envelope"]["ruleset_version"] == after.version
    assert result["explanation"].startswith("Identity document out of date")
