"""The notifier's routes, masking, messages and back-off: no broker, no database (the outbox
and the end-to-end behaviour are in tests/integration/test_notifier.py)."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest

from compliance.config import PROJECT_ROOT
from compliance.errors import ConfigurationError
from compliance.notify.backoff import backoff_s, next_wait_s, retry_after_s
from compliance.notify.delivery import verdict_of
from compliance.notify.dispatcher import decide
from compliance.notify.notice import build_notice, open_notice
from compliance.notify.routes import RouteConfig, load_routes, parse_routes
from compliance.notify.slack import slack_message
from compliance.notify.store import DELIVERED, FAILED, PENDING, Claimed
from compliance.notify.teams import CARD_TYPE, teams_message
from compliance.sealing import is_sealed
from tests.support.exception_events import DOCUMENT_NUMBER, HOLDER, rule_exception

from .test_sealing import DictKeyring

SLACK = "https://hooks.slack.example/services/T000/B000/secret-token"
ROUTES = """
routes:
  - name: sanctions-slack
    kind: slack
    webhook_url_env: SANCTIONS_URL
    severities: [high, critical]
    categories: [sanctions]
  - name: everything-teams
    kind: teams
    webhook_url_env: TEAMS_URL
"""
ENV = {"SANCTIONS_URL": SLACK, "TEAMS_URL": "https://example.webhook.office.com/x"}


def route(**fields: Any) -> RouteConfig:
    return RouteConfig(name="r", kind="slack", webhook_url_env="URL", **fields)


# --- routes -----------------------------------------------------------------------------


def test_a_route_takes_only_its_severities_and_categories() -> None:
    routes = parse_routes(ROUTES, "test", ENV)
    assert [r.name for r in routes.matching("high", "sanctions")] == [
        "sanctions-slack",
        "everything-teams",
    ]
    assert [r.name for r in routes.matching("medium", "sanctions")] == ["everything-teams"]
    assert [r.name for r in routes.matching("critical", "kyc")] == ["everything-teams"]


def test_a_route_whose_variable_is_unset_stops_start_up_naming_the_variable() -> None:
    with pytest.raises(ConfigurationError, match="TEAMS_URL is not set") as caught:
        parse_routes(ROUTES, "test", {"SANCTIONS_URL": SLACK})
    assert "everything-teams" in str(caught.value)


def test_a_variable_that_holds_no_url_is_refused_without_repeating_its_value() -> None:
    with pytest.raises(ConfigurationError, match="does not hold an http") as caught:
        parse_routes(ROUTES, "test", {**ENV, "TEAMS_URL": "hunter2-not-a-url"})
    assert "hunter2" not in str(caught.value)


def test_an_http_webhook_url_is_refused_outside_development_mode_naming_the_variable() -> None:
    plain = {**ENV, "TEAMS_URL": "http://example.webhook.office.com/x-secret"}
    with pytest.raises(ConfigurationError, match="https only") as caught:
        parse_routes(ROUTES, "test", plain)
    assert "TEAMS_URL" in str(caught.value) and "COMPLIANCE_DEVELOPMENT_MODE" in str(caught.value)
    assert "x-secret" not in str(caught.value)
    allowed = parse_routes(ROUTES, "test", plain, allow_http=True)  # a developer's stand-in
    assert allowed.routes[1].url.get_secret_value().startswith("http://")


def test_the_url_is_a_secret_that_never_shows_when_printed() -> None:
    routes = parse_routes(ROUTES, "test", ENV)
    assert "secret-token" not in repr(routes) and "secret-token" not in str(routes)
    assert routes.routes[0].url.get_secret_value() == SLACK


@pytest.mark.parametrize(
    "bad",
    [
        "routes: [{name: a, kind: email, webhook_url_env: X}]",
        "routes: [{name: a, kind: slack, webhook_url_env: X, severities: [urgent]}]",
        "routes: [{name: a, kind: slack, webhook_url_env: X, show: [password]}]",
        "routes: [{name: a, kind: slack, webhook_url_env: X, unmasked: [reason]}]",
        "routes: [{name: a, kind: slack, webhook_url_env: X}, "
        "{name: a, kind: teams, webhook_url_env: X}]",
        "delivery: {attempt_timeout_s: 60, claim_lease_s: 30}\nroutes: []",
        "delivery: {max_age_s: 172800, delivered_retention_days: 1}\nroutes: []",
    ],
)
def test_a_configuration_that_cannot_work_is_refused_at_start_up(bad: str) -> None:
    with pytest.raises(ConfigurationError, match="not a valid notifier configuration"):
        parse_routes(bad, "test", {"X": SLACK})


def test_the_shipped_example_is_valid_once_its_variables_are_set() -> None:
    path = PROJECT_ROOT / "config" / "notifier.yaml"
    with pytest.raises(ConfigurationError, match="is not set"):
        load_routes(path, {})
    env = {
        "COMPLIANCE_NOTIFIER_SLACK_SANCTIONS_URL": SLACK,
        "COMPLIANCE_NOTIFIER_TEAMS_KYC_URL": "https://example.webhook.office.com/x",
    }
    assert {r.config.kind for r in load_routes(path, env).routes} == {"slack", "teams"}


# --- masking and what a route shows -------------------------------------------------------


def shown(notice: dict[str, Any]) -> dict[str, str]:
    return {f["name"]: f["value"] for f in notice["fields"]}


def test_a_route_shows_only_the_fields_it_lists_and_no_personal_data_by_default() -> None:
    keyring = DictKeyring()
    record = rule_exception("C-1")
    notice = open_notice(build_notice(record, route(), keyring, "https://review"), keyring)
    assert set(shown(notice)) == {"category", "severity", "kind", "rule_id", "sla_due_at"}
    text = json.dumps([slack_message(notice), teams_message(notice)])
    assert DOCUMENT_NUMBER[:-3] not in text and HOLDER not in text
    assert "C-1" not in text  # nor the customer id, in the fields or in the link
    assert notice["link"] == "https://review/"


def test_document_ids_are_masked_to_their_last_three_characters_by_default() -> None:
    keyring = DictKeyring()
    record = rule_exception("C-1", document_id="passport-778812")
    notice = build_notice(record, route(show=("document_id",)), keyring, None)
    assert shown(notice)["document_id"] == "•" * 12 + "812"
    whole = build_notice(
        record, route(show=("document_id",), unmasked=("document_id",)), keyring, None
    )
    assert shown(whole)["document_id"] == "passport-778812"


def test_the_reason_is_shown_masked_and_kept_sealed_until_it_is_delivered() -> None:
    keyring = DictKeyring()
    record = rule_exception("C-1")
    notice = build_notice(record, route(show=("reason",)), keyring, None)
    stored = json.dumps(notice)
    assert is_sealed(shown(notice)["reason"])
    assert "differs" not in stored and DOCUMENT_NUMBER not in stored and HOLDER not in stored
    reason = shown(open_notice(notice, keyring))["reason"]
    assert "differs from" in reason
    assert DOCUMENT_NUMBER not in reason and "••••••Q90" in reason
    assert "X71K42Q91" not in reason and "••••••Q91" in reason
    assert HOLDER not in reason and "SEN" in reason  # the rule's input, quoted, is masked too


def test_the_reason_is_shown_whole_only_when_the_route_says_so() -> None:
    keyring = DictKeyring()
    config = route(show=("reason", "details.document_number"), unmasked=("reason",))
    opened = shown(open_notice(build_notice(rule_exception("C-1"), config, keyring, None), keyring))
    assert DOCUMENT_NUMBER in opened["reason"]
    assert opened["details.document_number"] == "••••••Q90"


def test_an_erased_subject_is_shown_as_erased() -> None:
    keyring = DictKeyring()
    notice = build_notice(rule_exception("C-9"), route(show=("reason",)), keyring, None)
    keyring.erase("C-9")
    assert shown(open_notice(notice, keyring))["reason"] == "[erased]"


def test_the_link_searches_the_review_queue_for_the_customer_when_the_route_shows_it() -> None:
    notice = build_notice(
        rule_exception("C 1/7"), route(show=("customer_id",)), DictKeyring(), "https://rv/"
    )
    assert notice["link"] == "https://rv/?q=C%201%2F7"


def test_an_exception_written_before_routing_is_routed_by_its_rule() -> None:
    record = rule_exception("C-1", rule_id="aml.sanctions-name-screen", category=None)
    notice = build_notice(record, route(show=("category",)), DictKeyring(), None)
    assert shown(notice)["category"] == "sanctions"


# --- messages -----------------------------------------------------------------------------


def opened_notice(config: RouteConfig, **overrides: Any) -> dict[str, Any]:
    keyring = DictKeyring()
    record = rule_exception("C-1", **overrides)
    return open_notice(build_notice(record, config, keyring, "https://review"), keyring)


FULL = route(show=("severity", "category", "rule_id", "customer_id", "document_id", "reason"))


def test_the_slack_message_is_block_kit_with_header_fields_context_and_a_button() -> None:
    message = slack_message(opened_notice(FULL))
    blocks = message["blocks"]
    assert [b["type"] for b in blocks] == ["header", "section", "section", "context", "actions"]
    assert blocks[0]["text"]["type"] == "plain_text"
    assert blocks[0]["text"]["text"] == "High KYC exception: identity.document-number"
    labels = [f["text"].split("\n")[0] for f in blocks[1]["fields"]]
    assert labels == ["*Severity*", "*Category*", "*Rule*", "*Customer*", "*Document*"]
    assert all(f["type"] == "mrkdwn" for f in blocks[1]["fields"])
    assert blocks[2]["text"]["text"].startswith("*Reason*\n")
    button = blocks[4]["elements"][0]
    assert button["type"] == "button" and button["url"] == "https://review/?q=C-1"
    assert message["text"]  # the notification's fallback text
    assert DOCUMENT_NUMBER not in json.dumps(message) and HOLDER not in json.dumps(message)


def test_text_from_a_document_cannot_become_a_slack_link_or_mention() -> None:
    config = route(show=("reason",), unmasked=("reason",))
    notice = opened_notice(config)
    notice["fields"][0]["value"] = "see <https://evil.example|here> <!channel> & more"
    text = slack_message(notice)["blocks"][1]["text"]["text"]
    assert "<" not in text and ">" not in text
    assert "&lt;https://evil.example|here&gt; &lt;!channel&gt; &amp; more" in text


def test_the_teams_message_carries_an_adaptive_card_1_4() -> None:
    message = teams_message(opened_notice(FULL))
    assert message["type"] == "message"
    [attachment] = message["attachments"]
    assert attachment["contentType"] == CARD_TYPE
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    assert [b["type"] for b in card["body"]] == ["TextBlock", "FactSet", "TextBlock", "TextBlock"]
    facts = {f["title"]: f["value"] for f in card["body"][1]["facts"]}
    assert facts["Severity"] == "high" and facts["Document"].startswith("•")
    assert card["actions"] == [
        {
            "type": "Action.OpenUrl",
            "title": "Open in review",
            "url": "https://review/?q=C-1",
        }
    ]
    assert DOCUMENT_NUMBER not in json.dumps(message) and HOLDER not in json.dumps(message)


def test_text_from_a_document_cannot_become_a_teams_link() -> None:
    notice = opened_notice(route(show=("reason",), unmasked=("reason",)))
    notice["fields"][0]["value"] = "[click](https://evil.example) **now**"
    text = teams_message(notice)["attachments"][0]["content"]["body"][1]["text"]
    assert text == r"\[click\](https://evil.example) \*\*now\*\*"


# --- back-off -------------------------------------------------------------------------------


def test_the_back_off_grows_exponentially_up_to_its_cap_with_jitter(rng: random.Random) -> None:
    for attempt in range(1, 12):
        ceiling = min(60.0, 2.0 ** (attempt - 1))
        waits = [backoff_s(attempt, 1.0, 60.0, rng) for _ in range(200)]
        assert all(ceiling / 10 <= w <= ceiling for w in waits)
        assert len(set(waits)) > 150  # jittered, not one value


def test_retry_after_in_seconds_or_as_an_http_date_is_honoured() -> None:
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert retry_after_s("7", now) == 7.0
    assert retry_after_s(format_datetime(now + timedelta(seconds=42), usegmt=True), now) == 42.0
    assert retry_after_s(format_datetime(now - timedelta(seconds=5), usegmt=True), now) == 0.0
    assert retry_after_s("soon", now) is None and retry_after_s(None, now) is None


def test_a_retry_after_wins_over_the_back_off_but_is_capped() -> None:
    assert next_wait_s(1, 30.0, initial_s=1, max_s=5, retry_after_max_s=900) == 30.0
    assert next_wait_s(1, 86400.0, initial_s=1, max_s=5, retry_after_max_s=900) == 900.0
    assert next_wait_s(1, None, initial_s=1, max_s=5, retry_after_max_s=900) <= 1.0


def test_a_webhook_url_in_a_log_line_is_replaced_by_its_variable_name(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import logging

    from compliance.notify.log_guard import WebhookUrlFilter

    guard = WebhookUrlFilter({SLACK: "SANCTIONS_URL"})
    record = logging.LogRecord("x", logging.WARNING, "f", 1, "posting to %s failed", (SLACK,), None)
    guard.filter(record)
    assert record.getMessage() == "posting to $SANCTIONS_URL failed"


# --- what an attempt means for its row --------------------------------------------------------


def claimed(attempts: int, age_s: float) -> Claimed:
    created = datetime.now(UTC) - timedelta(seconds=age_s)
    return Claimed("e-1", "r", {}, attempts, created, "C-1")


DELIVERY = parse_routes("delivery: {max_attempts: 4, max_age_s: 600}\nroutes: []", "t", {})


def test_an_answer_in_2xx_is_delivered_and_a_4xx_fails_at_once() -> None:
    now = datetime.now(UTC)
    assert decide(DELIVERY, claimed(0, 1), verdict_of(202, None), now).status == DELIVERED
    refused = decide(DELIVERY, claimed(0, 1), verdict_of(404, None), now)
    assert refused.status == FAILED and refused.http_status == 404


def test_a_429_or_5xx_is_due_again_after_its_wait_until_the_attempts_run_out() -> None:
    now = datetime.now(UTC)
    again = decide(DELIVERY, claimed(0, 1), verdict_of(429, "30"), now)
    assert again.status == PENDING and again.retry_at == now + timedelta(seconds=30)
    assert decide(DELIVERY, claimed(2, 1), verdict_of(503, None), now).status == PENDING
    last = decide(DELIVERY, claimed(3, 1), verdict_of(503, None), now)
    assert last.status == FAILED and last.error == "HTTP 503; gave up after 4 attempt(s) over 1 s"


def test_a_notification_older_than_its_maximum_age_is_given_up() -> None:
    now = datetime.now(UTC)
    late = decide(DELIVERY, claimed(1, 590), verdict_of(429, "60"), now)
    assert late.status == FAILED
