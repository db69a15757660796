"""Member sign-in by link through the pages: ask, open (nothing used up), sign in, portal."""

import logging
import re

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Page, expect
from sqlmodel import Session, col, select

from app.accounts.auth import SESSION_COOKIE
from app.core.db import session_scope
from app.core.settings import get_settings
from app.delivery.models import OutboxMessage
from app.members.models import Organization
from app.web.member_pages import RedactSignInLinks
from tests.accounts.test_magic_links import AMINA, emails_to, link_secret
from tests.factories import make_contact, make_organization
from tests.web.conftest import LiveServer

HAKI = "Haki Women's Forum"


@pytest.fixture
def haki(session: Session) -> Organization:
    organization = make_organization(
        session, name=HAKI, country="KEN", website="https://haki.example.org"
    )
    make_contact(session, organization, name="Amina Njeri", email=AMINA)
    make_contact(session, organization, name="Baraka Mwangi", email="baraka@haki.example.org")
    make_organization(session, name="Neighbour Forum", country="KEN")
    session.flush()
    return organization


def ask_for_link(client: TestClient, session: Session) -> str:
    page = client.post("/sign-in/member", data={"email": AMINA})
    assert page.status_code == 200
    assert "Check your inbox" in page.text
    return link_secret(emails_to(session, AMINA)[-1])


def test_the_staff_sign_in_page_leads_members_to_their_own(anonymous_client: TestClient) -> None:
    page = anonymous_client.get("/sign-in")
    assert 'href="/sign-in/member"' in page.text
    assert "Get a sign-in link by email" in page.text
    form = anonymous_client.get("/sign-in/member")
    assert form.status_code == 200
    assert 'name="email"' in form.text
    assert 'name="csrf_token"' not in form.text  # public, nothing to protect yet


def test_the_request_page_answers_alike_and_refuses_a_malformed_address(
    anonymous_client: TestClient, session: Session, haki: Organization
) -> None:
    unknown = anonymous_client.post("/sign-in/member", data={"email": "nobody@example.org"})
    assert unknown.status_code == 200
    assert "Check your inbox" in unknown.text
    assert emails_to(session, "nobody@example.org") == []
    malformed = anonymous_client.post("/sign-in/member", data={"email": "amina at haki"})
    assert malformed.status_code == 422
    assert "Enter your email address" in malformed.text
    assert session.scalars(select(OutboxMessage)).first() is None


def test_signing_in_by_link_ends_on_the_portal(
    anonymous_client: TestClient, session: Session, haki: Organization
) -> None:
    secret = ask_for_link(anonymous_client, session)
    opened = anonymous_client.get(f"/sign-in/link/{secret}")
    assert opened.status_code == 200
    assert "Sign in as Amina Njeri (Haki Women&#39;s Forum)" in opened.text
    assert opened.headers["cache-control"] == "no-store"
    assert SESSION_COOKIE not in anonymous_client.cookies

    signed_in = anonymous_client.post(
        f"/sign-in/link/{secret}", data={"organization_id": str(haki.id)}, follow_redirects=False
    )
    assert (signed_in.status_code, signed_in.headers["location"]) == (303, "/portal")
    cookie = signed_in.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie

    portal = anonymous_client.get("/portal")
    assert portal.status_code == 200
    assert "Signed in as Amina Njeri for Haki Women&#39;s Forum" in portal.text
    assert "https://haki.example.org" in portal.text
    assert "baraka@haki.example.org" in portal.text
    assert "Neighbour Forum" not in portal.text

    # The link worked once: opening or posting it again says so, kindly.
    for again in (
        anonymous_client.get(f"/sign-in/link/{secret}"),
        anonymous_client.post(f"/sign-in/link/{secret}", data={}),
    ):
        assert again.status_code == 404
        assert "This sign-in link does not work" in again.text
        assert 'href="/sign-in/member"' in again.text


def test_an_unknown_link_gets_a_friendly_page(anonymous_client: TestClient) -> None:
    for secret in ("not-a-real-secret", "x" * 500):
        for page in (
            anonymous_client.get(f"/sign-in/link/{secret}"),
            anonymous_client.post(f"/sign-in/link/{secret}", data={"organization_id": "9" * 30}),
        ):
            assert page.status_code == 404
            assert "Ask for a new link" in page.text


def test_an_address_of_two_organisations_chooses_on_the_page(
    anonymous_client: TestClient, session: Session, haki: Organization
) -> None:
    other = make_organization(session, name="Amani Legal Aid", country="TZA")
    make_contact(session, other, name="Amina N.", email=AMINA)
    session.flush()
    secret = ask_for_link(anonymous_client, session)
    page = anonymous_client.get(f"/sign-in/link/{secret}")
    assert page.text.count('type="radio"') == 2

    unchosen = anonymous_client.post(f"/sign-in/link/{secret}", data={})
    assert unchosen.status_code == 422
    assert "Choose the organisation" in unchosen.text
    chosen = anonymous_client.post(f"/sign-in/link/{secret}", data={"organization_id": other.id})
    assert chosen.status_code == 200  # followed to the portal
    assert "Signed in as Amina N. for Amani Legal Aid" in chosen.text


def test_staff_are_sent_from_the_portal_to_the_registry(client: TestClient) -> None:
    response = client.get("/portal", follow_redirects=False)
    assert (response.status_code, response.headers["location"]) == (303, "/")


def test_the_access_log_never_shows_a_link_secret() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/sign-in/link/s3cr3t-Value_x?utm=1", "1.1", 200),
        None,
    )
    assert RedactSignInLinks().filter(record)
    assert "s3cr3t" not in record.getMessage()
    assert "/sign-in/link/[redacted]?utm=1" in record.getMessage()


# --- in a real browser (last: the live server keeps the session factory for the module) ---


@pytest.fixture
def member_in_live_database(live_server: LiveServer) -> str:
    """A member contact, committed to the live server's database (its engine is the
    session factory's bind while the live server runs)."""
    with session_scope() as session:
        organization = make_organization(session, name=HAKI, country="KEN")
        make_contact(session, organization, name="Amina Njeri", email=AMINA)
    return AMINA


@pytest.mark.browser
def test_a_member_signs_in_by_link_in_a_browser(
    page: Page, live_server: LiveServer, member_in_live_database: str
) -> None:
    page.goto(f"{live_server.url}/sign-in")
    page.get_by_role("link", name="Get a sign-in link by email").click()
    expect(page).to_have_url(f"{live_server.url}/sign-in/member")
    page.get_by_label("Email").fill(member_in_live_database)
    page.get_by_role("button", name="Email me a sign-in link").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your inbox")

    with session_scope(writes=False) as session:
        message = session.scalars(
            select(OutboxMessage)
            .where(col(OutboxMessage.to_address) == member_in_live_database)
            .order_by(col(OutboxMessage.id).desc())
        ).first()
        assert message is not None
        link = re.search(r"\S+/sign-in/link/\S+", message.text_body)
    assert link is not None
    base_url = get_settings().public_base_url
    assert link.group(0).startswith(base_url)
    page.goto(live_server.url + link.group(0).removeprefix(base_url))

    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Sign in as Amina Njeri (Haki Women's Forum)"
    )
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{live_server.url}/portal")
    expect(page.get_by_test_id("signed-in-as")).to_have_text(
        "Signed in as Amina Njeri for Haki Women's Forum"
    )
    expect(page.get_by_role("heading", level=1)).to_contain_text(HAKI)
    expect(page.get_by_role("table")).to_contain_text(member_in_live_database)
    expect(page.locator("body")).not_to_contain_text("Amani Justice Network")
