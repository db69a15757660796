"""An action alert from first draft to its results, in a real browser (Debian's
chromium): the live audience count, language tabs, previews, a test send, approval by a
colleague in another browser context, scheduling in Geneva time, then launching at once,
the progress reaching 100% without a reload, the messages in the outbox, and the
results."""

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Page, expect
from sqlmodel import Session, col, select

from app.accounts.principal import Role
from app.core.db import create_db_engine, session_scope
from app.delivery import store
from app.delivery.models import OutboxMessage
from app.delivery.sender import send_campaign_batch
from tests.factories import make_contact, make_organization, make_user
from tests.web.conftest import STAFF_EMAIL, LiveServer, screenshot, sign_in

pytestmark = pytest.mark.browser

APPROVER_EMAIL = "approver@example.org"


@pytest.fixture(scope="module")
def alert_server(live_server: LiveServer, live_database_url: str) -> Iterator[LiveServer]:
    """The shared registry (Kenya: APIC unknown, one mailable contact and one bounced;
    Colombia: APIC party, one contact) plus members in Uganda (APIC party), Senegal
    (APIC unknown) and France, and a second secretariat member to approve.

    Mailable now: Kenya, Colombia, Uganda, Senegal, France = 5; in Africa 3; in Africa
    with APIC unknown 2 (both only through that unknown status)."""
    engine = create_db_engine(live_database_url)
    try:
        with Session(engine) as session:
            uganda = make_organization(session, name="Kampala Justice Forum", country="UGA")
            make_contact(session, uganda, name="Okello Moses", email="okello@ug.example.org")
            senegal = make_organization(session, name="Ligue sénégalaise", country="SEN")
            make_contact(
                session,
                senegal,
                name="Aminata Diop",
                email="aminata@sn.example.org",
                language="fr",
            )
            france = make_organization(session, name="Réseau Paris", country="FRA")
            make_contact(session, france, name="Claire Martin", email="claire@fr.example.org")
            make_user(session, Role.secretariat, email=APPROVER_EMAIL, full_name="Ama Approver")
            session.commit()
        yield live_server
    finally:
        engine.dispose()


def test_an_alert_from_draft_to_results(
    page: Page, alert_server: LiveServer, live_database_url: str
) -> None:
    base = alert_server.url
    sign_in(page, base)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Alerts").click()
    expect(page).to_have_url(re.compile(r"/campaigns$"))
    expect(page.get_by_text("There are no alerts yet.")).to_be_visible()
    page.get_by_role("link", name="New alert").click()
    expect(page).to_have_url(re.compile(r"/campaigns/new$"))

    # The audience builder: the count follows the form without reloading the page.
    total = page.get_by_test_id("audience-total")
    expect(total).to_have_text("5")
    page.evaluate("window.stillTheSamePage = true")
    page.get_by_role("group", name="Regions", exact=True).get_by_label("Africa", exact=True).check()
    expect(total).to_have_text("3")
    expect(page.get_by_test_id("audience-unknown")).to_have_count(0)
    page.get_by_role("group", name="APIC", exact=True).get_by_label("Unknown", exact=True).check()
    expect(total).to_have_text("2")
    expect(page.get_by_test_id("audience-unknown")).to_have_text(
        "2 recipients are included only because a treaty status is unknown."
    )
    assert page.evaluate("window.stillTheSamePage") is True

    # The alert, in English and French (one tab each).
    page.get_by_label("Title").fill("Ratify APIC before the Assembly")
    page.get_by_label("What members are asked to do").select_option("contact_officials")
    page.get_by_label("Agreement on Privileges and Immunities (APIC)").check()
    variants = page.get_by_role("tablist", name="Language versions")
    variants.get_by_role("tab", name="English").click()
    page.get_by_label("Subject in English").fill("{{ country.name }}: ratify APIC")
    page.get_by_label("Text in English (Markdown)").fill(
        "Dear {{ contact.first_name }},\n\nWrite to your ministry of foreign affairs."
    )
    expect(page.get_by_label("Subject in French")).to_be_hidden()
    page.get_by_role("link", name="tokens", exact=True).first.click()
    expect(page.get_by_role("cell", name="{{ contact.first_name }}")).to_be_visible()
    variants.get_by_role("tab", name="French").click()
    page.get_by_label("Subject in French").fill("{{ country.name }} : ratifiez l'APIC")
    page.get_by_label("Text in French (Markdown)").fill(
        "Bonjour {{ contact.prenom }},\n\nÉcrivez au ministère des affaires étrangères."
    )
    # The count now goes by the alert's languages: one recipient in each.
    expect(page.locator("[data-audience-result]")).to_contain_text("French")
    page.get_by_role("button", name="Save as draft").click()

    # A misspelt token: the page comes back on the French tab, the line named.
    expect(page.get_by_role("alert")).to_contain_text("The alert could not be saved")
    french_text = page.get_by_label("Text in French (Markdown)")
    expect(french_text).to_be_visible()
    expect(french_text).to_have_attribute("aria-invalid", "true")
    expect(page.locator('[id="body.fr-error"]')).to_contain_text("Line 1")
    expect(page.get_by_test_id("audience-total")).to_have_text("2")
    french_text.fill(
        "Bonjour {{ contact.first_name }},\n\nÉcrivez au ministère des affaires étrangères."
    )
    page.get_by_role("button", name="Save as draft").click()

    expect(page).to_have_url(re.compile(r"/campaigns/\d+\?done=created$"))
    campaign_url = page.url.split("?")[0]
    expect(page.get_by_test_id("done")).to_contain_text("Alert saved as a draft.")
    expect(page.get_by_test_id("status")).to_have_text("Draft")
    expect(page.get_by_test_id("audience-total")).to_have_text("2")

    # The preview in each language: subject, the HTML email, as a recipient sees it.
    previews = page.get_by_role("tablist", name="Preview languages")
    previews.get_by_role("tab", name="English").click()
    expect(page.get_by_test_id("preview-subject-en")).to_have_text("Kenya: ratify APIC")
    english = page.frame_locator('[data-testid="preview-frame-en"]')
    expect(english.locator("body")).to_contain_text("Dear Wanjiru")
    previews.get_by_role("tab", name="French").click()
    expect(page.get_by_test_id("preview-subject-fr")).to_contain_text("ratifiez l'APIC")
    expect(page.get_by_test_id("preview-subject-en")).to_be_hidden()
    french = page.frame_locator('[data-testid="preview-frame-fr"]')
    expect(french.locator("body")).to_contain_text("Bonjour Aminata")

    # A test to herself: one message per language.
    expect(page.get_by_label("Send to")).to_have_value(STAFF_EMAIL)
    page.get_by_role("button", name="Send the test").click()
    expect(page.get_by_test_id("done")).to_contain_text("Test sent: 2 messages")
    engine = create_db_engine(live_database_url)
    try:
        with Session(engine) as session:
            tests = session.scalars(
                select(OutboxMessage).where(col(OutboxMessage.purpose) == "campaign_test")
            ).all()
            assert sorted(message.to_address for message in tests) == [STAFF_EMAIL] * 2
            assert all(message.subject.startswith("[Test] ") for message in tests)
    finally:
        engine.dispose()

    # She may not approve her own alert; a colleague, signed in elsewhere, does.
    expect(page.get_by_role("button", name="Approve")).to_be_visible()
    browser = page.context.browser
    assert browser is not None
    colleague_context = browser.new_context(viewport={"width": 390, "height": 844})
    try:
        colleague = colleague_context.new_page()
        sign_in(colleague, base, APPROVER_EMAIL)
        expect(colleague).to_have_url(re.compile(r"/dashboard$"))
        colleague.goto(campaign_url)
        colleague.get_by_role("button", name="Approve").click()
        expect(colleague.get_by_test_id("done")).to_have_text(
            "Approved. It can now be launched or scheduled."
        )
        expect(colleague.get_by_test_id("status")).to_have_text("Approved")
    finally:
        colleague_context.close()

    # Back to the author: schedule it for a Monday at 09:00, Geneva time.
    page.goto(campaign_url)
    expect(page.get_by_test_id("status")).to_have_text("Approved")
    expect(page.get_by_text("Ama Approver")).to_be_visible()
    today = datetime.now(UTC).date()
    monday = today + timedelta(days=7 - today.weekday() + 7)
    page.get_by_label("Date and time").fill(f"{monday.isoformat()}T09:00")
    expect(page.get_by_label("Time zone")).to_have_value("Europe/Zurich")
    page.get_by_role("button", name="Schedule", exact=True).click()
    expect(page.get_by_test_id("done")).to_contain_text("Scheduled.")
    expect(page.get_by_test_id("status")).to_have_text("Scheduled")
    expect(page.get_by_test_id("schedule")).to_contain_text(
        f"Mon {monday.day} {monday:%b %Y}, 09:00 Europe/Zurich"
    )

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Alerts").click()
    row = page.get_by_role("row").filter(has_text="Ratify APIC before the Assembly")
    expect(row).to_contain_text("Scheduled")
    expect(row).to_contain_text("English, French")
    expect(row).to_contain_text("09:00 Europe/Zurich")
    screenshot(page, "staff-alerts")

    # She changes her mind and launches it now. A worker sends (in this process, against
    # the live server's database) and the page follows to 100% without a reload.
    page.goto(campaign_url)
    page.get_by_role("button", name="Launch now").click()
    expect(page.get_by_test_id("status")).to_have_text("Sending")
    page.evaluate("window.stillTheSamePage = true")
    handled = page.get_by_test_id("progress-handled")
    expect(handled).to_have_text("0 of 2 handled (0%)")
    campaign_id = int(campaign_url.rsplit("/", 1)[1])
    assert send_campaign_batch(campaign_id, worker="journey").sent == 2
    expect(handled).to_have_text("2 of 2 handled (100%)")
    with session_scope() as session:
        assert store.finish_campaigns(session) == [campaign_id]
    expect(page.get_by_test_id("status")).to_have_text("Sent")
    assert page.evaluate("window.stillTheSamePage") is True
    screenshot(page, "staff-alert-sent")

    # The embedded default's outbox caught both messages, one per language.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Outbox").click()
    expect(page.get_by_role("row").filter(has_text="wanjiru@amani.example.org")).to_contain_text(
        "Kenya: ratify APIC"
    )
    expect(page.get_by_role("row").filter(has_text="aminata@sn.example.org")).to_contain_text(
        "ratifiez l'APIC"
    )
    screenshot(page, "staff-outbox")

    # And the results: two reached, nobody has acted yet.
    page.goto(campaign_url)
    page.get_by_test_id("results-link").click()
    expect(page).to_have_url(f"{campaign_url}/results")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Ratify APIC before the Assembly")
    screenshot(page, "staff-alert-results")
