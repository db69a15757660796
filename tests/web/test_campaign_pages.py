"""The action-alert pages, through the app in-process: the list, the alert form, the
campaign page and its actions, with page sessions (cookie + CSRF) and bearer clients."""

import base64
import hashlib
import html
import re
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, func, select

from app.accounts.models import User
from app.accounts.principal import Role
from app.campaigns.models import Campaign, CampaignStatus
from app.delivery.models import OutboxMessage
from app.members.models import Organization
from tests.conftest import shared_app
from tests.factories import TEST_PASSWORD, make_contact, make_organization, make_user
from tests.web.test_pages import assert_every_control_labelled, assert_html_page

GENEVA = ZoneInfo("Europe/Zurich")


# --- helpers ------------------------------------------------------------------------------


def signed_in(client: TestClient, user: User, next_page: str = "/campaigns") -> str:
    """Sign in through the page; return the CSRF token the pages' forms carry."""
    response = client.post(
        "/sign-in", data={"email": user.email, "password": TEST_PASSWORD, "next": next_page}
    )
    assert response.status_code == 200, response.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', response.text)
    assert token is not None
    return token.group(1)


class _FormValues(HTMLParser):
    """What a browser would send for the form whose action is `action`, untouched."""

    def __init__(self, action: str) -> None:
        super().__init__()
        self.action = action
        self.inside = False
        self.values: list[tuple[str, str]] = []
        self._select: str | None = None
        self._textarea: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {key: value or "" for key, value in attrs}
        if tag == "form":
            self.inside = a.get("action") == self.action
        if not self.inside:
            return
        if tag == "input" and a.get("name"):
            if a.get("type") in {"checkbox", "radio"}:
                if "checked" in a:
                    self.values.append((a["name"], a.get("value", "on")))
            else:
                self.values.append((a["name"], a.get("value", "")))
        elif tag == "select":
            self._select = a.get("name")
        elif tag == "option" and self._select and "selected" in a:
            self.values.append((self._select, a.get("value", "")))
        elif tag == "textarea":
            self._textarea = a.get("name")
            self._text = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False
        elif tag == "select":
            self._select = None
        elif tag == "textarea" and self._textarea:
            # Browsers drop the newline that may follow <textarea>.
            self.values.append((self._textarea, "".join(self._text).removeprefix("\n")))
            self._textarea = None

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._text.append(data)


def form_values(page: str, action: str) -> dict[str, Any]:
    parser = _FormValues(action)
    parser.feed(page)
    values: dict[str, Any] = {}
    for name, value in parser.values:
        if name in values:
            existing = values[name]
            values[name] = [*existing, value] if isinstance(existing, list) else [existing, value]
        else:
            values[name] = value
    return values


def field_error(page: str, field: str) -> str:
    """The error shown beside a field (the element the field's aria-describedby names)."""
    found = re.search(rf'<p class="field__error" id="{re.escape(field)}-error">([^<]*)</p>', page)
    assert found is not None, f"no error beside {field}"
    return html.unescape(found.group(1))


def next_monday(weeks_ahead: int = 2) -> date:
    today = datetime.now(UTC).date()
    return today + timedelta(days=7 - today.weekday() + 7 * (weeks_ahead - 1))


ALERT_FORM: dict[str, Any] = {
    "title": "Ratify APIC before the Assembly",
    "action_type": "contact_officials",
    "topics": ["apic"],
    "track_clicks": "on",
    "default_language": "en",
    "subject.en": "{{ country.name }}: ratify APIC",
    "body.en": "Dear {{ contact.first_name }},\r\n\r\nWrite to your ministry.\r\n",
    "subject.fr": "{{ country.name }} : ratifiez l'APIC",
    "body.fr": "Bonjour {{ contact.first_name }},\r\n\r\nÉcrivez au ministère.\r\n",
    "subject.es": "",
    "body.es": "",
    "subject.ar": "",
    "body.ar": "",
    "regions": ["africa", "europe"],
    "apic_status": ["none", "unknown"],
    "membership_status": ["active"],
    "focus_areas": "",
}

API_ALERT: dict[str, Any] = {
    "title": "Ratify APIC before the Assembly",
    "action_type": "contact_officials",
    "topics": ["apic"],
    "audience": {"regions": ["europe", "africa"]},
    "default_language": "en",
    "variants": [
        {
            "language": "en",
            "subject": "{{ country.name }}: ratify APIC",
            "body": "Dear all,\n\nAct.",
        },
        {
            "language": "fr",
            "subject": "{{ country.name }} : l'APIC",
            "body": "Bonjour,\n\nAgissez.",
        },
    ],
}


def create_via_api(client: TestClient, **changes: Any) -> int:
    response = client.post("/api/campaigns", json=API_ALERT | changes)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def campaign_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Campaign)) or 0


@pytest.fixture
def registry(session: Session) -> dict[str, Organization]:
    """Members in Kenya (APIC: none in the shipped data may differ, so it is set here),
    France, and Colombia, each with a contact."""
    organizations = {
        "kenya": make_organization(session, name="Amani Justice Network", country="KEN"),
        "france": make_organization(session, name="Paris Rights Network", country="FRA"),
        "colombia": make_organization(session, name="Justicia Ya", country="COL"),
    }
    make_contact(session, organizations["kenya"], email="wanjiru@example.org")
    make_contact(session, organizations["kenya"], email="otieno@example.org", language="fr")
    make_contact(session, organizations["france"], email="claire@example.org", language="fr")
    make_contact(session, organizations["colombia"], email="lucia@example.org", language="es")
    session.flush()
    return organizations


@pytest.fixture
def author(session: Session) -> User:
    user = make_user(session, Role.secretariat, email="author@example.org", full_name="Ana Author")
    session.flush()
    return user


# --- the list -------------------------------------------------------------------------------


def test_the_list_shows_alerts_newest_first_and_filters(
    client: TestClient, client_as: Any, registry: dict[str, Organization]
) -> None:
    older = create_via_api(client, title="Older alert on Kampala")
    newer = create_via_api(client, title="Newer alert on APIC")
    colleague = client_as(Role.secretariat)
    assert colleague.post(f"/api/campaigns/{newer}/approve").status_code == 200

    page = assert_html_page(client.get("/campaigns"))
    assert "<title>Action alerts · Coalition for the ICC</title>" in page
    assert '<span data-testid="total">2</span>' in page
    assert page.index(f'href="/campaigns/{newer}"') < page.index(f'href="/campaigns/{older}"')
    assert 'href="/campaigns/new"' in page  # the secretariat writes alerts
    assert "English, French" in page
    assert "Africa, Europe" in page
    assert 'aria-current="page">Alerts</a>' in page
    assert_every_control_labelled(page)

    approved = client.get("/campaigns", params={"status": "approved"}).text
    assert '<span data-testid="total">1</span>' in approved
    assert "Newer alert on APIC" in approved
    assert "Older alert on Kampala" not in approved
    assert '<option value="approved" selected>' in approved

    searched = client.get("/campaigns", params={"q": "kampala"}).text
    assert "Older alert on Kampala" in searched
    assert "Newer alert on APIC" not in searched

    nothing = client.get("/campaigns", params={"q": "no such alert"}).text
    assert "No alert matches these filters." in nothing

    bad = client.get("/campaigns", params={"status": "shipped"})
    assert bad.status_code == 422
    assert "Some filters could not be used" in bad.text


def test_the_list_pages_with_the_services_cursor(
    client: TestClient, registry: dict[str, Organization]
) -> None:
    ids = [create_via_api(client, title=f"Alert number {n}") for n in range(3)]
    first = client.get("/campaigns", params={"limit": "2"}).text
    assert f'href="/campaigns/{ids[2]}"' in first
    assert f'href="/campaigns/{ids[0]}"' not in first
    next_link = re.search(r'href="(/campaigns\?[^"]*cursor=[^"]+)" rel="next"', first)
    assert next_link is not None
    second = client.get(html.unescape(next_link.group(1))).text
    assert f'href="/campaigns/{ids[0]}"' in second
    assert f'href="/campaigns/{ids[2]}"' not in second
    assert "First page" in second

    broken = client.get("/campaigns", params={"cursor": "not-a-cursor"})
    assert broken.status_code == 422
    assert "Malformed cursor" in broken.text


def test_an_empty_list_says_what_to_do(client: TestClient) -> None:
    page = client.get("/campaigns").text
    assert "There are no alerts yet." in page
    assert "Write the first one" in page


# --- writing ------------------------------------------------------------------------------


def test_creating_an_alert_through_the_form(
    anonymous_client: TestClient,
    session: Session,
    author: User,
    registry: dict[str, Organization],
) -> None:
    csrf = signed_in(anonymous_client, author, "/campaigns/new")
    form = assert_html_page(anonymous_client.get("/campaigns/new"))
    assert_every_control_labelled(form)
    for language in ("en", "fr", "es", "ar"):
        assert f'name="body.{language}"' in form
    assert 'name="body.ar" rows="14" lang="ar" dir="rtl"' in form
    assert '<input id="f-track_clicks" type="checkbox" name="track_clicks" value="on" checked>' in (
        form
    )
    assert 'name="track_opens" value="on">' in form  # off by default
    assert 'value="active" checked' in form  # active members by default
    assert "contact.first_name" in form  # the token list
    assert 'data-endpoint="/api/audiences/preview"' in form
    assert '<script src="/static/campaigns.js" defer></script>' in form

    response = anonymous_client.post(
        "/campaigns/new", data={**ALERT_FORM, "csrf_token": csrf}, follow_redirects=False
    )
    assert response.status_code == 303, response.text
    match = re.fullmatch(r"/campaigns/(\d+)\?done=created", response.headers["location"])
    assert match is not None
    campaign = session.get_one(Campaign, int(match.group(1)))
    assert campaign.status is CampaignStatus.draft
    assert campaign.author_id == author.id
    assert campaign.topics == ["apic"]
    assert (campaign.track_clicks, campaign.track_opens) == (True, False)
    assert campaign.audience["regions"] == ["africa", "europe"]
    assert campaign.audience["apic_status"] == ["none", "unknown"]
    assert campaign.audience["membership_status"] == ["active"]
    assert [v.language for v in campaign.variants] == ["en", "fr"]  # es and ar left empty
    assert (
        campaign.variants[0].body == "Dear {{ contact.first_name }},\n\nWrite to your ministry.\n"
    )

    page = anonymous_client.get(response.headers["location"]).text
    assert "Alert saved as a draft." in page
    assert "ask another secretariat member to approve it" in page


def test_a_bad_token_is_shown_beside_that_variants_body_and_nothing_is_saved(
    anonymous_client: TestClient,
    session: Session,
    author: User,
    registry: dict[str, Organization],
) -> None:
    csrf = signed_in(anonymous_client, author, "/campaigns/new")
    before = campaign_count(session)
    response = anonymous_client.post(
        "/campaigns/new",
        data={
            **ALERT_FORM,
            "csrf_token": csrf,
            "body.fr": "Bonjour,\r\n\r\nLe pays {{ country.nom }} doit agir.",
        },
    )
    assert response.status_code == 422
    message = field_error(response.text, "body.fr")
    assert message.startswith("Line 3:")
    assert "country.nom" in message
    assert 'aria-invalid="true"' in response.text
    assert "Nothing was saved." in response.text
    # What was typed is kept (textareas as typed, line breaks as LF).
    assert "Le pays {{ country.nom }} doit agir." in html.unescape(response.text)
    assert 'value="africa" checked' in response.text
    assert campaign_count(session) == before


def test_form_mistakes_are_shown_beside_their_fields(
    anonymous_client: TestClient,
    session: Session,
    author: User,
    registry: dict[str, Organization],
) -> None:
    csrf = signed_in(anonymous_client, author, "/campaigns/new")
    before = campaign_count(session)
    half_written = anonymous_client.post(
        "/campaigns/new",
        data={**ALERT_FORM, "csrf_token": csrf, "title": "", "body.fr": ""},
    )
    assert half_written.status_code == 422
    assert field_error(half_written.text, "title") == "String should have at least 1 character"
    assert "clear both to leave the language out" in field_error(half_written.text, "body.fr")

    no_default = anonymous_client.post(
        "/campaigns/new", data={**ALERT_FORM, "csrf_token": csrf, "default_language": "es"}
    )
    assert no_default.status_code == 422
    assert "no variant in the default language 'es'" in field_error(
        no_default.text, "default_language"
    )

    unknown_country = anonymous_client.post(
        "/campaigns/new", data={**ALERT_FORM, "csrf_token": csrf, "countries": "ZZZ"}
    )
    assert unknown_country.status_code == 422
    assert "ZZZ" in field_error(unknown_country.text, "countries")
    assert campaign_count(session) == before


def test_forms_without_the_csrf_token_are_refused(
    anonymous_client: TestClient,
    session: Session,
    author: User,
    registry: dict[str, Organization],
) -> None:
    signed_in(anonymous_client, author)
    before = campaign_count(session)
    response = anonymous_client.post("/campaigns/new", data=ALERT_FORM)
    assert response.status_code == 403
    assert "CSRF" in response.text
    assert campaign_count(session) == before


def test_editing_an_approved_alert_returns_it_to_draft(
    client: TestClient, client_as: Any, session: Session, registry: dict[str, Organization]
) -> None:
    campaign_id = create_via_api(client)
    assert client_as(Role.secretariat).post(f"/api/campaigns/{campaign_id}/approve").is_success

    edit = assert_html_page(client.get(f"/campaigns/{campaign_id}/edit"))
    assert "Saving a change returns it to draft" in edit
    assert_every_control_labelled(edit)
    shown = form_values(edit, f"/campaigns/{campaign_id}/edit")
    assert shown["regions"] == ["africa", "europe"]
    assert shown["subject.fr"] == "{{ country.name }} : l'APIC"

    # Saved as shown: nothing changed, so the approval stands.
    unchanged = client.post(f"/campaigns/{campaign_id}/edit", data=shown, follow_redirects=False)
    assert unchanged.status_code == 303
    assert unchanged.headers["location"] == f"/campaigns/{campaign_id}?done=updated"
    assert session.get_one(Campaign, campaign_id).status is CampaignStatus.approved

    changed = client.post(
        f"/campaigns/{campaign_id}/edit",
        data={**shown, "title": "Ratify APIC now"},
        follow_redirects=False,
    )
    assert changed.status_code == 303
    assert changed.headers["location"] == f"/campaigns/{campaign_id}?done=returned_to_draft"
    session.expire_all()
    campaign = session.get_one(Campaign, campaign_id)
    assert campaign.title == "Ratify APIC now"
    assert campaign.status is CampaignStatus.draft
    assert campaign.approved_by_id is None
    page = client.get(changed.headers["location"]).text
    assert "The alert went back to draft" in page


def test_a_bad_edit_changes_nothing(
    client: TestClient, session: Session, registry: dict[str, Organization]
) -> None:
    campaign_id = create_via_api(client)
    shown = form_values(
        client.get(f"/campaigns/{campaign_id}/edit").text, f"/campaigns/{campaign_id}/edit"
    )
    response = client.post(
        f"/campaigns/{campaign_id}/edit",
        data={**shown, "title": "Changed", "subject.en": "{{ contact.nmae }}"},
    )
    assert response.status_code == 422
    assert "contact.nmae" in field_error(response.text, "subject.en")
    session.expire_all()
    assert session.get_one(Campaign, campaign_id).title == API_ALERT["title"]


# --- the campaign page and its actions --------------------------------------------------------


def test_the_campaign_page_shows_counts_previews_and_actions(
    client: TestClient, registry: dict[str, Organization]
) -> None:
    campaign_id = create_via_api(
        client,
        variants=[
            *API_ALERT["variants"],
            {"language": "ar", "subject": "{{ country.name }}: نداء", "body": "مرحبا"},
        ],
    )
    response = client.get(f"/campaigns/{campaign_id}")
    page = assert_html_page(response)
    assert_every_control_labelled(page)
    assert '<span class="badge badge--neutral" data-testid="status">Draft</span>' in page
    # The same figures as the API's audience preview of the campaign.
    audience = client.get(f"/api/campaigns/{campaign_id}/audience").json()
    assert audience["total"] == 3  # Kenya (2) and France (1); the Colombian is elsewhere
    assert f'data-testid="audience-total">{audience["total"]}</span>' in page
    # A preview per language: the subject, the HTML in a sandboxed frame, the text.
    assert 'data-testid="preview-subject-en" lang="en" dir="ltr">Kenya: ratify APIC<' in page
    assert 'data-testid="preview-subject-fr"' in page
    assert 'dir="rtl">' in page
    frames = re.findall(r"<iframe ([^>]*)>", page)
    assert len(frames) == 3
    for frame in frames:
        assert re.search(r"(^| )sandbox( |$)", frame)
        assert "allow-scripts" not in frame
        assert "srcdoc=" in frame
    assert '<pre class="preview-text"' in page
    # The frames inherit the page's policy: it lets through exactly the emails' inline
    # CSS (so the preview looks as members see it), and still no script or other style.
    policy = response.headers["content-security-policy"]
    assert "script-src 'self';" in policy
    assert "unsafe-inline" not in policy
    email = client.get(f"/api/campaigns/{campaign_id}/preview", params={"language": "en"})
    styles = {html.unescape(v) for v in re.findall(r'style="([^"]*)"', email.json()["html"])}
    assert styles
    for style in styles:
        digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in policy
    # What a draft allows, as forms carrying the CSRF field.
    for action in ("approve", "cancel", "delete", "test"):
        assert f'action="/campaigns/{campaign_id}/{action}"' in page
    for action in ("launch", "schedule", "pause", "resume"):
        assert f'action="/campaigns/{campaign_id}/{action}"' not in page
    assert f'href="/campaigns/{campaign_id}/edit"' in page


def test_the_author_may_not_approve_but_a_colleague_may(
    client: TestClient, client_as: Any, session: Session, registry: dict[str, Organization]
) -> None:
    campaign_id = create_via_api(client)
    refused = client.post(f"/campaigns/{campaign_id}/approve")
    assert refused.status_code == 403
    assert "another secretariat member must approve it" in refused.text
    assert "Nothing was changed." in refused.text
    assert session.get_one(Campaign, campaign_id).status is CampaignStatus.draft

    colleague = client_as(Role.secretariat, full_name="Colin Colleague")
    approved = colleague.post(f"/campaigns/{campaign_id}/approve", follow_redirects=False)
    assert approved.status_code == 303
    assert approved.headers["location"] == f"/campaigns/{campaign_id}?done=approved"
    page = colleague.get(approved.headers["location"]).text
    assert "Approved. It can now be launched or scheduled." in page
    assert "Colin Colleague" in page
    assert f'action="/campaigns/{campaign_id}/schedule"' in page
    assert '<input id="f-send_at" type="datetime-local"' in page
    assert '<option value="Europe/Zurich" selected>' in page

    again = colleague.post(f"/campaigns/{campaign_id}/approve")
    assert again.status_code == 409
    assert "Cannot approve this campaign: it is approved." in again.text


def test_scheduling_in_geneva_time_stores_the_utc_instant(
    client: TestClient, client_as: Any, session: Session, registry: dict[str, Organization]
) -> None:
    campaign_id = create_via_api(client)
    assert client_as(Role.secretariat).post(f"/api/campaigns/{campaign_id}/approve").is_success
    monday = next_monday()
    response = client.post(
        f"/campaigns/{campaign_id}/schedule",
        data={"send_at": f"{monday.isoformat()}T09:00", "timezone": "Europe/Zurich"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == f"/campaigns/{campaign_id}?done=scheduled"
    campaign = session.get_one(Campaign, campaign_id)
    expected = datetime(monday.year, monday.month, monday.day, 9, tzinfo=GENEVA)
    assert campaign.status is CampaignStatus.scheduled
    assert campaign.send_at == expected
    assert campaign.send_at is not None
    assert campaign.send_at.astimezone(UTC).hour == (8 if expected.dst() == timedelta(0) else 7)
    assert campaign.send_timezone == "Europe/Zurich"

    page = client.get(response.headers["location"]).text
    assert "Scheduled. It will start sending on its own" in page
    assert f"Mon {monday.day} {monday:%b %Y}, 09:00 Europe/Zurich" in page
    assert '<span class="badge badge--info" data-testid="status">Scheduled</span>' in page
    listed = client.get("/campaigns").text
    assert f"Mon {monday.day} {monday:%b %Y}, 09:00 Europe/Zurich" in listed


def test_bad_schedules_are_refused_and_change_nothing(
    client: TestClient, client_as: Any, session: Session, registry: dict[str, Organization]
) -> None:
    campaign_id = create_via_api(client)
    assert client_as(Role.secretariat).post(f"/api/campaigns/{campaign_id}/approve").is_success
    past = client.post(
        f"/campaigns/{campaign_id}/schedule",
        data={"send_at": "2020-01-06T09:00", "timezone": "Europe/Zurich"},
    )
    assert past.status_code == 422
    assert "send_at is in the past" in field_error(past.text, "send_at")
    assert 'value="2020-01-06T09:00"' in past.text  # kept to correct
    empty = client.post(
        f"/campaigns/{campaign_id}/schedule", data={"send_at": "", "timezone": "Europe/Zurich"}
    )
    assert empty.status_code == 422
    assert "Give the date and time" in field_error(empty.text, "send_at")
    zone = client.post(
        f"/campaigns/{campaign_id}/schedule",
        data={"send_at": f"{next_monday().isoformat()}T09:00", "timezone": "Mars/Olympus"},
    )
    assert zone.status_code == 422
    assert "Choose a time zone" in field_error(zone.text, "timezone")
    session.expire_all()
    campaign = session.get_one(Campaign, campaign_id)
    assert campaign.status is CampaignStatus.approved
    assert campaign.send_at is None


def test_launch_pause_resume_and_cancel(
    client: TestClient, client_as: Any, session: Session, registry: dict[str, Organization]
) -> None:
    campaign_id = create_via_api(client)
    wrong_state = client.post(f"/campaigns/{campaign_id}/pause")
    assert wrong_state.status_code == 409
    assert "Cannot pause this campaign: it is draft." in wrong_state.text
    assert client_as(Role.secretariat).post(f"/api/campaigns/{campaign_id}/approve").is_success

    steps = [("launch", "launched", "sending"), ("pause", "paused", "paused")]
    steps += [("resume", "resumed", "sending")]
    for action, done, status in steps:
        response = client.post(f"/campaigns/{campaign_id}/{action}", follow_redirects=False)
        assert response.status_code == 303, (action, response.text)
        assert response.headers["location"] == f"/campaigns/{campaign_id}?done={done}"
        session.expire_all()
        assert session.get_one(Campaign, campaign_id).status == status

    not_confirmed = client.post(f"/campaigns/{campaign_id}/cancel")
    assert not_confirmed.status_code == 422
    assert "Tick the box" in field_error(not_confirmed.text, "confirm-cancel")
    session.expire_all()
    assert session.get_one(Campaign, campaign_id).status is CampaignStatus.sending

    cancelled = client.post(
        f"/campaigns/{campaign_id}/cancel", data={"confirm": "on"}, follow_redirects=False
    )
    assert cancelled.status_code == 303
    page = client.get(cancelled.headers["location"]).text
    assert "Cancelled. Nothing more will be sent" in page
    assert "Nothing more: this alert is cancelled." in page


def test_deleting_needs_a_confirmation(
    client: TestClient, session: Session, registry: dict[str, Organization]
) -> None:
    campaign_id = create_via_api(client)
    refused = client.post(f"/campaigns/{campaign_id}/delete", data={})
    assert refused.status_code == 422
    assert session.get(Campaign, campaign_id) is not None
    deleted = client.post(
        f"/campaigns/{campaign_id}/delete", data={"confirm": "on"}, follow_redirects=False
    )
    assert deleted.status_code == 303
    assert deleted.headers["location"] == "/campaigns?done=deleted"
    session.expire_all()
    assert session.get(Campaign, campaign_id) is None
    assert "Alert deleted." in client.get(deleted.headers["location"]).text
    assert client.get(f"/campaigns/{campaign_id}").status_code == 404


def test_a_test_send_puts_messages_in_the_outbox(
    client: TestClient, session: Session, registry: dict[str, Organization]
) -> None:
    campaign_id = create_via_api(client)
    page = client.get(f"/campaigns/{campaign_id}").text
    assert 'name="to"' in page

    def tests_in_outbox() -> list[OutboxMessage]:
        return list(
            session.scalars(
                select(OutboxMessage).where(col(OutboxMessage.purpose) == "campaign_test")
            )
        )

    bad = client.post(f"/campaigns/{campaign_id}/test", data={"to": "not-an-address"})
    assert bad.status_code == 422
    assert "not-an-address" in field_error(bad.text, "to")
    assert tests_in_outbox() == []

    response = client.post(
        f"/campaigns/{campaign_id}/test",
        data={"to": "me@example.org, Colleague@Example.org", "test_language": ""},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == f"/campaigns/{campaign_id}?done=test_sent&sent=4"
    sent = tests_in_outbox()
    assert sorted((m.to_address, m.subject) for m in sent) == [
        ("colleague@example.org", "[Test] Kenya : l'APIC"),
        ("colleague@example.org", "[Test] Kenya: ratify APIC"),
        ("me@example.org", "[Test] Kenya : l'APIC"),
        ("me@example.org", "[Test] Kenya: ratify APIC"),
    ]
    assert "Test sent: 4 messages" in client.get(response.headers["location"]).text

    french_only = client.post(
        f"/campaigns/{campaign_id}/test", data={"to": "me@example.org", "test_language": "fr"}
    )
    assert french_only.status_code == 200
    assert len(tests_in_outbox()) == 5


# --- who may see what -----------------------------------------------------------------------


def _scheduled(client: TestClient, client_as: Any, regions: list[str], title: str) -> int:
    campaign_id = create_via_api(client, title=title, audience={"regions": regions})
    assert client_as(Role.secretariat).post(f"/api/campaigns/{campaign_id}/approve").is_success
    send_at = datetime.combine(next_monday(), datetime.min.time(), GENEVA).replace(hour=9)
    response = client.post(
        f"/api/campaigns/{campaign_id}/launch",
        json={"send_at": send_at.isoformat(), "timezone": "Europe/Zurich"},
    )
    assert response.status_code == 200, response.text
    return campaign_id


def test_a_regional_lead_reads_her_regions_alerts_without_forms(
    client: TestClient, client_as: Any, registry: dict[str, Organization]
) -> None:
    africa = _scheduled(client, client_as, ["africa"], "Alert for Africa")
    europe = _scheduled(client, client_as, ["europe"], "Alert for Europe")
    create_via_api(client, title="A draft for Africa", audience={"regions": ["africa"]})
    lead = client_as(Role.regional_lead)  # of Africa

    listed = assert_html_page(lead.get("/campaigns"))
    assert "Alert for Africa" in listed
    assert "Alert for Europe" not in listed
    assert "A draft for Africa" not in listed  # drafts are the secretariat's
    assert 'href="/campaigns/new"' not in listed

    page = assert_html_page(lead.get(f"/campaigns/{africa}"))
    assert "Alert for Africa" in page
    assert "Only the secretariat changes or sends alerts." in page
    assert 'method="post" action="/campaigns/' not in page
    assert 'data-testid="preview-subject-en"' in page  # she reads the preview

    outside = lead.get(f"/campaigns/{europe}")
    assert outside.status_code == 404
    assert "There is no action alert with id" in outside.text
    assert "Alert for Europe" not in outside.text
    assert lead.get("/campaigns/not-a-number").status_code == 404

    assert lead.get("/campaigns/new").status_code == 403
    assert lead.get(f"/campaigns/{africa}/edit").status_code == 403
    assert lead.post(f"/campaigns/{africa}/cancel", data={"confirm": "on"}).status_code == 403


def test_members_and_strangers_are_kept_out(client: TestClient, client_as: Any) -> None:
    campaign_id = create_via_api(client)
    member = client_as(Role.member)
    assert member.get("/campaigns").status_code == 403
    assert member.get(f"/campaigns/{campaign_id}").status_code == 403
    assert 'href="/campaigns"' not in member.get("/countries").text
    with TestClient(shared_app()) as stranger:
        signed_out = stranger.get(f"/campaigns/{campaign_id}", follow_redirects=False)
    assert signed_out.status_code == 303
    assert signed_out.headers["location"] == f"/sign-in?next=%2Fcampaigns%2F{campaign_id}"


def test_unknown_alerts_get_the_not_found_page(client: TestClient) -> None:
    for path in ("/campaigns/999999", "/campaigns/0", "/campaigns/abc", "/campaigns/99999999999"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert "Not found" in response.text
    assert client.post("/campaigns/999999/approve").status_code == 404
