"""The membership application pages: the public form (in-process and in a browser) and
the staff page that decides applications, signed in by cookie with CSRF tokens."""

import html
import re
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Page, expect
from sqlmodel import Session, col, func, select

from app.accounts.principal import Role
from app.delivery.models import OutboxMessage
from app.members.models import MembershipApplication, MembershipStatus, Organization
from tests.factories import TEST_PASSWORD, make_organization, make_user
from tests.web.conftest import LiveServer
from tests.web.test_pages import assert_every_control_labelled, assert_html_page

ClientAs = Callable[..., TestClient]


def form(**overrides: Any) -> dict[str, Any]:
    """What the browser sends for a filled-in form."""
    values: dict[str, Any] = {
        "organization_name": "Kisumu Justice Initiative",
        "acronym": "KJI",
        "country": "KEN",
        "type": "ngo",
        "languages": ["en", "sw"],
        "focus_areas": "Victims rights, universal jurisdiction",
        "website": "https://kji.example.org",
        "address": "Oginga Odinga Street\nKisumu",
        "contact_name": "Otieno Were",
        "contact_email": "otieno@kji.example.org",
        "contact_role": "focal_point",
        "contact_language": "en",
        "motivation": "We work with survivors in western Kenya.",
        "comment": "",
    }
    values.update(overrides)
    return values


def applications_count(session: Session) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(MembershipApplication)) or 0


def organizations_named(session: Session, name: str) -> list[Organization]:
    session.expire_all()
    return list(session.scalars(select(Organization).where(Organization.name == name)).all())


def csrf_token(page_html: str) -> str:
    match = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page_html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def sign_in_by_cookie(client: TestClient, email: str, next_path: str = "/applications") -> None:
    response = client.post(
        "/sign-in",
        data={"email": email, "password": TEST_PASSWORD, "next": next_path},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == next_path
    assert "coalition_session" in client.cookies


# --- the public form ------------------------------------------------------------------


def test_the_form_is_public_labelled_and_linked_from_sign_in(
    anonymous_client: TestClient,
) -> None:
    page = assert_html_page(anonymous_client.get("/apply"))
    assert "<title>Apply for membership · Coalition for the ICC</title>" in page
    assert 'action="/apply"' in page
    assert '<option value="KEN">Kenya</option>' in page
    assert 'name="comment"' in page  # the honeypot, hidden from people by the CSS
    assert 'value="en" checked' in page  # English is offered first and pre-chosen
    assert_every_control_labelled(page)
    assert 'href="/apply"' in anonymous_client.get("/sign-in").text


def test_a_filled_form_applies_and_thanks(anonymous_client: TestClient, session: Session) -> None:
    response = anonymous_client.post("/apply", data=form(), follow_redirects=False)
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/apply/thank-you"
    thanks = assert_html_page(anonymous_client.get("/apply/thank-you"))
    assert "Thank you for applying" in thanks

    [organization] = organizations_named(session, "Kisumu Justice Initiative")
    assert organization.membership_status is MembershipStatus.applicant
    assert organization.languages == ["en", "sw"]
    assert organization.focus_areas == ["universal-jurisdiction", "victims-rights"]
    assert organization.address == "Oginga Odinga Street\nKisumu"
    assert applications_count(session) == 1


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("organization_name", "", "This field is required."),
        ("country", "", "This field is required."),
        ("country", "ZZQ", "Unknown country code"),
        ("contact_email", "otieno-at-kji", "not a valid email address"),
        ("website", "kji.example.org", "Must be an http:// or https:// address"),
        ("focus_areas", "victims' rights", "is not a focus-area tag"),
        ("languages", [], "Choose at least one working language."),
        ("motivation", "x" * 5001, "at most 5000 characters"),
    ],
)
def test_errors_show_beside_the_field_and_nothing_is_kept(
    anonymous_client: TestClient, session: Session, field: str, value: Any, message: str
) -> None:
    response = anonymous_client.post("/apply", data=form(**{field: value}))
    page = assert_html_page(response, status=422)
    assert "Your application could not be sent yet" in page
    beside = re.search(rf'<p class="field__error" id="{field}-error">([^<]*)</p>', page)
    assert beside, f"no error beside {field}"
    assert message in html.unescape(beside.group(1))
    assert f'href="#f-{field}"' in page  # the summary links to the field
    # What was typed is kept for correcting.
    assert 'value="otieno@kji.example.org"' in page or field == "contact_email"
    assert organizations_named(session, "Kisumu Justice Initiative") == []
    assert applications_count(session) == 0


def test_a_registered_name_is_refused_on_the_page(
    anonymous_client: TestClient, session: Session
) -> None:
    make_organization(session, name="Kisumu Justice Initiative", country="KEN")
    session.flush()
    page = assert_html_page(anonymous_client.post("/apply", data=form()), status=409)
    assert 'id="organization_name-error"' in page
    assert "already a member or has applied" in page
    assert applications_count(session) == 0


def test_the_honeypot_pretends_success_and_keeps_nothing(
    anonymous_client: TestClient, session: Session
) -> None:
    response = anonymous_client.post(
        "/apply", data=form(comment="Buy cheap watches"), follow_redirects=False
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/apply/thank-you"
    assert organizations_named(session, "Kisumu Justice Initiative") == []
    assert applications_count(session) == 0


# --- deciding, signed in by cookie --------------------------------------------------------


@pytest.fixture
def pending(anonymous_client: TestClient, session: Session) -> dict[str, int]:
    """Two pending applications, from Kenya (Africa) and France (Europe)."""
    ids = {}
    for key, name, country in (
        ("kenya", "Kisumu Justice Initiative", "KEN"),
        ("france", "Lyon Justice", "FRA"),
    ):
        response = anonymous_client.post(
            "/api/applications",
            json={
                "organization_name": name,
                "country": country,
                "contact_name": "Applicant",
                "contact_email": f"applicant@{key}.example.org",
                "motivation": f"Motivation of {name}",
            },
        )
        assert response.status_code == 201, response.text
        ids[key] = response.json()["id"]
    return ids


def test_staff_approve_through_the_page_with_the_csrf_token(
    anonymous_client: TestClient, session: Session, pending: dict[str, int]
) -> None:
    user = make_user(session, Role.secretariat, email="decider@example.org")
    session.flush()
    sign_in_by_cookie(anonymous_client, user.email)
    page = assert_html_page(anonymous_client.get("/applications"))
    assert '<span data-testid="total">2</span>' in page
    for text in ("Kisumu Justice Initiative", "Kenya", "Africa", "Motivation of Lyon Justice"):
        assert text in page
    assert_every_control_labelled(page)
    token = csrf_token(page)
    application_id = pending["kenya"]
    url = f"/applications/{application_id}/approve"

    # Without the token (or with a wrong one) a cookie session changes nothing.
    assert anonymous_client.post(url, follow_redirects=False).status_code == 403
    wrong = anonymous_client.post(url, data={"csrf_token": "0" * 64}, follow_redirects=False)
    assert wrong.status_code == 403
    assert session.get_one(MembershipApplication, application_id).decision is None

    done = anonymous_client.post(url, data={"csrf_token": token}, follow_redirects=False)
    assert done.status_code == 303, done.text
    assert done.headers["location"] == f"/applications?approved={application_id}"
    after = assert_html_page(anonymous_client.get(done.headers["location"]))
    assert "The application of Kisumu Justice Initiative was approved." in after
    assert '<span data-testid="total">1</span>' in after

    [organization] = organizations_named(session, "Kisumu Justice Initiative")
    assert organization.membership_status is MembershipStatus.active
    welcome = session.scalars(
        select(OutboxMessage).where(col(OutboxMessage.to_address) == "applicant@kenya.example.org")
    ).one()
    assert welcome.purpose == "welcome"

    # Approving again: the page says why, nothing more is sent.
    again = anonymous_client.post(url, data={"csrf_token": token}, follow_redirects=False)
    assert "already approved" in assert_html_page(again, status=409)


def test_staff_decline_through_the_page_needs_a_reason(
    anonymous_client: TestClient, session: Session, pending: dict[str, int]
) -> None:
    user = make_user(session, Role.secretariat, email="decider@example.org")
    session.flush()
    sign_in_by_cookie(anonymous_client, user.email)
    token = csrf_token(anonymous_client.get("/applications").text)
    application_id = pending["france"]
    url = f"/applications/{application_id}/decline"

    empty = anonymous_client.post(url, data={"csrf_token": token, "reason": "  "})
    page = assert_html_page(empty, status=422)
    assert f'id="reason-{application_id}-error"' in page
    assert "Give a reason" in page
    assert session.get_one(MembershipApplication, application_id).decision is None

    done = anonymous_client.post(
        url,
        data={"csrf_token": token, "reason": "Please apply through your national network."},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    assert "was declined" in anonymous_client.get(done.headers["location"]).text
    session.expire_all()
    row = session.get_one(MembershipApplication, application_id)
    assert row.decline_reason == "Please apply through your national network."
    assert session.get_one(Organization, row.organization_id).membership_status == "archived"


def test_a_lead_sees_and_decides_only_her_regions_applications(
    client_as: ClientAs, session: Session, pending: dict[str, int]
) -> None:
    lead = client_as(Role.regional_lead, regions=["africa"])
    page = assert_html_page(lead.get("/applications"))
    assert "Kisumu Justice Initiative" in page
    assert "Lyon Justice" not in page
    # A bearer client needs no CSRF token; out of her regions is "not found".
    refused = lead.post(f"/applications/{pending['france']}/approve", follow_redirects=False)
    assert refused.status_code == 404
    assert session.get_one(MembershipApplication, pending["france"]).decision is None


def test_the_staff_page_is_for_staff_only(
    anonymous_client: TestClient, client_as: ClientAs, pending: dict[str, int]
) -> None:
    response = anonymous_client.get("/applications", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/sign-in?next=")
    member = client_as(Role.member)
    assert member.get("/applications").status_code == 403
    assert member.post(f"/applications/{pending['kenya']}/approve").status_code == 403


# --- in a browser ---------------------------------------------------------------------------


@pytest.mark.browser
def test_applying_in_a_browser(page: Page, live_server: LiveServer) -> None:
    page.goto(f"{live_server.url}/sign-in")
    page.locator("#main").get_by_role("link", name="Apply for membership").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Apply for membership")

    page.get_by_label("Name of the organisation").fill("Eldoret Peace Network")
    page.get_by_label("Acronym").fill("EPN")
    page.get_by_label("Country").select_option(label="Kenya")
    page.get_by_label("Type of organisation").select_option(label="Network")
    page.get_by_label("Swahili").check()
    page.get_by_label("Focus areas").fill("peace building, victims rights")
    page.get_by_label("Website").fill("epn.example.org")  # no scheme: refused
    page.get_by_label("Your name").fill("Chebet Kiprono")
    page.get_by_label("Your email address").fill("chebet@epn.example.org")
    page.get_by_label("Motivation").fill("We train community paralegals.")
    page.get_by_role("button", name="Send the application").click()

    expect(page.get_by_role("alert")).to_contain_text("Website")
    expect(page.get_by_label("Website")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Your name")).to_have_value("Chebet Kiprono")
    page.get_by_label("Website").fill("https://epn.example.org")
    page.get_by_role("button", name="Send the application").click()

    expect(page).to_have_url(f"{live_server.url}/apply/thank-you")
    expect(page.get_by_role("heading", level=1)).to_have_text("Thank you for applying")
