"""In a real browser, under the pages' Content-Security-Policy: a member reports an
action from her French alert's link, and a recipient unsubscribes and comes back."""

import secrets
from datetime import date, timedelta

import pytest
from playwright.sync_api import ConsoleMessage, Page, expect
from sqlmodel import col, select

from app.core.db import session_scope
from app.members.models import Contact, SubscriptionStatus
from app.tracking.models import ActionReport, ResponseEvent, ResponseKind
from app.tracking.signing import Purpose
from tests.factories import make_contact, make_organization
from tests.tracking.conftest import link, make_campaign, make_delivery
from tests.web.conftest import LiveServer


@pytest.fixture
def links(live_server: LiveServer) -> dict[str, str]:
    """A French and an English recipient of an alert already sent, committed to the live
    server's database (its engine is the session factory's bind while it runs; the
    database lives as long as the module, so each test has its own people)."""
    unique = secrets.token_hex(4)
    with session_scope() as session:
        organization = make_organization(session, name=f"Réseau Justice {unique}", country="SEN")
        french = make_contact(
            session,
            organization,
            name="Awa Ndiaye",
            email=f"awa.{unique}@example.org",
            language="fr",
        )
        english = make_contact(
            session, organization, name="Moussa Diop", email=f"moussa.{unique}@example.org"
        )
        campaign = make_campaign(session, title="Ratifier l'APIC avant l'Assemblée")
        to_french = make_delivery(session, campaign, french, language="fr")
        to_english = make_delivery(session, campaign, english)
        return {
            "act": live_server.url + link(to_french, Purpose.act),
            "unsubscribe": live_server.url + link(to_english, Purpose.unsubscribe),
            "english_email": english.email,
            "french_delivery": str(to_french.id),
        }


@pytest.fixture
def refused(page: Page) -> list[str]:
    """What the browser refused under the Content-Security-Policy, and script errors.
    (A 422 for a form sent back and the missing favicon are not problems.)"""
    messages: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text or "Refused" in message.text:
            messages.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: messages.append(f"page error: {error}"))
    return messages


@pytest.mark.browser
def test_a_member_reports_an_action_in_her_language(
    page: Page, links: dict[str, str], refused: list[str]
) -> None:
    page.goto(links["act"])
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    expect(page.get_by_role("heading", level=1)).to_have_text("Signalez votre action")

    # A date in the future is refused by the server, in French, naming the field.
    page.get_by_label("Ce que vous avez fait").select_option(
        label="Rencontre avec des responsables"
    )
    page.get_by_label("Quand").fill((date.today() + timedelta(days=40)).isoformat())
    page.get_by_label("Avec qui").fill("Ministère de la Justice, directeur des affaires pénales")
    page.get_by_role("button", name="Envoyer le rapport").click()
    summary = page.get_by_role("alert")
    expect(summary).to_contain_text("Quand")
    expect(summary).to_contain_text("La date ne peut pas être dans le futur.")
    expect(page.get_by_label("Avec qui")).to_have_value(
        "Ministère de la Justice, directeur des affaires pénales"
    )

    page.get_by_label("Quand").fill(date.today().isoformat())
    page.get_by_label("Autres précisions").fill("Le projet de loi sera déposé en mars.")
    page.get_by_role("button", name="Envoyer le rapport").click()

    expect(page.get_by_test_id("report-recorded")).to_contain_text("votre rapport est enregistré")
    expect(page.get_by_test_id("reports")).to_contain_text("Rencontre avec des responsables")
    expect(page.get_by_test_id("reports")).to_contain_text("Le projet de loi sera déposé en mars.")
    with session_scope(writes=False) as session:
        [report] = session.scalars(
            select(ActionReport).where(
                col(ActionReport.delivery_id) == int(links["french_delivery"])
            )
        ).all()
        assert report.action_type == "met_officials"
        assert report.engaged_with.startswith("Ministère de la Justice")
        assert session.scalars(
            select(ResponseEvent).where(
                col(ResponseEvent.kind) == ResponseKind.acted,
                col(ResponseEvent.delivery_id) == report.delivery_id,
            )
        ).one()
    assert refused == []


@pytest.mark.browser
def test_a_recipient_unsubscribes_and_subscribes_again(
    page: Page, links: dict[str, str], refused: list[str]
) -> None:
    page.goto(links["unsubscribe"])
    expect(page.get_by_role("heading", level=1)).to_have_text("Unsubscribe from action alerts")
    expect(page.locator("main")).to_contain_text(links["english_email"])

    page.get_by_role("button", name="Unsubscribe").click()

    expect(page.get_by_test_id("unsubscribed")).to_have_text("You are unsubscribed")
    with session_scope(writes=False) as session:
        contact = session.scalars(
            select(Contact).where(col(Contact.email) == links["english_email"])
        ).one()
        assert contact.subscription_status is SubscriptionStatus.unsubscribed

    page.get_by_label("Subscribe again").check()
    page.get_by_label("The Court's budget").uncheck()
    page.get_by_role("button", name="Save my preferences").click()

    expect(page.get_by_test_id("preferences-saved")).to_have_text("Your preferences are saved.")
    expect(page.get_by_label("Receive action alerts")).to_be_checked()
    expect(page.get_by_label("The Court's budget")).not_to_be_checked()
    with session_scope(writes=False) as session:
        contact = session.get_one(Contact, contact.id)
        assert contact.subscription_status is SubscriptionStatus.subscribed
        assert contact.topics_opted_out == ["budget"]
    assert refused == []
