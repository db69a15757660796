"""The member's portal: profile, contacts, her own preferences, the alerts received and
reporting an action on one, through a page session (cookie + CSRF) as a member has."""

import html
import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Page, expect
from sqlmodel import Session, col, select

from app.accounts import service as accounts
from app.accounts.auth import SESSION_COOKIE
from app.accounts.models import CredentialKind, User
from app.accounts.principal import Role
from app.campaigns.models import Campaign
from app.campaigns.topics import Topic
from app.core.audit import AuditEntry
from app.core.db import session_scope
from app.core.settings import get_settings
from app.core.types import utcnow
from app.delivery.models import Delivery, DeliveryState, OutboxMessage
from app.members.models import Contact, Organization, OrganizationType, SubscriptionStatus
from app.reports.schemas import ParticipationQuery
from app.reports.service import participation
from app.tracking.models import ActionReport
from tests.factories import STAFF, make_contact, make_organization, make_user
from tests.tracking.conftest import make_campaign, make_delivery
from tests.web.conftest import LiveServer
from tests.web.test_pages import assert_every_control_labelled

TODAY = date.today()


@pytest.fixture(autouse=True)
def _quick(quick_password_hashing: None) -> None:
    """Alerts need an author: a staff user."""


@dataclass
class Member:
    user: User
    organization: Organization
    contact: Contact  # the one she signs in as
    colleague: Contact
    client: TestClient
    csrf: str

    def post(self, path: str, data: dict[str, Any] | None = None) -> Any:
        return self.client.post(path, data={"csrf_token": self.csrf, **(data or {})})


def csrf_in(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, page[:500]
    return html.unescape(match.group(1))


@pytest.fixture
def member(anonymous_client: TestClient, session: Session) -> Member:
    """Amina, signed in to the pages (a session cookie) for Kenya Rights Network."""
    organization = make_organization(
        session,
        name="Kenya Rights Network",
        acronym="KRN",
        country="KEN",
        languages=["sw", "en"],
        focus_areas=["victims-rights"],
        website="https://krn.example.org",
    )
    contact = make_contact(
        session, organization, name="Amina Diallo", email="amina@krn.example.org"
    )
    colleague = make_contact(
        session, organization, name="Peter Kamau", email="peter@krn.example.org"
    )
    user = make_user(
        session,
        Role.member,
        email=contact.email,
        organization_id=organization.id,
        contact_id=contact.id,
    )
    secret, _ = accounts.issue_credential(session, user, CredentialKind.session)
    session.flush()
    anonymous_client.cookies.set(SESSION_COOKIE, secret)
    anonymous_client.follow_redirects = False
    csrf = csrf_in(anonymous_client.get("/portal").text)
    return Member(user, organization, contact, colleague, anonymous_client, csrf)


@pytest.fixture
def elsewhere(session: Session) -> Contact:
    """A contact of another organisation, in the same country."""
    other = make_organization(session, name="Neighbour Forum", country="KEN")
    return make_contact(session, other, name="Someone Else", email="someone@neighbour.example.org")


def audit_entries(session: Session, action: str) -> list[AuditEntry]:
    session.expire_all()
    return list(
        session.scalars(
            select(AuditEntry).where(col(AuditEntry.action) == action).order_by(col(AuditEntry.id))
        )
    )


def field_error(page: str, name: str) -> str:
    """The message shown beside a field."""
    match = re.search(rf'<p class="field__error" id="{name}-error">([^<]*)</p>', page)
    assert match, f"no error beside {name}"
    return html.unescape(match.group(1))


# --- the front page, and who may see it ---------------------------------------------------


def test_the_portal_shows_the_profile_the_contacts_and_the_latest_alerts(
    member: Member, session: Session, elsewhere: Contact
) -> None:
    campaign = make_campaign(session)
    make_delivery(session, campaign, member.contact)

    page = member.client.get("/portal")

    assert page.status_code == 200
    text = html.unescape(page.text)
    assert "Signed in as Amina Diallo for Kenya Rights Network" in text
    assert "https://krn.example.org" in text
    assert "peter@krn.example.org" in text
    assert 'href="/portal/profile"' in text
    assert 'href="/portal/contacts/new"' in text
    assert f'href="/portal/contacts/{member.colleague.id}/edit"' in text
    assert f'href="/portal/contacts/{member.colleague.id}/remove"' in text
    # She cannot remove the contact she signs in as: no link to try.
    assert f'href="/portal/contacts/{member.contact.id}/remove"' not in text
    assert "Ratify APIC" in text  # the subject of the English variant she received
    assert f'href="/portal/alerts/{campaign.id}/report"' in text
    assert "Someone Else" not in text
    assert "editing these pages yourself is coming soon" not in text


def test_an_organisation_without_alerts_is_told_what_to_expect(member: Member) -> None:
    page = member.client.get("/portal/alerts")
    assert page.status_code == 200
    assert "has not received any action alert yet" in page.text


@pytest.mark.parametrize(
    "path",
    [
        "/portal",
        "/portal/profile",
        "/portal/contacts/new",
        "/portal/contacts/1/edit",
        "/portal/contacts/1/remove",
        "/portal/preferences",
        "/portal/alerts",
        "/portal/alerts/1/report",
    ],
)
def test_staff_are_sent_home(client: TestClient, path: str) -> None:
    response = client.get(path, follow_redirects=False)
    assert (response.status_code, response.headers["location"]) == (303, "/")


def test_forms_without_the_csrf_token_are_refused(member: Member, session: Session) -> None:
    for path, data in [
        ("/portal/profile", {"name": "Taken Over", "type": "ngo", "languages": ["en"]}),
        ("/portal/contacts/new", {"name": "Intruder", "email": "x@example.org"}),
        (f"/portal/contacts/{member.colleague.id}/remove", {}),
        ("/portal/preferences", {"alerts": "stop", "language": "en"}),
    ]:
        response = member.client.post(path, data=data)
        assert response.status_code == 403, path
    session.expire_all()
    assert member.organization.name == "Kenya Rights Network"
    assert session.get(Contact, member.colleague.id) is not None
    assert session.scalars(select(Contact).where(col(Contact.name) == "Intruder")).first() is None
    assert member.contact.subscription_status == "subscribed"


# --- the profile --------------------------------------------------------------------------


def test_the_profile_form_holds_the_fields_a_member_may_change(member: Member) -> None:
    page = member.client.get("/portal/profile")

    assert page.status_code == 200
    assert_every_control_labelled(page.text)
    for name in ("name", "acronym", "type", "languages", "focus_areas", "website", "address"):
        assert f'name="{name}"' in page.text
    for staff_only in ("country", "membership_status", "notes", "joined_on"):
        assert f'name="{staff_only}"' not in page.text
    assert 'value="victims-rights"' in page.text
    assert 'value="sw" checked' in page.text


def test_saving_the_profile_changes_it_through_the_service_and_confirms(
    member: Member, session: Session
) -> None:
    response = member.post(
        "/portal/profile",
        {
            "name": "Kenya Rights Network",
            "acronym": "KRN-K",
            "type": "network",
            "languages": ["en", "sw", "fr"],
            "focus_areas": "victims rights, universal jurisdiction",
            "website": "https://krn.example.org/en",
            "address": "PO Box 1, Nairobi",
        },
    )

    assert (response.status_code, response.headers["location"]) == (303, "/portal?saved=profile")
    session.expire_all()
    organization = member.organization
    assert organization.acronym == "KRN-K"
    assert organization.type is OrganizationType.network
    # Still ticked: kept in their place (most used first); new ones after.
    assert organization.languages == ["sw", "en", "fr"]
    assert organization.focus_areas == ["universal-jurisdiction", "victims-rights"]
    assert organization.address == "PO Box 1, Nairobi"
    [entry] = audit_entries(session, "organization.update")
    assert entry.actor == f"user:{member.user.id}"
    assert (entry.after or {})["acronym"] == "KRN-K"
    confirmed = member.client.get(response.headers["location"])
    assert "Your changes are saved." in confirmed.text


def test_a_bad_profile_shows_each_error_beside_its_field_and_keeps_nothing(
    member: Member, session: Session
) -> None:
    response = member.post(
        "/portal/profile",
        {
            "name": "  ",
            "acronym": "New acronym",
            "type": "government",
            "focus_areas": "victims rights!",
            "website": "ftp://krn.example.org",
        },
    )

    assert response.status_code == 422
    assert field_error(response.text, "name") == "Fill in this field."
    assert field_error(response.text, "languages") == "Choose at least one working language."
    assert field_error(response.text, "type") == "Choose one of the options."
    assert "is not a focus-area tag" in field_error(response.text, "focus_areas")
    assert "http://" in field_error(response.text, "website")
    assert 'value="New acronym"' in response.text  # what she typed, to correct
    session.expire_all()
    assert member.organization.acronym == "KRN"
    assert member.organization.website == "https://krn.example.org"
    assert audit_entries(session, "organization.update") == []


# --- contacts -----------------------------------------------------------------------------


def test_a_member_adds_a_contact(member: Member, session: Session) -> None:
    form = member.client.get("/portal/contacts/new")
    assert form.status_code == 200
    assert_every_control_labelled(form.text)

    response = member.post(
        "/portal/contacts/new",
        {
            "name": "Grace Wanjiku",
            "email": "Grace@KRN.example.org",
            "role": "legal",
            "language": "fr",
        },
    )

    assert (response.status_code, response.headers["location"]) == (
        303,
        "/portal?saved=contact_added",
    )
    added = session.scalars(select(Contact).where(col(Contact.name) == "Grace Wanjiku")).one()
    assert (added.organization_id, added.email, added.role, added.language) == (
        member.organization.id,
        "grace@krn.example.org",
        "legal",
        "fr",
    )
    [entry] = audit_entries(session, "contact.create")[-1:]
    assert entry.actor == f"user:{member.user.id}"
    assert "The contact is added." in member.client.get(response.headers["location"]).text


def test_a_contact_with_errors_is_not_added(member: Member, session: Session) -> None:
    before = len(audit_entries(session, "contact.create"))
    bad = member.post(
        "/portal/contacts/new", {"name": "", "email": "not an address", "role": "boss"}
    )
    assert bad.status_code == 422
    assert field_error(bad.text, "name") == "Fill in this field."
    assert field_error(bad.text, "email") == "Enter an email address, like name@example.org."
    assert field_error(bad.text, "role") == "Choose one of the options."

    taken = member.post(
        "/portal/contacts/new",
        {
            "name": "Peter Again",
            "email": "peter@krn.example.org",
            "role": "other",
            "language": "en",
        },
    )
    assert taken.status_code == 409
    assert "already has a contact with email" in field_error(taken.text, "email")
    assert len(audit_entries(session, "contact.create")) == before


def test_a_member_changes_a_contact(member: Member, session: Session) -> None:
    path = f"/portal/contacts/{member.colleague.id}/edit"
    form = member.client.get(path)
    assert form.status_code == 200
    assert 'value="Peter Kamau"' in form.text

    response = member.post(
        path,
        {
            "name": "Peter K. Kamau",
            "email": "peter@krn.example.org",
            "role": "director",
            "language": "sw",
        },
    )

    assert (response.status_code, response.headers["location"]) == (
        303,
        "/portal?saved=contact_changed",
    )
    session.expire_all()
    assert (member.colleague.name, member.colleague.role, member.colleague.language) == (
        "Peter K. Kamau",
        "director",
        "sw",
    )
    [entry] = audit_entries(session, "contact.update")
    assert entry.actor == f"user:{member.user.id}"

    bad = member.post(path, {"name": "Peter", "email": "", "role": "director", "language": "sw"})
    assert bad.status_code == 422
    assert field_error(bad.text, "email") == "Fill in this field."
    session.expire_all()
    assert member.colleague.name == "Peter K. Kamau"


def test_another_organisations_contact_is_not_found(
    member: Member, session: Session, elsewhere: Contact
) -> None:
    data = {"name": "Hijacked", "email": "someone@neighbour.example.org", "role": "other"}
    for response in (
        member.client.get(f"/portal/contacts/{elsewhere.id}/edit"),
        member.post(f"/portal/contacts/{elsewhere.id}/edit", {**data, "language": "en"}),
        member.client.get(f"/portal/contacts/{elsewhere.id}/remove"),
        member.post(f"/portal/contacts/{elsewhere.id}/remove"),
        member.client.get("/portal/contacts/not-a-number/edit"),
        member.client.get(f"/portal/contacts/{'9' * 20}/remove"),
    ):
        assert response.status_code == 404
        assert "Your organisation has no such contact." in response.text
        assert 'href="/portal"' in response.text
    session.expire_all()
    assert session.get(Contact, elsewhere.id) is not None
    assert elsewhere.name == "Someone Else"


def test_removing_a_contact_asks_first(member: Member, session: Session) -> None:
    colleague_id = member.colleague.id
    path = f"/portal/contacts/{colleague_id}/remove"
    confirm = member.client.get(path)
    assert confirm.status_code == 200
    assert "Remove Peter Kamau?" in confirm.text
    assert "This cannot be undone" in confirm.text
    assert session.get(Contact, colleague_id) is not None

    response = member.post(path)

    assert (response.status_code, response.headers["location"]) == (
        303,
        "/portal?saved=contact_removed",
    )
    session.expire_all()
    assert session.get(Contact, colleague_id) is None
    [entry] = audit_entries(session, "contact.delete")
    assert entry.actor == f"user:{member.user.id}"


def test_the_contact_she_signs_in_as_cannot_be_removed(member: Member, session: Session) -> None:
    response = member.post(f"/portal/contacts/{member.contact.id}/remove")

    assert response.status_code == 409
    assert "A member signs in as this contact" in response.text
    session.expire_all()
    assert session.get(Contact, member.contact.id) is not None
    assert audit_entries(session, "contact.delete") == []


# --- her own preferences ------------------------------------------------------------------


def test_preferences_set_the_language_and_topics_of_her_address(
    member: Member, session: Session
) -> None:
    # The same person listed by another organisation: one address, one choice.
    other = make_organization(session, name="Amani Legal Aid", country="TZA")
    same_address = make_contact(session, other, name="Amina D.", email=member.contact.email)
    page = member.client.get("/portal/preferences")
    assert page.status_code == 200
    assert_every_control_labelled(page.text)
    assert "amina@krn.example.org" in page.text

    response = member.post(
        "/portal/preferences",
        {"alerts": "receive", "language": "fr", "topics": ["apic", "victims"]},
    )

    assert (response.status_code, response.headers["location"]) == (
        303,
        "/portal/preferences?saved=1",
    )
    session.expire_all()
    unwanted = sorted(set(Topic) - {Topic.apic, Topic.victims})
    for contact in (member.contact, same_address):
        assert contact.language == "fr"
        assert sorted(contact.topics_opted_out) == unwanted
    entries = audit_entries(session, "contact.update")
    assert {entry.actor for entry in entries} == {f"user:{member.user.id}"}
    assert "preferences-saved" in member.client.get(response.headers["location"]).text


def test_preferences_never_reach_an_address_she_did_not_sign_in_with(
    member: Member, session: Session, elsewhere: Contact
) -> None:
    # She gives her own contact someone else's address (unverified), then asks for
    # alerts: that person unsubscribed, and only that person may subscribe again.
    elsewhere.subscription_status = SubscriptionStatus.unsubscribed
    session.flush()
    member.contact.email = elsewhere.email
    session.flush()

    response = member.post(
        "/portal/preferences", {"alerts": "receive", "language": "fr", "topics": ["apic"]}
    )

    assert response.status_code == 409
    assert "Ask for a sign-in link at that address" in response.text
    session.expire_all()
    assert elsewhere.subscription_status is SubscriptionStatus.unsubscribed
    assert elsewhere.language == "en"
    assert member.contact.language == "en"


def test_preferences_refuse_a_language_not_offered(member: Member, session: Session) -> None:
    response = member.post(
        "/portal/preferences", {"alerts": "receive", "language": "xx", "topics": ["apic"]}
    )
    assert response.status_code == 422
    assert "Choose one of the options." in response.text
    session.expire_all()
    assert member.contact.language == "en"
    assert member.contact.topics_opted_out == []


# --- alerts received, and reporting an action ---------------------------------------------


@pytest.fixture
def alerts(member: Member, session: Session, elsewhere: Contact) -> dict[str, Campaign]:
    """Three alerts: one reached Amina in French, one only her colleague, and one
    reached another organisation only."""
    to_her = make_campaign(session, title="Ratify APIC before the Assembly")
    make_delivery(session, to_her, member.contact, language="fr")
    make_delivery(session, to_her, member.colleague)
    to_colleague = make_campaign(session, title="Kampala amendments")
    make_delivery(session, to_colleague, member.colleague, sent_at=utcnow() - timedelta(hours=1))
    not_to_them = make_campaign(session, title="Not for Kenya Rights Network")
    make_delivery(session, not_to_them, elsewhere)
    # Queued but not sent yet: not received.
    make_delivery(session, not_to_them, member.contact, state=DeliveryState.queued)
    return {"to_her": to_her, "to_colleague": to_colleague, "not_to_them": not_to_them}


def test_the_alerts_received_are_listed_latest_first(
    member: Member, alerts: dict[str, Campaign]
) -> None:
    page = member.client.get("/portal/alerts")

    assert page.status_code == 200
    text = html.unescape(page.text)
    # The French subject: the alert reached her in French.
    assert "Ratifiez l'APIC" in text
    assert text.index("Ratify APIC") < text.index("Ratifiez l'APIC")  # colleague's is newer
    assert f'href="/portal/alerts/{alerts["to_colleague"].id}/report"' in text
    assert f'href="/portal/alerts/{alerts["not_to_them"].id}/report"' not in text
    assert "No action reported yet" in text


def test_subjects_are_listed_as_she_read_them(member: Member, session: Session) -> None:
    # Subjects hold tokens; the list shows them filled in for her, in her language.
    campaign = make_campaign(session, title="Personalised")
    campaign.variants[1].subject = "{{ country.name }} : ratifiez l'APIC"
    session.flush()
    make_delivery(session, campaign, member.contact, language="fr")

    text = html.unescape(member.client.get("/portal/alerts").text)

    assert "Kenya : ratifiez l'APIC" in text
    assert "{{" not in text


def test_an_alert_not_received_is_not_found(member: Member, alerts: dict[str, Campaign]) -> None:
    for path in (
        f"/portal/alerts/{alerts['not_to_them'].id}/report",
        "/portal/alerts/999999/report",
        "/portal/alerts/abc/report",
    ):
        response = member.client.get(path)
        assert response.status_code == 404
        assert "Your organisation did not receive this alert." in response.text
    refused = member.post(
        f"/portal/alerts/{alerts['not_to_them'].id}/report",
        {"action_type": "met_officials", "action_date": TODAY.isoformat()},
    )
    assert refused.status_code == 404


def report_data(**fields: str) -> dict[str, str]:
    return {
        "action_type": "met_officials",
        "action_date": TODAY.isoformat(),
        "engaged_with": "Ministry of Foreign Affairs",
        "note": "They will table the APIC bill.",
    } | fields


def test_a_report_through_the_portal_counts_everywhere(
    member: Member, session: Session, alerts: dict[str, Campaign]
) -> None:
    campaign = alerts["to_her"]
    path = f"/portal/alerts/{campaign.id}/report"
    form = member.client.get(path)
    assert form.status_code == 200
    assert_every_control_labelled(form.text)
    assert "Ratifiez l&#39;APIC" in form.text

    response = member.post(path, report_data())

    assert (response.status_code, response.headers["location"]) == (303, f"{path}?reported=1")
    own_delivery = session.scalars(
        select(Delivery).where(
            col(Delivery.campaign_id) == campaign.id,
            col(Delivery.contact_id) == member.contact.id,
        )
    ).one()
    [report] = session.scalars(select(ActionReport)).all()
    assert (report.delivery_id, report.contact_id, report.organization_id) == (
        own_delivery.id,
        member.contact.id,
        member.organization.id,
    )
    [entry] = audit_entries(session, "alert.action_reported")
    assert entry.actor == f"user:{member.user.id}"
    assert (entry.after or {})["reported_by"] == "Amina Diallo"

    shown = member.client.get(response.headers["location"])
    assert "your report is recorded" in shown.text
    assert "They will table the APIC bill." in shown.text
    actions = member.client.get("/portal/actions")
    assert "Ministry of Foreign Affairs" in actions.text
    assert "Action reported" in member.client.get("/portal/alerts").text
    figures = participation(session, STAFF, ParticipationQuery(campaign_id=campaign.id or 0))
    assert (figures.total.acted, figures.total.organizations_acted) == (1, 1)


def test_she_reports_for_an_alert_only_her_colleague_received(
    member: Member, session: Session, alerts: dict[str, Campaign]
) -> None:
    campaign = alerts["to_colleague"]

    response = member.post(f"/portal/alerts/{campaign.id}/report", report_data())

    assert response.status_code == 303
    [report] = session.scalars(select(ActionReport)).all()
    colleague_delivery = session.get_one(Delivery, report.delivery_id)
    assert colleague_delivery.contact_id == member.colleague.id
    assert report.contact_id == member.contact.id  # she reported it, not Peter
    figures = participation(session, STAFF, ParticipationQuery(campaign_id=campaign.id or 0))
    assert figures.total.organizations_acted == 1


def test_a_bad_report_shows_errors_beside_fields_and_records_nothing(
    member: Member, session: Session, alerts: dict[str, Campaign]
) -> None:
    path = f"/portal/alerts/{alerts['to_her'].id}/report"
    future = (TODAY + timedelta(days=30)).isoformat()

    response = member.post(path, report_data(action_type="", action_date=future))

    assert response.status_code == 422
    assert field_error(response.text, "action_type") == "Fill in this field."
    assert field_error(response.text, "action_date") == "The date cannot be in the future."
    assert 'value="Ministry of Foreign Affairs"' in response.text
    assert session.scalars(select(ActionReport)).first() is None
    assert audit_entries(session, "alert.action_reported") == []


# --- in a real browser (last: the live server keeps the session factory for the module) -----

KENYA_RIGHTS = "Kenya Rights Network"
AMINA = "amina@krn.example.org"


@pytest.fixture
def member_with_an_alert(live_server: LiveServer) -> int:
    """A member organisation with a contact, and an alert sent to her, committed."""
    with session_scope() as session:
        organization = make_organization(session, name=KENYA_RIGHTS, country="KEN")
        contact = make_contact(session, organization, name="Amina Diallo", email=AMINA)
        campaign = make_campaign(session, title="Ratify APIC before the Assembly")
        make_delivery(session, campaign, contact)
        return campaign.id or 0


def sign_in_by_link(page: Page, base_url: str, email: str) -> None:
    """Ask for a link, open it from the outbox, and use it, as a member does."""
    page.goto(f"{base_url}/sign-in/member")
    page.get_by_label("Email").fill(email)
    page.get_by_role("button", name="Email me a sign-in link").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your inbox")
    with session_scope(writes=False) as session:
        message = session.scalars(
            select(OutboxMessage)
            .where(col(OutboxMessage.to_address) == email)
            .order_by(col(OutboxMessage.id).desc())
        ).first()
        assert message is not None
        link = re.search(r"\S+/sign-in/link/\S+", message.text_body)
    assert link is not None
    page.goto(base_url + link.group(0).removeprefix(get_settings().public_base_url))
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{base_url}/portal")


@pytest.mark.browser
def test_a_member_edits_her_profile_and_reports_an_action_in_a_browser(
    page: Page, live_server: LiveServer, member_with_an_alert: int
) -> None:
    sign_in_by_link(page, live_server.url, AMINA)

    page.get_by_role("link", name="Edit the profile").click()
    page.get_by_label("Acronym").fill("KRN")
    page.get_by_label("Website").fill("krn.example.org")
    page.get_by_role("button", name="Save the changes").click()
    # Refused beside the field, kept as typed.
    expect(page.locator("#website-error")).to_contain_text("http")
    page.get_by_label("Website").fill("https://krn.example.org")
    page.get_by_role("button", name="Save the changes").click()
    expect(page).to_have_url(f"{live_server.url}/portal?saved=profile")
    expect(page.get_by_test_id("portal-notice")).to_have_text("Your changes are saved.")
    expect(page.get_by_role("heading", level=1)).to_contain_text("KRN")

    page.get_by_role("link", name="Report an action").first.click()
    expect(page).to_have_url(f"{live_server.url}/portal/alerts/{member_with_an_alert}/report")
    page.get_by_label("What you did").select_option("public_statement")
    page.get_by_label("Whom you engaged").fill("National press")
    page.get_by_role("button", name="Send the report").click()
    expect(page.get_by_test_id("report-recorded")).to_be_visible()
    expect(page.get_by_test_id("reports")).to_contain_text("National press")

    page.goto(f"{live_server.url}/portal/actions")
    expect(page.get_by_test_id("reported-actions")).to_contain_text("National press")
    with session_scope(writes=False) as session:
        organization = session.scalars(
            select(Organization).where(col(Organization.name) == KENYA_RIGHTS)
        ).one()
        assert organization.website == "https://krn.example.org"
