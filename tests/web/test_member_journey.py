"""A member's whole journey in a real browser, in French and in Arabic: she asks for a
sign-in link on the French (or Arabic) page, gets the email in that language in the
outbox, signs in with it, edits her organisation's profile, reports an action on the
alert she received, and unsubscribes.

Every label and button is looked up through the catalogue of the language, so the
test fails if a page shows the English text instead, or the catalogue lacks it.
"""

import re

import pytest
from playwright.sync_api import Page, expect
from sqlmodel import col, select

from app.core.db import session_scope
from app.core.settings import get_settings
from app.delivery.models import OutboxMessage
from app.i18n import translations
from app.members.models import Contact, Organization, SubscriptionStatus
from app.tracking.models import ActionReport
from tests.factories import make_contact, make_organization
from tests.tracking.conftest import make_campaign, make_delivery
from tests.web.conftest import LiveServer, screenshot

pytestmark = pytest.mark.browser

MEMBERS = {
    "fr": ("Ligue ivoirienne des droits humains", "CIV", "Awa Koné", "awa@lidho.example.org"),
    "ar": ("الشبكة الأردنية للعدالة", "JOR", "ليلى حداد", "layla@jordan.example.org"),
}


@pytest.mark.parametrize("language", ["fr", "ar"])
def test_a_member_journey_in_her_language(
    page: Page, live_server: LiveServer, language: str
) -> None:
    t = translations(language).gettext
    organization_name, country, name, email = MEMBERS[language]
    with session_scope() as session:
        organization = make_organization(session, name=organization_name, country=country)
        contact = make_contact(session, organization, name=name, email=email, language=language)
        campaign = make_campaign(session, title=f"Ratify APIC ({language})")
        make_delivery(session, campaign, contact, language=language)
        campaign_id, contact_id = campaign.id, contact.id
    base = live_server.url
    direction = "rtl" if language == "ar" else "ltr"

    # She asks for a link on the page in her language (the switcher's choice).
    page.goto(f"{base}/sign-in/member?lang={language}")
    expect(page.locator("html")).to_have_attribute("lang", language)
    if direction == "rtl":
        expect(page.locator("html")).to_have_attribute("dir", "rtl")
    page.get_by_label(t("Email"), exact=True).fill(email)
    page.get_by_role("button", name=t("Email me a sign-in link")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(t("Check your inbox"))

    # The email is in her language too.
    with session_scope(writes=False) as session:
        message = session.scalars(
            select(OutboxMessage)
            .where(col(OutboxMessage.to_address) == email)
            .order_by(col(OutboxMessage.id).desc())
        ).first()
        assert message is not None
        assert message.subject == t("Your sign-in link for the Coalition for the ICC")
        assert message.text_body.startswith(t("Dear %(name)s,") % {"name": name})
        link = re.search(r"\S+/sign-in/link/\S+", message.text_body)
    assert link is not None
    page.goto(base + link.group(0).removeprefix(get_settings().public_base_url))
    page.get_by_role("button", name=t("Sign in"), exact=True).click()
    expect(page).to_have_url(f"{base}/portal")
    expect(page.locator("html")).to_have_attribute("lang", language)
    expect(page.get_by_role("heading", level=1)).to_contain_text(organization_name)
    screenshot(page, f"member-journey-{language}-portal")

    # She corrects the profile: a website without its scheme is refused beside the field.
    page.get_by_role("link", name=t("Edit the profile")).click()
    page.get_by_label(t("Website")).fill("lidho.example.org")
    page.get_by_role("button", name=t("Save the changes")).click()
    expect(page.locator("#website-error")).to_be_visible()
    expect(page.get_by_label(t("Website"))).to_have_attribute("aria-invalid", "true")
    screenshot(page, f"member-journey-{language}-profile-error")
    page.get_by_label(t("Website")).fill("https://lidho.example.org")
    page.get_by_role("button", name=t("Save the changes")).click()
    expect(page).to_have_url(f"{base}/portal?saved=profile")
    expect(page.get_by_test_id("portal-notice")).to_have_text(t("Your changes are saved."))

    # She reports what her organisation did about the alert.
    page.get_by_role("link", name=t("Report an action")).first.click()
    expect(page).to_have_url(f"{base}/portal/alerts/{campaign_id}/report")
    page.get_by_label(t("What you did")).select_option("public_statement")
    page.get_by_label(t("Whom you engaged")).fill("Assemblée nationale")
    page.get_by_role("button", name=t("Send the report")).click()
    expect(page.get_by_test_id("report-recorded")).to_be_visible()
    screenshot(page, f"member-journey-{language}-report")

    # And she stops the alerts.
    navigation = page.get_by_role("navigation", name=t("Main"))
    navigation.get_by_role("link", name=t("Your preferences")).click()
    page.get_by_label(t("Stop all action alerts (unsubscribe)")).check()
    page.get_by_role("button", name=t("Save my preferences")).click()
    expect(page.get_by_test_id("preferences-saved")).to_have_text(t("Your preferences are saved."))
    screenshot(page, f"member-journey-{language}-preferences")

    with session_scope(writes=False) as session:
        saved = session.scalars(
            select(Organization).where(col(Organization.name) == organization_name)
        ).one()
        assert saved.website == "https://lidho.example.org"
        report = session.scalars(
            select(ActionReport).where(col(ActionReport.campaign_id) == campaign_id)
        ).one()
        assert report.engaged_with == "Assemblée nationale"
        stopped = session.get_one(Contact, contact_id)
        assert stopped.subscription_status is SubscriptionStatus.unsubscribed
