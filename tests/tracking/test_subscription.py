"""/unsubscribe/… and /preferences/…: the cookieless one-click POST, pages that change
nothing when opened, preferences, and an unsubscribe reaching a send in progress."""

import html
import re
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from app.campaigns.models import Campaign
from app.core.audit import AuditEntry
from app.delivery.links import PREVIEW_TOKEN
from app.delivery.models import Delivery, DeliveryState
from app.delivery.sender import send_campaign_batch
from app.delivery.suppressions import is_suppressed
from app.members import service as members
from app.members.models import Contact, Organization, SubscriptionStatus
from app.tracking.models import ResponseEvent, ResponseKind
from app.tracking.service import months_after
from app.tracking.signing import Purpose, form_token, sign
from tests.conftest import shared_app
from tests.delivery.test_pipeline import EVERYONE, deliveries, launched
from tests.factories import STAFF, make_contact, make_organization
from tests.tracking.conftest import link, make_delivery
from tests.world import World

TODAY = date.today()
ONE_CLICK = {"List-Unsubscribe": "One-Click"}


def token_in(page: str, action: str) -> str:
    """The form token of the form posting to `action` on the page."""
    form = re.search(rf'<form[^>]*action="{re.escape(action)}".*?</form>', page, re.S)
    assert form, page
    match = re.search(r'name="form_token" value="([^"]+)"', form.group(0))
    assert match
    return html.unescape(match.group(1))


def fresh(session: Session, contact: Contact) -> Contact:
    session.expire_all()
    return session.get_one(Contact, contact.id)


def unsubscribed_events(session: Session) -> list[ResponseEvent]:
    session.expire_all()
    return list(
        session.scalars(
            select(ResponseEvent).where(col(ResponseEvent.kind) == ResponseKind.unsubscribed)
        )
    )


# --- One click (RFC 8058) --------------------------------------------------------------------


def test_the_one_click_post_unsubscribes_without_cookies(
    connection: Any, session: Session, delivery: Delivery, contact: Contact
) -> None:
    # As a mail provider sends it: a fresh client, no cookie, no session, no form token.
    with TestClient(shared_app(), follow_redirects=False) as provider:
        assert not provider.cookies
        response = provider.post(
            link(delivery, Purpose.unsubscribe),
            content="List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )

    assert "cookie" not in response.request.headers
    assert response.status_code == 200
    assert len(response.text) < 100
    assert "set-cookie" not in response.headers
    assert fresh(session, contact).subscription_status is SubscriptionStatus.unsubscribed
    [event] = unsubscribed_events(session)
    assert (event.delivery_id, event.contact_id, event.detail) == (
        delivery.id,
        contact.id,
        "one-click",
    )
    audit = session.scalars(
        select(AuditEntry)
        .where(
            col(AuditEntry.target_type) == "contact", col(AuditEntry.target_id) == str(contact.id)
        )
        .order_by(col(AuditEntry.id).desc())
    ).first()
    assert audit is not None
    assert audit.actor == f"recipient:{delivery.id}"
    assert audit.after == {"subscription_status": "unsubscribed"}


def test_the_one_click_post_also_comes_as_multipart_and_twice(
    public: TestClient, session: Session, delivery: Delivery, contact: Contact
) -> None:
    path = link(delivery, Purpose.unsubscribe)

    first = public.post(path, files={"List-Unsubscribe": (None, "One-Click")})
    again = public.post(path, data=ONE_CLICK)

    assert first.status_code == again.status_code == 200
    assert fresh(session, contact).subscription_status is SubscriptionStatus.unsubscribed
    assert len(unsubscribed_events(session)) == 1  # the second changed nothing


def test_every_contact_of_the_address_is_unsubscribed(
    public: TestClient, session: Session, delivery: Delivery, contact: Contact
) -> None:
    elsewhere = make_organization(session, name="Another Network", country="FRA")
    same_person = make_contact(session, elsewhere, email=contact.email)
    someone_else = make_contact(session, elsewhere, email="someone@example.org")

    public.post(link(delivery, Purpose.unsubscribe), data=ONE_CLICK)

    assert fresh(session, same_person).subscription_status is SubscriptionStatus.unsubscribed
    assert fresh(session, someone_else).subscription_status is SubscriptionStatus.subscribed


def test_a_removed_contacts_address_is_suppressed(
    public: TestClient, session: Session, delivery: Delivery, contact: Contact
) -> None:
    members.delete_contact(session, STAFF, contact.id or 0)
    session.flush()

    response = public.post(link(delivery, Purpose.unsubscribe), data=ONE_CLICK)

    assert response.status_code == 200
    assert is_suppressed(session, delivery.email)
    [event] = unsubscribed_events(session)
    assert event.contact_id is None


@pytest.mark.parametrize(
    "body",
    [
        {"List-Unsubscribe": "one-click"},
        {"List-Unsubscribe": "Two-Clicks"},
        {"Other": "One-Click"},
        {},
    ],
)
def test_other_posts_without_the_pages_token_change_nothing(
    public: TestClient, session: Session, delivery: Delivery, contact: Contact, body: dict[str, str]
) -> None:
    response = public.post(link(delivery, Purpose.unsubscribe), data=body)

    assert response.status_code == 400
    assert fresh(session, contact).subscription_status is SubscriptionStatus.subscribed
    assert unsubscribed_events(session) == []


def test_a_one_click_post_to_a_tampered_link_is_not_found(
    public: TestClient, session: Session, delivery: Delivery, contact: Contact
) -> None:
    signed = sign(delivery.token, Purpose.unsubscribe)
    # Not the last character: it carries only 4 of its 6 bits, so some changes to it
    # decode to the same signature (this test failed that way once in CI).
    tampered = signed[:-3] + ("A" if signed[-3] != "A" else "B") + signed[-2:]
    for path in (
        f"/unsubscribe/{tampered}",
        f"/unsubscribe/{sign(delivery.token, Purpose.preferences)}",
        f"/unsubscribe/{delivery.token}",
    ):
        assert public.post(path, data=ONE_CLICK).status_code == 404
    assert fresh(session, contact).subscription_status is SubscriptionStatus.subscribed


# --- The page ----------------------------------------------------------------------------------


def test_opening_the_unsubscribe_page_changes_nothing(
    public: TestClient, session: Session, delivery: Delivery, contact: Contact
) -> None:
    for _ in range(3):
        page = public.get(link(delivery, Purpose.unsubscribe))
        assert page.status_code == 200
        assert "Unsubscribe from action alerts" in page.text
        assert contact.email in page.text
        assert 'data-testid="preferences-form"' in page.text
    public.get(link(delivery, Purpose.preferences))
    public.head(link(delivery, Purpose.unsubscribe))

    assert fresh(session, contact).subscription_status is SubscriptionStatus.subscribed
    assert unsubscribed_events(session) == []
    assert (
        session.scalars(
            select(AuditEntry).where(col(AuditEntry.actor).startswith("recipient:"))
        ).all()
        == []
    )


def test_the_pages_button_unsubscribes(
    public: TestClient, session: Session, delivery: Delivery, contact: Contact
) -> None:
    path = link(delivery, Purpose.unsubscribe)
    page = public.get(path)

    response = public.post(path, data={"form_token": token_in(page.text, path)})

    assert response.status_code == 303
    assert response.headers["location"] == path
    assert fresh(session, contact).subscription_status is SubscriptionStatus.unsubscribed
    [event] = unsubscribed_events(session)
    assert event.detail == "unsubscribe page"
    after = public.get(path)
    assert "You are unsubscribed" in after.text
    assert "Subscribe again" in after.text


def test_the_page_speaks_the_alerts_language(
    public: TestClient, session: Session, campaign: Campaign, organization: Organization
) -> None:
    arabic = make_contact(session, organization, language="ar")
    page = public.get(
        link(make_delivery(session, campaign, arabic, language="ar"), Purpose.unsubscribe)
    )

    assert '<html lang="ar" dir="rtl">' in page.text
    assert "إلغاء الاشتراك في تنبيهات العمل" in page.text
    assert f"<bdi>{arabic.email}</bdi>" in page.text


def test_preview_links_change_nothing(public: TestClient, session: Session) -> None:
    for purpose, prefix in (
        (Purpose.unsubscribe, "/unsubscribe/"),
        (Purpose.preferences, "/preferences/"),
    ):
        path = prefix + sign(PREVIEW_TOKEN, purpose)
        assert "This link is from a preview" in public.get(path).text
        assert "This link is from a preview" in public.post(path, data=ONE_CLICK).text
    assert unsubscribed_events(session) == []


# --- Preferences -------------------------------------------------------------------------------


def save(public: TestClient, delivery: Delivery, **fields: Any) -> Any:
    path = link(delivery, Purpose.preferences)
    page = public.get(path)
    data = {
        "alerts": "receive",
        "language": "en",
        "topics": ["rome_statute", "kampala", "cooperation"],
        "form_token": token_in(page.text, path),
    } | fields
    return public.post(path, data=data)


def test_preferences_are_saved_for_the_address_and_audited(
    public: TestClient, session: Session, delivery: Delivery, contact: Contact
) -> None:
    elsewhere = make_organization(session, name="Another Network", country="FRA")
    same_person = make_contact(session, elsewhere, email=contact.email)

    response = save(public, delivery, language="fr", alerts="pause_3")

    assert response.status_code == 303
    assert response.headers["location"].endswith("?saved=1")
    for each in (fresh(session, contact), fresh(session, same_person)):
        assert each.language == "fr"
        assert each.subscription_status is SubscriptionStatus.paused
        assert each.paused_until == months_after(TODAY, 3)
        assert set(each.topics_opted_out) == {
            "apic",
            "implementing_legislation",
            "assembly_of_states_parties",
            "elections",
            "budget",
            "victims",
        }
    audits = session.scalars(
        select(AuditEntry).where(col(AuditEntry.actor) == f"recipient:{delivery.id}")
    ).all()
    assert {audit.organization_id for audit in audits} == {
        contact.organization_id,
        elsewhere.id,
    }
    assert unsubscribed_events(session) == []  # a pause is not an unsubscribe
    page = public.get(response.headers["location"])
    assert "Your preferences are saved." in page.text
    assert "Keep the pause until" in page.text


@pytest.mark.parametrize(("choice", "months"), [("pause_1", 1), ("pause_6", 6)])
def test_pauses_last_one_three_or_six_months(
    public: TestClient,
    session: Session,
    delivery: Delivery,
    contact: Contact,
    choice: str,
    months: int,
) -> None:
    save(public, delivery, alerts=choice)

    assert fresh(session, contact).paused_until == months_after(TODAY, months)


def test_months_after_keeps_to_real_dates() -> None:
    assert months_after(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert months_after(date(2027, 11, 30), 3) == date(2028, 2, 29)
    assert months_after(date(2026, 8, 15), 6) == date(2027, 2, 15)


def test_stopping_from_the_preferences_is_an_unsubscribe_and_can_be_undone(
    public: TestClient, session: Session, delivery: Delivery, contact: Contact
) -> None:
    save(public, delivery, alerts="stop")
    assert fresh(session, contact).subscription_status is SubscriptionStatus.unsubscribed
    [event] = unsubscribed_events(session)
    assert event.detail == "preferences"

    save(public, delivery, alerts="receive")  # only the person may do this, and she does

    again = fresh(session, contact)
    assert again.subscription_status is SubscriptionStatus.subscribed
    assert again.paused_until is None
    assert len(unsubscribed_events(session)) == 1


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"alerts": "forever"}, "alerts"),
        ({"alerts": ""}, "alerts"),
        ({"language": "xx"}, "language"),
        ({"language": "en; DROP TABLE contacts"}, "language"),
        ({"topics": ["rome_statute", "not_a_topic"]}, "topics"),
        ({"topics": ["apic", "apic"]}, "topics"),
    ],
)
def test_wrong_preferences_are_refused_naming_the_field(
    public: TestClient,
    session: Session,
    delivery: Delivery,
    contact: Contact,
    fields: dict[str, Any],
    field: str,
) -> None:
    response = save(public, delivery, **fields)

    assert response.status_code == 422
    assert f'href="#f-{field}"' in response.text
    unchanged = fresh(session, contact)
    assert unchanged.language == "en"
    assert unchanged.topics_opted_out == []


def test_preferences_need_the_pages_form_token(
    public: TestClient, session: Session, delivery: Delivery, contact: Contact
) -> None:
    for attempt in ("", form_token(delivery.token, Purpose.unsubscribe), "x" * 500):
        response = save(public, delivery, form_token=attempt, alerts="stop")
        assert response.status_code == 400
    assert fresh(session, contact).subscription_status is SubscriptionStatus.subscribed


# --- Reaching a send in progress ---------------------------------------------------------------


def test_an_unsubscribe_during_a_send_leaves_the_contact_out(
    client: TestClient,
    client_as: Any,
    public: TestClient,
    session: Session,
    world: World,
) -> None:
    """A's earlier alert's link, used while the next alert is being sent: A's queued
    delivery ends suppressed, and nothing reaches A. (C pauses, L opts out of the new
    alert's topic through the preferences page, in the same way.)"""
    earlier = launched(client, client_as, **EVERYONE)
    send_campaign_batch(earlier, worker="earlier")
    links = {row.contact_id: row for row in deliveries(session, earlier)}
    a, c, k = (world.contacts[letter] for letter in "ACK")

    current = launched(client, client_as, **(EVERYONE | {"topics": ["victims"]}))
    assert public.post(link(links[a.id], Purpose.unsubscribe), data=ONE_CLICK).status_code == 200
    assert save(public, links[c.id], alerts="pause_1").status_code == 303
    no_victims = ["rome_statute", "apic"]
    assert save(public, links[k.id], language="ar", topics=no_victims).status_code == 303

    report = send_campaign_batch(current, worker="current")

    rows = {row.contact_id: row for row in deliveries(session, current)}
    assert (rows[a.id].state, rows[a.id].last_error) == (DeliveryState.suppressed, "unsubscribed")
    assert (rows[c.id].state, rows[c.id].last_error) == (DeliveryState.suppressed, "paused")
    assert (rows[k.id].state, rows[k.id].last_error) == (DeliveryState.suppressed, "topic_opt_out")
    assert report.suppressed == 3
    assert report.sent == len(rows) - 3
