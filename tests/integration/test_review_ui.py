"""The review application in a real headless browser (Debian's chromium through Playwright)
against the real pipeline: documents published, classified, checked, turned into cases and
audited by the processors themselves; officers log in, open cases from the queue and decide
them; every decision must reach the audit trail. One pipeline run serves the module."""

from __future__ import annotations

import dataclasses
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from confluent_kafka.admin import AdminClient
from playwright.sync_api import Browser, Dialog, Page, expect
from sqlalchemy import Engine, func, select

from compliance import kafka_io
from compliance.audit.store import audit_events
from compliance.cases.queries import CaseSummary, case_view, find_case, queue
from compliance.cases.tables import case_history
from compliance.config import PROJECT_ROOT, Settings
from compliance.officers import add_officer
from compliance.publisher import Publisher, arrival_event
from compliance.review.headers import CONTENT_SECURITY_POLICY
from compliance.subject_keyring import sealing_codec
from compliance.topics import CASES_DECISIONS
from compliance.transactions.demo import STREAM
from compliance.transactions.sources import read_csv

from .conftest import Processes, as_owner, wait_for
from .review_stack import PASSWORD, Officers, chromium, log_in, review_server, write_document

pytestmark = pytest.mark.integration
SAMPLES = PROJECT_ROOT / "samples" / "documents"
HOSTILE_NAME = "<img src=x onerror=alert(document.domain)>"
HOSTILE_SCRIPT = "<script>alert('owned')</script>"
PIPELINE_TIMEOUT_S = 180


@dataclass
class Stack:
    settings: Settings
    url: str
    officers: Officers
    expired: str  # customer ids, one case each
    four_eyes: str
    hostile: str
    payments: str  # the account owner of the demo's rapid movement, this run's

    def case_of(self, engine: Engine, customer: str) -> CaseSummary:
        found = queue(engine, search=customer, scope=self.settings.topic_prefix, statuses=None)
        assert len(found) == 1, f"one case for {customer}, found {len(found)}"
        return found[0]


def _documents(folder: Path) -> dict[str, Path]:
    expired = (SAMPLES / "passport_icao_specimen_expired.txt").read_text()
    # A proof of address with no address (a rule fails: a case) whose customer name and text
    # carry markup, as anybody who sends a document can write.
    bill = (SAMPLES / "utility_bill_no_address.txt").read_text()
    hostile = bill.replace(
        "Customer name: Daniel Okafor", f"Customer name: Daniel {HOSTILE_NAME} Okafor"
    ).replace("WATER BILL", f"WATER BILL {HOSTILE_SCRIPT}")
    return {
        "expired": write_document(folder, "expired.txt", expired),
        "four_eyes": SAMPLES / "id_card_okafor_bad_check_digit.txt",
        "hostile": write_document(folder, "hostile.txt", hostile),
    }


def _every_case_has_its_evidence_audited(engine: Engine, stack: Stack) -> bool:
    codec = sealing_codec(engine)
    wanted = {
        stack.expired: {"CheckResult", "DocumentClassified"},
        stack.four_eyes: {"CheckResult", "DocumentClassified"},
        stack.hostile: {"CheckResult", "DocumentClassified"},
        stack.payments: {"TransactionSubmitted"},
    }
    for customer, kinds in wanted.items():
        found = queue(engine, search=customer, scope=stack.settings.topic_prefix)
        if not found:
            return False
        view = case_view(engine, codec, found[0].case_id, scope=stack.settings.topic_prefix)
        if view is None or not kinds <= {t.event_type for t in view.trail}:
            return False
    return True


def _publish_payments(publisher: Publisher, run: str) -> None:
    """The demo's payments with this run's ids and owners (their events are new ones)."""
    for tx in read_csv(STREAM):
        publisher.publish_transaction(
            dataclasses.replace(
                tx,
                transaction_id=f"{tx.transaction_id}-{run}",
                account_owner=f"{tx.account_owner}-{run}",
            ),
            source_system="test",
        )


@pytest.fixture(scope="module")
def stack(
    engine: Engine, broker: AdminClient, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    folder = tmp_path_factory.mktemp("review-documents")
    prefix = f"t{uuid.uuid4().hex[:10]}."
    settings = as_owner(
        topic_prefix=prefix,
        document_roots=[PROJECT_ROOT, folder],
        instance_id=f"test-{prefix}",
        transaction_timeout_ms=10_000,
    )
    kafka_io.create_topics(settings)
    officers = Officers()
    add_officer(engine, officers.analyst, "analyst", PASSWORD, "Ana <b>Lyst</b>")
    add_officer(engine, officers.supervisor, "supervisor", PASSWORD, "Sue Pervisor")
    run = uuid.uuid4().hex[:8]
    customers = {key: f"C-{key}-{run}" for key in ("expired", "four_eyes", "hostile")}
    customers["payments"] = f"C-3003-{run}"  # rapid movement: 25,000 in, 24,000 out
    processes = Processes(settings)
    try:
        for name in ("audit-sink", "classifier", "checker", "transaction-screener", "cases"):
            processes.start(name)
        with Publisher(settings) as publisher:
            for key, path in _documents(folder).items():
                publisher.publish(
                    arrival_event(path, source_system="test", customer_id=customers[key])
                )
            _publish_payments(publisher, run)
        app_settings = Settings(topic_prefix=prefix, review_cookie_secure=True)
        with review_server(app_settings) as url:
            stack = Stack(settings, url, officers, **customers)
            wait_for(
                lambda: _every_case_has_its_evidence_audited(engine, stack),
                PIPELINE_TIMEOUT_S,
                "a case per document, its evidence audited",
                processes,
            )
            yield stack
    finally:
        processes.stop_all()
        topics = [t for t in broker.list_topics(timeout=10).topics if t.startswith(prefix)]
        if topics:
            for future in broker.delete_topics(topics, operation_timeout=30).values():
                future.result()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as (_, launched):
        yield launched


@pytest.fixture
def dialogs() -> list[str]:
    """Every alert, confirm or prompt a page opened: a script that ran (there must be none)."""
    return []


def _page(browser: Browser, stack: Stack, username: str, dialogs: list[str]) -> Page:
    context = browser.new_context()
    context.on("dialog", lambda d: _record_dialog(d, dialogs))
    page = log_in(context, stack.url, username)
    page.on("dialog", lambda d: _record_dialog(d, dialogs))
    return page


def _record_dialog(dialog: Dialog, dialogs: list[str]) -> None:
    dialogs.append(dialog.message)
    dialog.dismiss()


def _audited(engine: Engine, settings: Settings, event_id: str) -> bool:
    query = select(func.count()).where(
        audit_events.c.topic == settings.topic(CASES_DECISIONS),
        audit_events.c.event_id == uuid.UUID(event_id),
    )
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one()) > 0


def test_an_officer_reads_the_failed_rule_clears_the_case_and_the_decision_is_audited(
    stack: Stack, engine: Engine, browser: Browser, dialogs: list[str]
) -> None:
    case = stack.case_of(engine, stack.expired)
    view = case_view(engine, sealing_codec(engine), case.case_id, scope=stack.settings.topic_prefix)
    assert view is not None
    failed = [t for t in view.trail if t.event_type == "CheckResult" and t.explanation]
    assert failed, "the checker's result with its explanation is in the audit trail"
    page = _page(browser, stack, stack.officers.analyst, dialogs)

    page.fill("input[name=q]", stack.expired)
    page.click("button:has-text('Filter')")
    page.click(f"a[href='/cases/{case.case_id}']")
    expect(page.locator(".explanation").first).to_contain_text(failed[0].explanation or "")
    expect(page.locator("h3", has_text="identity.not-expired").first).to_be_visible()

    page.check("input[name=outcome][value=cleared]")
    page.fill("#resolve-reason", "renewed passport seen at the branch")
    page.click("#decide")
    expect(page.locator(".notice.done")).to_contain_text("Decision recorded")
    closed = find_case(engine, case.case_id, scope=stack.settings.topic_prefix)
    assert closed is not None and closed.status == "closed_cleared"
    wait_for(
        lambda: _audited(engine, stack.settings, closed.last_event_id),
        60,
        "the clearing decision in the audit trail",
    )
    assert dialogs == []


def test_an_analyst_cannot_complete_a_four_eyes_case_alone_and_a_supervisor_can(
    stack: Stack, engine: Engine, browser: Browser, dialogs: list[str]
) -> None:
    case = stack.case_of(engine, stack.four_eyes)
    assert case.severity in ("high", "critical")
    analyst = _page(browser, stack, stack.officers.analyst, dialogs)
    analyst.goto(f"{stack.url}/cases/{case.case_id}")
    analyst.check("input[name=outcome][value=confirmed]")
    analyst.fill("#resolve-reason", "check digit wrong: a forged card")
    analyst.click("#decide")
    expect(analyst.locator(".notice.done")).to_contain_text("waits for a supervisor")

    analyst.click("#approve")
    expect(analyst.locator("#refused")).to_be_visible()
    pending = find_case(engine, case.case_id, scope=stack.settings.topic_prefix)
    assert pending is not None and pending.status != "closed_confirmed"
    assert pending.pending_outcome == "confirmed" and pending.pending_by == stack.officers.analyst

    supervisor = _page(browser, stack, stack.officers.supervisor, dialogs)
    supervisor.goto(f"{stack.url}/cases/{case.case_id}")
    expect(supervisor.locator(".pending")).to_contain_text(stack.officers.analyst)
    supervisor.click("#approve")
    expect(supervisor.locator(".notice.done")).to_contain_text("approved")
    closed = find_case(engine, case.case_id, scope=stack.settings.topic_prefix)
    assert closed is not None and closed.status == "closed_confirmed"
    wait_for(
        lambda: _audited(engine, stack.settings, closed.last_event_id),
        60,
        "the approval in the audit trail",
    )


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/"),
        ("GET", "/?status=all&q=C-"),
        ("GET", "/cases/any-case"),
        ("GET", "/no/such/page"),
        ("POST", "/cases/any-case/resolve"),
        ("POST", "/logout"),
    ],
)
def test_a_request_without_a_session_is_sent_to_the_login_page(
    stack: Stack, method: str, path: str
) -> None:
    answer = httpx.request(method, stack.url + path, follow_redirects=False, timeout=10)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login"


def test_a_browser_without_a_session_lands_on_the_login_page(
    stack: Stack, browser: Browser
) -> None:
    page = browser.new_context().new_page()
    page.goto(f"{stack.url}/")
    assert page.url == f"{stack.url}/login"
    expect(page.locator("#password")).to_be_visible()


def test_a_form_posted_without_the_session_csrf_token_is_refused(
    stack: Stack, engine: Engine, browser: Browser, dialogs: list[str]
) -> None:
    case = stack.case_of(engine, stack.hostile)
    page = _page(browser, stack, stack.officers.analyst, dialogs)
    before = _history(engine, case.case_id)
    url = f"{stack.url}/cases/{case.case_id}/comment"
    forms: list[dict[str, str | float | bool]] = [
        {"text": "no token"},
        {"text": "forged token", "csrf_token": "x" * 43},
    ]
    for form in forms:
        answer = page.context.request.post(url, form=form, max_redirects=0)
        assert answer.status == 403
    assert _history(engine, case.case_id) == before

    page.goto(f"{stack.url}/cases/{case.case_id}")
    page.fill("#comment", "with the token it goes through")
    page.click("button:has-text('Add comment')")
    expect(page.locator(".notice.done")).to_contain_text("Comment added")
    assert _history(engine, case.case_id) == before + 1


def _history(engine: Engine, case_id: str) -> int:
    query = select(func.count()).where(case_history.c.case_id == case_id)
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def test_html_and_script_from_a_document_render_as_inert_text_on_every_page(
    stack: Stack, engine: Engine, browser: Browser, dialogs: list[str]
) -> None:
    case = stack.case_of(engine, stack.hostile)
    page = _page(browser, stack, stack.officers.analyst, dialogs)
    for path in (
        f"/?q={stack.hostile}",
        f"/cases/{case.case_id}",
        "/?" + str(httpx.QueryParams({"q": HOSTILE_SCRIPT})),
    ):
        answer = page.goto(stack.url + path)
        assert answer is not None and answer.ok
        csp = answer.headers["content-security-policy"]
        assert csp == CONTENT_SECURITY_POLICY
        assert "script-src 'none'" in csp and "unsafe-inline" not in csp
        assert answer.headers["x-frame-options"] == "DENY"
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["referrer-policy"] == "no-referrer"
        assert answer.headers["cache-control"] == "no-store"
        assert page.locator("img").count() == 0
        assert page.locator("script").count() == 0
    page.goto(f"{stack.url}/cases/{case.case_id}")
    expect(page.get_by_text(HOSTILE_NAME, exact=False).first).to_be_visible()
    assert HOSTILE_NAME in page.inner_text("main")
    page.goto(stack.url + "/?" + str(httpx.QueryParams({"q": HOSTILE_SCRIPT})))
    assert page.input_value("input[name=q]") == HOSTILE_SCRIPT
    assert re.search(r"<img src=x onerror", page.content()) is None
    assert dialogs == []


def test_session_cookie_is_httponly_samesite_strict_and_secure_even_on_localhost(
    stack: Stack, browser: Browser, dialogs: list[str]
) -> None:
    page = _page(browser, stack, stack.officers.supervisor, dialogs)
    cookies = {c["name"]: c for c in page.context.cookies()}
    session = cookies["__Host-review-session"]
    assert session["httpOnly"] and session["secure"] and session["sameSite"] == "Strict"
    page.click("button:has-text('Log out')")
    page.wait_for_url(f"{stack.url}/login")
    page.goto(f"{stack.url}/")
    assert page.url == f"{stack.url}/login"


def test_a_transaction_case_draws_the_payments_on_a_timeline_and_the_counterparties_as_a_graph(
    stack: Stack, engine: Engine, browser: Browser, dialogs: list[str]
) -> None:
    case = stack.case_of(engine, stack.payments)
    assert case.category == "transaction_monitoring"
    page = _page(browser, stack, stack.officers.analyst, dialogs)
    page.goto(f"{stack.url}/cases/{case.case_id}")
    timeline = page.locator('svg[aria-label="Timeline of the account\'s payments"]')
    expect(timeline).to_be_visible()
    assert timeline.locator("line.in").count() == 1  # 25,000.00 EUR from Halden Trading
    assert timeline.locator("line.out").count() == 1  # 24,000.00 EUR to Meridian Holdings
    graph = page.locator("svg[aria-label='Counterparties of the account']")
    expect(graph).to_be_visible()
    labels = graph.locator("text").all_text_contents()
    assert "Halden Trading Ltd" in labels and "Meridian Holdings FZE" in labels
    assert graph.locator("line.in").count() == 1 and graph.locator("line.out").count() == 1
    # The alert's reason, sealed by the account's key and again by the customer's, opens.
    expect(page.locator("main")).to_contain_text("left again")
    assert "[erased]" not in page.locator("main").inner_text()
    assert dialogs == []


def test_an_approval_of_a_pending_decision_that_changed_since_the_page_was_shown_is_refused(
    stack: Stack, engine: Engine, browser: Browser, dialogs: list[str]
) -> None:
    from compliance.cases.desk import CaseDesk
    from compliance.cases.samples import sample_exception
    from compliance.officers import find_officer
    from compliance.screening.sending import EventSender
    from compliance.topics import COMPLIANCE_EXCEPTIONS

    who = f"C-stale-{uuid.uuid4().hex[:8]}"
    out = sample_exception(who, severity="high", reason="the name does not match")
    sender = EventSender(stack.settings, codec=sealing_codec(engine))
    sender.send(COMPLIANCE_EXCEPTIONS, out.event_type, out.record)
    sender.flush()
    wait_for(
        lambda: len(queue(engine, search=who, scope=stack.settings.topic_prefix)) == 1,
        60,
        "the new case",
    )
    case = stack.case_of(engine, who)
    desk = CaseDesk(stack.settings, engine)
    analyst = find_officer(engine, stack.officers.analyst)
    assert analyst is not None
    shown = desk.resolve(case.case_id, analyst, "cleared", "a namesake")

    supervisor = _page(browser, stack, stack.officers.supervisor, dialogs)
    supervisor.goto(f"{stack.url}/cases/{case.case_id}")
    expect(supervisor.locator(".pending")).to_contain_text("cleared")
    # While the page is open the analyst withdraws the decision and proposes the opposite.
    assert shown.pending_event_id is not None
    desk.reject(case.case_id, analyst, "wrong button", shown.pending_event_id)
    desk.resolve(case.case_id, analyst, "confirmed", "the same person after all")

    supervisor.click("#approve")
    expect(supervisor.locator("#refused")).to_contain_text("changed since you opened it")
    still = find_case(engine, case.case_id, scope=stack.settings.topic_prefix)
    assert still is not None and still.status == "open" and still.pending_outcome == "confirmed"

    supervisor.goto(f"{stack.url}/cases/{case.case_id}")  # the decision as it is now
    expect(supervisor.locator(".pending")).to_contain_text("confirmed")
    supervisor.click("#approve")
    expect(supervisor.locator(".notice.done")).to_contain_text("approved")
    closed = find_case(engine, case.case_id, scope=stack.settings.topic_prefix)
    assert closed is not None and closed.status == "closed_confirmed"
    assert dialogs == []


def test_logins_with_a_name_are_locked_after_too_many_failures_and_recorded(
    stack: Stack, engine: Engine, browser: Browser
) -> None:
    from compliance.officer_logins import recent_logins

    name = f"locked-{uuid.uuid4().hex[:8]}"
    add_officer(engine, name, "analyst", PASSWORD)
    strict = Settings(
        topic_prefix=stack.settings.topic_prefix,
        review_cookie_secure=True,
        review_login_max_failures=2,
        review_login_max_failures_per_client=1000,  # the tests' browsers share 127.0.0.1
    )
    with review_server(strict) as url:
        page = browser.new_context().new_page()
        for typed in ("not it", "not it either"):
            page.goto(f"{url}/login")
            page.fill("#username", name)
            page.fill("#password", typed)
            with page.expect_response(f"{url}/login") as answer:
                page.click("button[type=submit]")
            assert answer.value.status == 401
        page.goto(f"{url}/login")
        page.fill("#username", name)
        page.fill("#password", PASSWORD)
        with page.expect_response(f"{url}/login") as answer:
            page.click("button[type=submit]")
        assert answer.value.status == 429
        expect(page.locator("body")).to_contain_text("Too many failed logins")
        assert page.url == f"{url}/login"
        assert not [c for c in page.context.cookies() if "review-session" in c["name"]]

    assert [r.outcome for r in recent_logins(engine, name)] == ["locked", "failed", "failed"]
    assert {r.client for r in recent_logins(engine, name)} == {"127.0.0.1"}
