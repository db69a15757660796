"""The secretariat's dashboard and the audit log page, through the app in-process, and
the dashboard's sending progress in a browser."""

import html
import re
from collections.abc import Iterator
from datetime import timedelta
from html.parser import HTMLParser
from typing import Any

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Page, expect
from sqlalchemy import Engine
from sqlmodel import Session

from app.accounts import service as accounts
from app.accounts.principal import Principal, Role
from app.campaigns.models import Campaign, CampaignStatus
from app.core.audit import record_audit
from app.core.db import create_db_engine, session_scope
from app.core.settings import get_settings
from app.core.types import utcnow
from app.delivery import store
from app.delivery.models import DeliveryState
from app.delivery.sender import send_campaign_batch
from app.members import applications
from app.members.models import BounceStatus, Contact, Organization
from app.members.schemas import ApplicationCreate
from app.tracking.models import ResponseKind
from app.web import dashboard_pages
from tests.factories import make_contact, make_organization, make_user
from tests.reports.world import (
    make_action_report,
    make_delivery,
    make_event,
    make_inbound,
    make_sent_campaign,
)
from tests.web.conftest import LiveServer, screenshot, sign_in
from tests.web.test_campaign_progress import launch_in_live_database
from tests.web.test_pages import assert_every_control_labelled, assert_html_page

VOID_TAGS = frozenset({"br", "hr", "img", "input", "link", "meta", "source", "wbr"})


class _TextOf(HTMLParser):
    """The words inside the first element with a given data-testid."""

    def __init__(self, testid: str) -> None:
        super().__init__()
        self.testid = testid
        self.depth = 0  # open elements inside the one wanted (0: not inside it)
        self.done = False
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in VOID_TAGS or self.done:
            return
        if self.depth:
            self.depth += 1
        elif dict(attrs).get("data-testid") == self.testid:
            self.depth = 1

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID_TAGS or not self.depth:
            return
        self.depth -= 1
        self.done = self.depth == 0

    def handle_data(self, data: str) -> None:
        if self.depth:
            self.text.append(data)


def text_of(page: str, testid: str) -> str:
    """The words of the element with this data-testid, tags left out."""
    parser = _TextOf(testid)
    parser.feed(page)
    assert parser.depth or parser.done, f"no {testid} on the page"
    return " ".join("".join(parser.text).split())


def bounce(contact: Contact) -> None:
    contact.bounce_status = BounceStatus.hard
    contact.hard_bounce_count = 1
    contact.last_bounced_at = utcnow()


@pytest.fixture
def registry(session: Session) -> dict[str, Any]:
    """Three active members: one with a working focal point, one without any contact, one
    whose focal point bounces (and whose director bounces too: not a focal point); a
    lapsed member without contacts (not counted) and an application waiting."""
    working = make_organization(session, name="Haki Kenya", country="KEN")
    make_contact(session, working, name="Wanjiru", role="focal_point")
    silent = make_organization(session, name="Silent Forum", country="SEN")
    bounced_org = make_organization(session, name="Ligue de Paris", country="FRA")
    focal = make_contact(session, bounced_org, name="Claire Focal", role="focal_point")
    director = make_contact(session, bounced_org, name="Director Bounce", role="director")
    bounce(focal)
    bounce(director)
    make_organization(session, name="Lapsed Without Contacts", membership_status="lapsed")
    applications.submit_application(
        session,
        ApplicationCreate(
            organization_name="Applicant Collective",
            country="BRA",
            contact_name="Ana",
            contact_email="ana@applicant.example.org",
        ),
    )
    session.flush()
    return {"silent": silent, "bounced_org": bounced_org, "focal": focal}


# --- who sees it --------------------------------------------------------------------------


def test_each_role_is_sent_home(client: TestClient, client_as: Any) -> None:
    assert client.get("/", follow_redirects=False).headers["location"] == "/dashboard"
    lead = client_as(Role.regional_lead)
    member = client_as(Role.member)
    for path in ("/", "/dashboard"):
        assert lead.get(path, follow_redirects=False).headers["location"] == "/region"
        assert member.get(path, follow_redirects=False).headers["location"] == "/portal"


def test_signed_out_visitors_are_asked_to_sign_in(anonymous_client: TestClient) -> None:
    for path, back_to in (("/", "%2F"), ("/dashboard", "%2Fdashboard"), ("/audit", "%2Faudit")):
        response = anonymous_client.get(path, follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"] == f"/sign-in?next={back_to}"


# --- the dashboard --------------------------------------------------------------------------


def test_registry_health_lists_what_needs_attention(
    client: TestClient, registry: dict[str, Any]
) -> None:
    page = assert_html_page(client.get("/dashboard"))
    assert "<title>Dashboard · Coalition for the ICC</title>" in page

    assert text_of(page, "without-contacts-total") == "1"
    without = text_of(page, "without-contacts")
    assert "Silent Forum" in without
    assert "Senegal" in without
    assert "Lapsed Without Contacts" not in page
    assert f'href="/members/{registry["silent"].id}"' in page

    assert text_of(page, "bounced-total") == "1"
    bounced = text_of(page, "bounced")
    assert "Ligue de Paris: Claire Focal" in bounced
    assert registry["focal"].email in bounced
    assert "Director Bounce" not in page

    assert text_of(page, "applications-total") == "1"
    assert "Applicant Collective" in text_of(page, "applications")
    assert 'href="/applications"' in page


def test_an_empty_registry_says_what_to_do_next(client: TestClient) -> None:
    page = assert_html_page(client.get("/dashboard"))
    assert "No alert is sending." in text_of(page, "nothing-sending")
    assert 'href="/campaigns/new">Compose one</a>' in page
    assert "data-campaign-progress" not in page
    assert "No action reported yet." in page
    assert "No member has written back yet." in page
    assert "No member has reported an action in the last 12 weeks." in page
    assert "Every active member has at least one contact." in page
    assert "No application is waiting for a decision." in page
    for name in ("without-contacts", "bounced", "applications", "actions", "replies"):
        assert text_of(page, f"{name}-total") == "0"


@pytest.fixture
def author(session: Session) -> Principal:
    """Alerts are written by a signed-in user."""
    return accounts.principal_for(make_user(session, Role.secretariat))


def sending(
    session: Session, author: Principal, title: str, states: list[DeliveryState]
) -> Campaign:
    campaign = make_sent_campaign(session, author, regions=["africa"], title=title)
    campaign.status = CampaignStatus.sending
    campaign.finished_at = None
    organization = make_organization(session, country="KEN")
    for state in states:
        make_delivery(session, campaign, make_contact(session, organization), state)
    return campaign


def test_alerts_going_out_show_their_progress(
    client: TestClient, session: Session, author: Principal
) -> None:
    first = sending(session, author, "Ratify APIC now", [DeliveryState.sent, DeliveryState.queued])
    second = sending(session, author, "Kampala amendments", [DeliveryState.queued] * 3)
    second.status = CampaignStatus.paused
    soon = make_sent_campaign(session, author, regions=["africa"], title="Due on Friday")
    later = make_sent_campaign(session, author, regions=["africa"], title="Due next month")
    for campaign, days in ((soon, 3), (later, 30)):
        campaign.status = CampaignStatus.scheduled
        campaign.launched_at = campaign.finished_at = None
        campaign.send_at = utcnow() + timedelta(days=days)
    make_sent_campaign(session, author, regions=["africa"], title="Long finished")
    session.flush()

    page = assert_html_page(client.get("/dashboard"))
    sections = re.findall(r'<article [^>]*data-testid="in-flight".*?</article>', page, re.S)
    assert len(sections) == 2
    by_title = {
        title: s for s in sections for title in re.findall(r"<h3[^>]*><a[^>]*>(.*?)</a>", s)
    }
    sending_now = by_title["Ratify APIC now"]
    assert f'data-endpoint="/api/campaigns/{first.id}"' in sending_now
    assert 'data-status="sending"' in sending_now
    assert f'data-reload-url="/campaigns/{first.id}"' in sending_now
    assert '<progress class="campaign-progress__bar" max="2" value="1"' in sending_now
    assert "1 of 2 handled (50%)" in text_of(sending_now, "progress-handled")
    assert "Sending now." in sending_now
    paused = by_title["Kampala amendments"]
    assert 'data-status="paused"' in paused
    assert text_of(paused, "progress-handled") == "0 of 3 handled (0%)"
    assert '<script src="/static/progress.js" defer></script>' in page

    scheduled = text_of(page, "scheduled")
    assert "Due on Friday" in scheduled
    assert "Due next month" not in page
    assert "Long finished" not in page


def test_recent_responses_and_reported_actions(
    client: TestClient, session: Session, author: Principal
) -> None:
    campaign = make_sent_campaign(session, author, regions=["africa"], title="Write to the MFA")
    haki = make_organization(session, name="Haki Kenya", country="KEN")
    person = make_contact(session, haki, name="Wanjiru")
    delivery = make_delivery(session, campaign, person)
    make_event(session, delivery, ResponseKind.clicked)
    make_event(session, delivery, ResponseKind.clicked, automated=True)  # a scanner
    make_event(session, delivery, ResponseKind.clicked, occurred_at=utcnow() - timedelta(days=9))
    make_event(session, delivery, ResponseKind.bounced_soft)
    make_action_report(session, delivery, haki, engaged_with="Ministry of Justice")
    make_inbound(session, campaign, delivery, subject="Re: Write to the MFA")
    make_inbound(session, campaign, delivery, subject="Out of office", automatic=True)
    session.flush()

    page = assert_html_page(client.get("/dashboard"))
    assert text_of(page, "recent-clicked") == "1"
    assert text_of(page, "recent-acted") == "1"
    assert text_of(page, "recent-bounced-soft") == "1"
    assert text_of(page, "recent-unsubscribed") == "0"

    assert text_of(page, "actions-total") == "1"
    actions = text_of(page, "actions")
    assert "Haki Kenya" in actions
    assert "Write to the MFA" in actions
    assert "Wrote to officials with Ministry of Justice" in actions
    assert f'href="/campaigns/{campaign.id}/results"' in page

    assert text_of(page, "replies-total") == "1"
    assert "Re: Write to the MFA" in text_of(page, "replies")
    assert "Out of office" not in page

    chart = text_of(page, "chart-activity")
    assert '<svg class="chart" id="chart-activity"' in page
    assert "1 in the last 12 weeks" in chart


# --- the audit log --------------------------------------------------------------------------


def test_the_audit_log_in_words_with_links(client: TestClient, registry: dict[str, Any]) -> None:
    page = assert_html_page(client.get("/audit"))
    assert "<title>Audit log · Coalition for the ICC</title>" in page
    assert_every_control_labelled(page)
    silent = registry["silent"]
    assert f'<a href="/members/{silent.id}">Silent Forum</a>' in page
    assert "Contact added: Claire Focal" in " ".join(
        html.unescape(re.sub(r"<[^>]+>", " ", page)).split()
    )
    # A contact's entry links to its organisation; who did it filters the log to them.
    assert f'at <a href="/members/{registry["bounced_org"].id}">Ligue de Paris</a>' in page
    assert 'href="/audit?actor=test%3Astaff"' in page
    assert '<option value="organization.create">' in page  # the action suggestions


def test_audit_filters(client: TestClient, session: Session, registry: dict[str, Any]) -> None:
    silent: Organization = registry["silent"]
    record_audit(
        session,
        actor="user:999999",
        action="organization.update",
        target_type="organization",
        target_id=silent.id,
        organization_id=silent.id,
        before={"name": "Quiet Forum"},
        after={"name": "Silent Forum"},
    )
    session.flush()

    page = client.get("/audit", params={"action": "organization.update"}).text
    entries = re.findall(r'data-testid="audit-entry"', page)
    assert len(entries) == 1
    assert "Quiet Forum" in page
    assert "User #999999" in page

    by_actor = client.get("/audit", params={"actor": "user:999999"}).text
    assert len(re.findall(r'data-testid="audit-entry"', by_actor)) == 1
    by_organization = client.get("/audit", params={"organization_id": silent.id}).text
    assert len(re.findall(r'data-testid="audit-entry"', by_organization)) == 2  # created, renamed

    today = utcnow().date()
    on_today = client.get("/audit", params={"since": today, "until": today, "actor": "user:999999"})
    assert len(re.findall(r'data-testid="audit-entry"', on_today.text)) == 1
    yesterday = (today - timedelta(days=1)).isoformat()
    before_today = client.get("/audit", params={"until": yesterday})
    assert "No entry matches these filters." in before_today.text
    assert 'value="' + yesterday + '"' in before_today.text  # the form keeps the day


def test_audit_pages_follow_one_another(
    client: TestClient, registry: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dashboard_pages, "AUDIT_PAGE_SIZE", 2)
    seen: list[str] = []
    url = "/audit?action=contact.create"  # Wanjiru, Claire, the director, Ana
    pages = 0
    while url:
        page = assert_html_page(client.get(url))
        seen += re.findall(r'<p class="history__action">(.*?)</p>', page, re.S)
        found = re.search(r'<a class="button button--secondary" href="([^"]+)" rel="next"', page)
        url = html.unescape(found.group(1)) if found else ""
        pages += 1
        if pages > 1:
            assert "First page" in page
    assert pages == 2
    assert len(seen) == len(set(seen)) == 4


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"since": "31/12/2025"}, "since", "31/12/2025"),
        ({"since": "2026-03-02", "until": "2026-03-01"}, "until", "until must be after since"),
        ({"organization_id": "abc"}, "organization_id", "valid integer"),
        ({"cursor": "not-a-cursor"}, "cursor", "Malformed cursor"),
        ({"target_id": "x" * 41}, "target_id", "at most 40 characters"),
        ({"colour": "red"}, None, "'colour' is not a filter on this page."),
        ({"actor": "user:1\x00"}, "actor", "must not contain a NUL character"),
        # The last day there is: "until" it means up to the midnight after it.
        ({"until": "9999-12-31"}, "until", "until"),
        ({"until": "9999-12-31T23:00:00-05:00"}, "until", "between the years 2 and 9998"),
        ({"since": "0001-01-01T00:00:00+01:00"}, "since", "between the years 2 and 9998"),
    ],
)
def test_bad_audit_filters_show_the_form_again(
    client: TestClient, params: dict[str, str], field: str | None, message: str
) -> None:
    page = assert_html_page(client.get("/audit", params=params), status=422)
    assert "Some filters could not be used" in page
    assert message in html.unescape(page)
    if field and field != "cursor":
        assert f'id="{field}-error"' in page  # beside the field
    assert 'action="/audit"' in page
    assert 'data-testid="audit-entry"' not in page


def test_only_the_secretariat_reads_the_audit_log(client_as: Any) -> None:
    assert client_as(Role.regional_lead).get("/audit").status_code == 403
    assert client_as(Role.member).get("/audit").status_code == 403
    assert client_as(Role.secretariat).get("/audit").status_code == 200


# --- in a browser: the dashboard follows the sending ------------------------------------------


@pytest.fixture(scope="module")
def live_engine(live_server: LiveServer, live_database_url: str) -> Iterator[Engine]:
    engine = create_db_engine(live_database_url)
    yield engine
    engine.dispose()


@pytest.mark.browser
def test_the_dashboard_follows_the_sending_without_a_reload(
    page: Page, live_server: LiveServer, live_engine: Engine
) -> None:
    campaign_id = launch_in_live_database(live_engine)
    sign_in(page, live_server.url)
    page.goto(f"{live_server.url}/")
    expect(page).to_have_url(f"{live_server.url}/dashboard")
    alert = page.get_by_test_id("in-flight")
    handled = alert.get_by_test_id("progress-handled")
    expect(handled).to_have_text("0 of 27 handled (0%)")
    expect(alert.get_by_text("These figures update every few seconds.")).to_be_visible()
    page.evaluate("window.__stillTheSamePage = true")

    settings = get_settings().model_copy(update={"send_batch_size": 10})
    assert send_campaign_batch(campaign_id, worker="test", settings=settings).sent == 10
    expect(handled).to_have_text("10 of 27 handled (37%)", timeout=10_000)
    expect(alert.locator("progress")).to_have_attribute("value", "10")
    assert send_campaign_batch(campaign_id, worker="test").sent == 17
    expect(handled).to_have_text("27 of 27 handled (100%)", timeout=10_000)
    expect(alert.get_by_test_id("status")).to_have_text("Sending")
    assert page.evaluate("window.__stillTheSamePage") is True
    screenshot(page, "staff-dashboard")

    # The scan marks it sent: this alert's badge follows, and its link to the alert.
    with session_scope() as session:
        assert store.finish_campaigns(session) == [campaign_id]
    expect(alert.get_by_test_id("status")).to_have_text("Sent", timeout=10_000)
    expect(alert.get_by_text("to see the final figures")).to_be_visible()
    expect(alert.get_by_role("link", name="Open the alert")).to_have_attribute(
        "href", f"/campaigns/{campaign_id}"
    )
    assert page.evaluate("window.__stillTheSamePage") is True

    # The audit log, for a person to look at: the seeded registry's entries.
    page.goto(f"{live_server.url}/audit")
    expect(page.get_by_test_id("audit-entry").first).to_be_visible()
    screenshot(page, "staff-audit-log")
