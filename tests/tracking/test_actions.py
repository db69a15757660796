"""/act/…: the report form in the recipient's language, its checks, what a report
keeps, and where staff and the member read it."""

import html
import re
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from app.accounts.principal import Role
from app.campaigns.models import Campaign
from app.core.audit import AuditEntry
from app.delivery.links import PREVIEW_TOKEN
from app.delivery.models import Delivery
from app.members.models import Contact, Organization
from app.tracking.models import ActionReport, ResponseEvent, ResponseKind
from app.tracking.service import MAX_REPORTS_PER_ALERT
from app.tracking.signing import Purpose, form_token, sign
from tests.factories import bearer_headers, make_contact, make_organization, make_user
from tests.tracking.conftest import link, make_delivery

TODAY = date.today()


def token_in(page: str) -> str:
    match = re.search(r'name="form_token" value="([^"]+)"', page)
    assert match, page
    return html.unescape(match.group(1))


def report(public: TestClient, delivery: Delivery, **fields: str) -> Any:
    page = public.get(link(delivery, Purpose.act))
    data = {
        "action_type": "met_officials",
        "action_date": TODAY.isoformat(),
        "engaged_with": "Ministry of Foreign Affairs, legal adviser",
        "note": "They promised to table the APIC bill.",
        "form_token": token_in(page.text),
    } | fields
    return public.post(link(delivery, Purpose.act), data=data)


def reports(session: Session) -> list[ActionReport]:
    session.expire_all()
    return list(session.scalars(select(ActionReport).order_by(col(ActionReport.id))))


def acted_events(session: Session) -> list[ResponseEvent]:
    session.expire_all()
    return list(
        session.scalars(select(ResponseEvent).where(col(ResponseEvent.kind) == ResponseKind.acted))
    )


def test_the_form_is_in_the_recipients_language(
    public: TestClient, session: Session, campaign: Campaign, contact: Contact
) -> None:
    def page(language: str) -> Any:
        recipient = make_contact(session, contact.organization, language=language)
        delivery = make_delivery(session, campaign, recipient, language=language)
        return public.get(link(delivery, Purpose.act))

    english, french, arabic = page("en"), page("fr"), page("ar")

    assert english.status_code == french.status_code == arabic.status_code == 200
    assert '<html lang="en" dir="ltr">' in english.text
    assert "Report your action" in english.text
    assert "Met officials" in english.text
    assert '<html lang="fr" dir="ltr">' in french.text
    assert "Signalez votre action" in french.text
    assert "Rencontre avec des responsables" in french.text
    assert '<html lang="ar" dir="rtl">' in arabic.text
    assert "أبلغونا بما قمتم به" in arabic.text
    assert "لقاء مع مسؤولين" in arabic.text
    for shown in (english, french, arabic):
        assert campaign.title in shown.text
        assert "Kenya Rights Network" in shown.text
        assert shown.headers["cache-control"] == "no-store"
        assert shown.headers["referrer-policy"] == "no-referrer"
        assert "Content-Security-Policy" in shown.headers


def test_a_report_is_kept_with_its_event_and_shows_on_the_timeline(
    public: TestClient, client: TestClient, session: Session, delivery: Delivery, contact: Contact
) -> None:
    response = report(public, delivery)

    assert response.status_code == 303
    assert response.headers["location"] == f"{link(delivery, Purpose.act)}?reported=1"
    [kept] = reports(session)
    assert (kept.delivery_id, kept.campaign_id, kept.contact_id) == (
        delivery.id,
        delivery.campaign_id,
        contact.id,
    )
    assert kept.organization_id == contact.organization_id
    assert kept.action_type == "met_officials"
    assert kept.action_date == TODAY
    assert kept.engaged_with == "Ministry of Foreign Affairs, legal adviser"
    assert kept.note == "They promised to table the APIC bill."
    [event] = acted_events(session)
    assert (event.delivery_id, event.contact_id, event.automated) == (
        delivery.id,
        contact.id,
        False,
    )
    audit = session.scalars(
        select(AuditEntry).where(col(AuditEntry.action) == "alert.action_reported")
    ).one()
    assert audit.actor == f"recipient:{delivery.id}"
    assert audit.organization_id == contact.organization_id

    shown = public.get(response.headers["location"])
    assert "your report is recorded" in shown.text
    assert "They promised to table the APIC bill." in shown.text
    timeline = client.get(f"/members/{contact.organization_id}").text
    assert "Action reported" in timeline
    assert "Met officials" in timeline
    assert "They promised to table the APIC bill." in timeline


def test_several_reports_per_alert_are_welcome(
    public: TestClient, session: Session, delivery: Delivery
) -> None:
    assert report(public, delivery).status_code == 303
    assert report(public, delivery, action_type="media", note="").status_code == 303

    assert [r.action_type for r in reports(session)] == ["met_officials", "media"]
    assert len(acted_events(session)) == 2


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"action_type": ""}, "action_type", "Fill in this field."),
        ({"action_type": "bribed_officials"}, "action_type", "Choose one of the options."),
        ({"action_date": ""}, "action_date", "Fill in this field."),
        ({"action_date": "31/12/2025"}, "action_date", "Enter a date as year-month-day"),
        ({"action_date": "2025-02-30"}, "action_date", "Enter a date as year-month-day"),
        (
            {"action_date": (TODAY + timedelta(days=30)).isoformat()},
            "action_date",
            "The date cannot be in the future.",
        ),
        ({"action_date": "0202-05-01"}, "action_date", "Enter a date after 17 July 1998."),
        ({"engaged_with": "x" * 301}, "engaged_with", "at most 300 characters"),
        ({"note": "n" * 5001}, "note", "at most 5000 characters"),
        ({"note": "null\x00byte"}, "note", "control characters"),
    ],
)
def test_a_wrong_report_is_shown_again_naming_the_field_and_nothing_is_kept(
    public: TestClient,
    session: Session,
    delivery: Delivery,
    fields: dict[str, str],
    field: str,
    message: str,
) -> None:
    response = report(public, delivery, **fields)

    assert response.status_code == 422
    summary = re.search(r'<div class="error-summary".*?</div>', response.text, re.S)
    assert summary, response.text
    assert f'href="#f-{field}"' in summary.group(0)
    assert message in html.unescape(summary.group(0))
    assert 'aria-invalid="true"' in response.text
    assert reports(session) == []
    assert acted_events(session) == []
    # What was typed is kept in the form.
    if fields.get("engaged_with"):
        assert fields["engaged_with"][:300] in response.text


def test_errors_are_in_the_recipients_language(
    public: TestClient, session: Session, campaign: Campaign, contact: Contact
) -> None:
    french = make_delivery(session, campaign, contact, language="fr")
    future = (TODAY + timedelta(days=30)).isoformat()

    response = report(public, french, action_date=future)

    assert response.status_code == 422
    assert "La date ne peut pas être dans le futur." in html.unescape(response.text)


def test_a_post_without_the_pages_form_token_keeps_nothing(
    public: TestClient, session: Session, campaign: Campaign, contact: Contact, delivery: Delivery
) -> None:
    other = make_delivery(session, campaign, make_contact(session, contact.organization))
    attempts = [
        "",
        "forged",
        form_token(other.token, Purpose.act),  # another delivery's form
        form_token(delivery.token, Purpose.preferences),  # another form
        sign(delivery.token, Purpose.act),  # the link, not a form token
    ]
    for attempt in attempts:
        response = report(public, delivery, form_token=attempt)
        assert response.status_code == 400
        assert "send the form again" in response.text
        # A fresh token comes with the form, so the person can simply send it again.
        assert token_in(response.text) != attempt
    assert reports(session) == []


def test_too_many_reports_for_one_alert_are_refused(
    public: TestClient, session: Session, delivery: Delivery, contact: Contact
) -> None:
    for _ in range(MAX_REPORTS_PER_ALERT):
        session.add(
            ActionReport(
                delivery_id=delivery.id or 0,
                campaign_id=delivery.campaign_id,
                organization_id=contact.organization_id,
                contact_id=contact.id,
                action_type="other",  # type: ignore[arg-type]
                action_date=TODAY,
            )
        )
    session.flush()

    response = report(public, delivery)

    assert response.status_code == 409
    assert "write to the secretariat" in response.text
    assert len(reports(session)) == MAX_REPORTS_PER_ALERT


def test_opening_the_form_changes_nothing(
    public: TestClient, session: Session, delivery: Delivery
) -> None:
    for _ in range(3):
        assert public.get(link(delivery, Purpose.act)).status_code == 200
        assert public.get(link(delivery, Purpose.act) + "?reported=1").status_code == 200
    assert reports(session) == []
    session.expire_all()
    assert session.scalars(select(ResponseEvent)).all() == []
    assert (
        session.scalars(
            select(AuditEntry).where(col(AuditEntry.actor).startswith("recipient"))
        ).all()
        == []
    )


def test_preview_links_show_a_preview_and_record_nothing(
    public: TestClient, session: Session
) -> None:
    path = f"/act/{sign(PREVIEW_TOKEN, Purpose.act)}"

    page = public.get(path)
    posted = public.post(path, data={"action_type": "media", "action_date": TODAY.isoformat()})

    assert page.status_code == posted.status_code == 200
    assert "This link is from a preview" in page.text
    assert reports(session) == []


def test_a_report_link_for_another_purpose_is_not_found(
    public: TestClient, delivery: Delivery
) -> None:
    for purpose in (Purpose.click, Purpose.unsubscribe, Purpose.preferences, Purpose.open):
        response = public.get(f"/act/{sign(delivery.token, purpose)}")
        assert response.status_code == 404
        assert "This link is not valid" in response.text


def test_the_member_reads_her_organisations_reports_in_her_portal(
    public: TestClient,
    anonymous_client: TestClient,
    session: Session,
    campaign: Campaign,
    organization: Organization,
    contact: Contact,
    delivery: Delivery,
) -> None:
    colleague = make_contact(session, organization, name="Peter Kamau")
    elsewhere = make_organization(session, name="Other Org", country="FRA")
    stranger = make_contact(session, elsewhere, name="Someone Else")
    report(public, delivery, engaged_with="Ministry of Justice")
    report(public, make_delivery(session, campaign, colleague), engaged_with="Parliament")
    report(public, make_delivery(session, campaign, stranger), engaged_with="Not yours")
    member = make_user(
        session,
        Role.member,
        organization_id=organization.id,
        contact_id=contact.id,
        email=contact.email,
    )
    headers = bearer_headers(session, member)
    session.flush()

    page = anonymous_client.get("/portal/actions", headers=headers)

    assert page.status_code == 200
    assert "Ministry of Justice" in page.text
    assert "Parliament" in page.text
    assert "Peter Kamau" in page.text
    assert campaign.title in page.text
    assert "Not yours" not in page.text
    assert 'href="/portal/actions"' in page.text  # in the member's navigation
