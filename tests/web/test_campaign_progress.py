"""Where a launched alert stands, on its page (server-rendered, then kept up to date by
campaigns.js without a reload), and the outbox page that holds the messages the
embedded default sends: filtered by kind, paged by id, each message opened on its own."""

import base64
import hashlib
import html
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Page, expect
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app.accounts import service as accounts
from app.accounts.principal import Role
from app.campaigns import lifecycle
from app.campaigns import service as campaigns
from app.campaigns.schemas import CampaignCreate
from app.core.db import create_db_engine, session_scope
from app.core.settings import get_settings
from app.delivery import store
from app.delivery.models import OutboxMessage
from app.delivery.sender import send_campaign_batch
from tests.campaigns.test_campaigns_api import APIC_ALERT, create
from tests.factories import make_contact, make_organization, make_user
from tests.web.conftest import STAFF_EMAIL, LiveServer, sign_in
from tests.web.test_pages import assert_html_page
from tests.world import world  # noqa: F401  (the hand-counted registry, a fixture)

EVERYONE: dict[str, Any] = {"audience": {}, "topics": []}


@pytest.fixture(autouse=True)
def _quick(quick_password_hashing: None) -> None:
    """Tests here sign in two secretariat users."""


def launched(client: TestClient, client_as: Any) -> int:
    """An alert to everyone in the world (10 recipients), approved by a colleague and
    launched through the API: its deliveries are queued, nothing is sent yet."""
    campaign = create(client, **EVERYONE)
    colleague = client_as(Role.secretariat)
    assert colleague.post(f"/api/campaigns/{campaign['id']}/approve").status_code == 200
    response = client.post(f"/api/campaigns/{campaign['id']}/launch")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "sending"
    return int(campaign["id"])


def figure(page: str, name: str) -> str:
    found = re.search(rf'data-testid="progress-{name}"[^>]*>(.*?)</dd>', page, re.S)
    assert found is not None, f"no {name} figure on the page"
    return re.sub(r"<[^>]+>", "", found.group(1)).strip()


def handled_line(page: str) -> str:
    found = re.search(r'<p [^>]*data-testid="progress-handled">(.*?)</p>', page, re.S)
    assert found is not None, "no 'N of M handled' line"
    return " ".join(re.sub(r"<[^>]+>", "", found.group(1)).split())


# --- the progress section -----------------------------------------------------------------------


@pytest.mark.usefixtures("world")
def test_a_launched_alert_shows_its_progress_and_a_draft_none(
    client: TestClient, client_as: Any, session: Session
) -> None:
    draft = create(client, **EVERYONE)
    draft_page = assert_html_page(client.get(f"/campaigns/{draft['id']}"))
    assert "data-campaign-progress" not in draft_page
    assert "<progress" not in draft_page
    assert "Sending progress" not in draft_page

    campaign_id = launched(client, client_as)
    page = assert_html_page(client.get(f"/campaigns/{campaign_id}"))
    assert "Sending progress" in page
    assert handled_line(page) == "0 of 10 handled (0%)"
    assert figure(page, "queued") == "10"
    assert figure(page, "sent") == figure(page, "failed") == figure(page, "suppressed") == "0"
    assert figure(page, "rate") == "0.0 messages a second"
    bar = re.search(r"<progress [^>]*>", page)
    assert bar is not None
    assert 'max="10"' in bar.group(0)
    assert 'value="0"' in bar.group(0)
    assert "aria-label=" in bar.group(0)
    # The status sentence is a polite live region; the script polls the API while sending.
    assert re.search(r'<p [^>]*aria-live="polite"[^>]*>Sending now\.</p>', page)
    assert f'data-endpoint="/api/campaigns/{campaign_id}"' in page
    assert 'data-status="sending"' in page
    assert '<script src="/static/campaigns.js" defer></script>' in page

    report = send_campaign_batch(campaign_id, worker="test")
    assert report.sent == 10
    page = client.get(f"/campaigns/{campaign_id}").text
    assert handled_line(page) == "10 of 10 handled (100%)"
    assert figure(page, "sent") == "10"
    assert figure(page, "queued") == figure(page, "sending") == "0"
    assert figure(page, "rate") == "1.0 messages a second"  # 10 in the last ten seconds
    # The same figures as the API the script reads.
    progress = client.get(f"/api/campaigns/{campaign_id}").json()["progress"]
    assert progress["total"] == progress["sent"] == 10

    with session_scope() as scope:
        assert store.finish_campaigns(scope) == [campaign_id]
    page = client.get(f"/campaigns/{campaign_id}").text
    assert '<span class="badge badge--good" data-testid="status">Sent</span>' in page
    assert "Finished: every message has been handled." in page
    assert 'data-status="sent"' in page
    assert "data-progress-hint" not in page  # nothing more to wait for


@pytest.mark.usefixtures("world")
def test_a_paused_alert_says_so(client: TestClient, client_as: Any) -> None:
    campaign_id = launched(client, client_as)
    assert client.post(f"/api/campaigns/{campaign_id}/pause").status_code == 200
    page = client.get(f"/campaigns/{campaign_id}").text
    assert "Paused: nothing more goes out until someone resumes it." in page
    assert handled_line(page) == "0 of 10 handled (0%)"
    assert 'data-status="paused"' in page


# --- the outbox -----------------------------------------------------------------------------------


def outbox_ids(page: str) -> list[int]:
    return [int(found) for found in re.findall(r'<a href="/outbox/(\d+)">', page)]


def next_page(page: str) -> str | None:
    found = re.search(r'<a class="button button--secondary" href="([^"]+)" rel="next">', page)
    return html.unescape(found.group(1)) if found else None


@pytest.mark.usefixtures("world")
def test_the_outbox_filters_by_kind_and_pages_newest_first(
    client: TestClient, client_as: Any, session: Session
) -> None:
    session.add_all(
        OutboxMessage(
            to_address=f"member{number}@example.org",
            subject=f"Your sign-in link {number}",
            text_body="Open https://example.org/sign-in/link/SECRET to sign in.",
            purpose="sign_in_link",
        )
        for number in range(100)
    )
    session.add(
        OutboxMessage(
            to_address="new@example.org", subject="Welcome", text_body="Hi", purpose="welcome"
        )
    )
    session.flush()
    campaign_id = launched(client, client_as)
    assert send_campaign_batch(campaign_id, worker="test").sent == 10
    everything = sorted(
        (message.id or 0 for message in session.scalars(select(OutboxMessage))), reverse=True
    )
    assert len(everything) == 111

    # Every message once, newest first, 50 a page, by following "Next page".
    first = assert_html_page(client.get("/outbox"))
    assert 'data-testid="total">111<' in first
    assert "First page" not in first
    seen: list[int] = []
    url: str | None = "/outbox"
    pages = 0
    while url is not None:
        page = client.get(url)
        assert page.status_code == 200, page.text
        ids = outbox_ids(page.text)
        assert len(ids) == (50 if pages < 2 else 11)
        seen += ids
        url = next_page(page.text)
        pages += 1
    assert pages == 3
    assert seen == everything
    assert "First page" in page.text

    # The kinds offered: the fixed ones, then any other found.
    for value, words in [
        ("sign_in_link", "Sign-in links"),
        ("welcome", "Welcome messages"),
        ("campaign", "Campaign messages"),
        ("campaign_test", "Campaign tests"),
    ]:
        assert f'<option value="{value}">{words}</option>' in first

    alerts = client.get("/outbox", params={"purpose": "campaign"}).text
    assert 'data-testid="total">10<' in alerts
    campaign_ids = outbox_ids(alerts)
    assert len(campaign_ids) == 10
    assert next_page(alerts) is None
    rows = session.scalars(
        select(OutboxMessage).where(col(OutboxMessage.id).in_(campaign_ids))
    ).all()
    assert {message.purpose for message in rows} == {"campaign"}
    assert {message.to_address for message in rows} == {
        f"{letter.lower()}@example.org" for letter in "ABCEFGIKLR"
    }
    assert '<option value="campaign" selected>' in alerts
    for message in rows:
        assert message.subject in html.unescape(alerts)

    # A filtered second page keeps its filter.
    sign_ins = client.get("/outbox", params={"purpose": "sign_in_link"}).text
    following = next_page(sign_ins)
    assert following is not None
    assert "purpose=sign_in_link" in following
    second = client.get(following).text
    assert len(outbox_ids(second)) == 50
    assert 'data-testid="total">100<' in second

    refused = client.get("/outbox", params={"purpose": "nonsense"})
    assert refused.status_code == 422
    assert "Choose a kind of message from the list." in refused.text
    assert client.get("/outbox", params={"cursor": "abc"}).status_code == 422


@pytest.mark.usefixtures("world")
def test_a_campaign_message_opens_with_its_text_and_html(
    client: TestClient,
    client_as: Any,
    session: Session,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    campaign_id = launched(client, client_as)
    send_campaign_batch(campaign_id, worker="test")
    message = session.scalars(
        select(OutboxMessage).where(
            col(OutboxMessage.purpose) == "campaign",
            col(OutboxMessage.to_address) == "a@example.org",
        )
    ).one()
    assert message.html_body

    # Outside demo mode, what and to whom, but not the body (it holds personal links).
    closed = assert_html_page(client.get(f"/outbox/{message.id}"))
    assert "a@example.org" in closed
    assert html.escape(message.subject) in closed
    assert "<iframe" not in closed
    assert "shown only in demo mode" in closed

    monkeypatch.setenv("DEMO_MODE", "1")
    get_settings.cache_clear()
    try:
        response = client.get(f"/outbox/{message.id}")
    finally:
        monkeypatch.delenv("DEMO_MODE")
        get_settings.cache_clear()
    page = assert_html_page(response)
    assert "Kenya: ratify APIC" in page
    assert "Dear Person" in page  # the plain text, rendered for contact A
    frames = re.findall(r"<iframe ([^>]*)>", page)
    assert len(frames) == 1
    assert re.search(r"(^| )sandbox( |$)", frames[0])
    assert "allow-scripts" not in frames[0]
    srcdoc = re.search(r'srcdoc="([^"]*)"', frames[0])
    assert srcdoc is not None
    assert html.unescape(srcdoc.group(1)) == message.html_body
    # The frame inherits the page's policy: the email's inline CSS by hash, no script.
    policy = response.headers["content-security-policy"]
    assert "script-src 'self';" in policy
    assert "unsafe-inline" not in policy
    styles = {html.unescape(v) for v in re.findall(r'style="([^"]*)"', message.html_body)}
    assert styles
    for style in styles:
        digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in policy

    assert client.get("/outbox/999999").status_code == 404
    assert client.get("/outbox/abc").status_code == 404
    lead = client_as(Role.regional_lead)
    assert lead.get(f"/outbox/{message.id}").status_code == 403


# --- in a browser: the figures move without a reload ----------------------------------------------


@pytest.fixture(scope="module")
def live_engine(live_server: LiveServer, live_database_url: str) -> Iterator[Engine]:
    engine = create_db_engine(live_database_url)
    yield engine
    engine.dispose()


def launch_in_live_database(engine: Engine) -> int:
    """25 more mailable contacts beside the shared registry's two (Wanjiru in Kenya,
    Lucía in Colombia; Peter bounces), and an alert to every active member, written by
    the signed-in staff member, approved by a colleague and launched."""
    with Session(engine) as session:
        forum = make_organization(session, name="Progress Forum", country="UGA")
        for number in range(25):
            make_contact(session, forum, email=f"progress{number}@ug.example.org")
        approver = make_user(session, Role.secretariat, email="progress.approver@example.org")
        author = accounts.find_user_by_email(session, STAFF_EMAIL)
        assert author is not None
        campaign = campaigns.create_campaign(
            session,
            accounts.principal_for(author),
            CampaignCreate.model_validate(APIC_ALERT | EVERYONE),
        )
        lifecycle.approve(session, accounts.principal_for(approver), campaign)
        lifecycle.launch(session, accounts.principal_for(author), campaign)
        session.commit()
        return campaign.id or 0


@pytest.mark.browser
def test_the_page_follows_the_sending_without_a_reload(
    page: Page, live_server: LiveServer, live_engine: Engine
) -> None:
    campaign_id = launch_in_live_database(live_engine)
    sign_in(page, live_server.url)
    page.goto(f"{live_server.url}/campaigns/{campaign_id}")
    handled = page.get_by_test_id("progress-handled")
    expect(handled).to_have_text("0 of 27 handled (0%)")
    expect(page.get_by_test_id("status")).to_have_text("Sending")
    expect(page.get_by_text("These figures update every few seconds.")).to_be_visible()
    page.evaluate("window.__stillTheSamePage = true")
    navigations = page.evaluate("performance.getEntriesByType('navigation').length")

    # A worker's batch, in this process, against the live server's database (the live
    # server's session factory is bound to it): first 10 messages, then the rest.
    settings = get_settings().model_copy(update={"send_batch_size": 10})
    assert send_campaign_batch(campaign_id, worker="test", settings=settings).sent == 10
    expect(handled).to_have_text("10 of 27 handled (37%)", timeout=10_000)
    expect(page.get_by_test_id("progress-queued")).to_have_text("17")
    assert send_campaign_batch(campaign_id, worker="test").sent == 17
    expect(handled).to_have_text("27 of 27 handled (100%)", timeout=10_000)
    expect(page.get_by_test_id("progress-sent")).to_have_text("27")
    expect(page.get_by_test_id("progress-queued")).to_have_text("0")
    expect(page.locator("#progress-bar")).to_have_attribute("value", "27")
    expect(page.get_by_test_id("status")).to_have_text("Sending")

    # The scan marks it sent: the badge and the live sentence follow, polling stops.
    with session_scope() as session:
        assert store.finish_campaigns(session) == [campaign_id]
    expect(page.get_by_test_id("status")).to_have_text("Sent", timeout=10_000)
    expect(page.get_by_test_id("progress-sentence")).to_have_text(
        "Finished: every message has been handled."
    )
    expect(page.get_by_role("link", name="Reload the page")).to_be_visible()
    assert page.evaluate("window.__stillTheSamePage") is True
    assert page.evaluate("performance.getEntriesByType('navigation').length") == navigations
    assert page.url.endswith(f"/campaigns/{campaign_id}")
