"""Campaigns through the API: writing, reading, scoping, previews and test sends."""

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from app.accounts.principal import Role
from app.campaigns.models import Campaign, CampaignStatus
from app.core.audit import AuditEntry
from app.delivery.models import OutboxMessage
from tests.world import World

APIC_ALERT: dict[str, Any] = {
    "title": "Ratify APIC before the Assembly of States Parties",
    "action_type": "contact_officials",
    "topics": ["apic"],
    "audience": {
        "regions": ["africa", "americas"],
        "rome_statute_status": ["party"],
        "apic_status": ["none", "signatory", "unknown"],
        "contact_roles": ["focal_point"],
    },
    "default_language": "en",
    "variants": [
        {
            "language": "en",
            "subject": "{{ country.name }}: ratify APIC",
            "body": "Dear {{ contact.first_name }},\n\n"
            '{% if country.apic_status == "none" %}\n'
            "{{ country.name }} has not signed the APIC.\n"
            "{% endif %}\n\n"
            "[Report your action]({{ links.report }})\n",
        },
        {
            "language": "fr",
            "subject": "{{ country.name }} : ratifiez l'APIC",
            "body": "Bonjour {{ contact.first_name }},\n\n{{ country.name }} doit agir.\n",
        },
        {
            "language": "ar",
            "subject": "{{ country.name }}: صادقوا على الاتفاق",
            "body": "مرحبا {{ contact.name }}\n\n{{ country.name }}\n",
        },
    ],
}


def create(client: TestClient, **changes: Any) -> dict[str, Any]:
    response = client.post("/api/campaigns", json=APIC_ALERT | changes)
    assert response.status_code == 201, response.text
    return response.json()


def test_a_new_campaign_is_a_draft_by_its_author(client: TestClient, world: World) -> None:
    campaign = create(client)
    assert campaign["status"] == "draft"
    assert campaign["author"]["name"] == "Test Admin"
    assert campaign["approved_by"] is None
    assert campaign["regions"] == ["africa", "americas"]
    assert [v["language"] for v in campaign["variants"]] == ["en", "fr", "ar"]
    assert [v["direction"] for v in campaign["variants"]] == ["ltr", "ltr", "rtl"]
    assert campaign["tracking"] == {"clicks": True, "opens": False}
    assert sorted(campaign["allowed_actions"]) == ["approve", "cancel", "delete", "edit"]
    fetched = client.get(f"/api/campaigns/{campaign['id']}").json()
    assert fetched == campaign


def test_the_campaign_audience_counts_its_recipients(client: TestClient, world: World) -> None:
    campaign = create(client)
    counts = client.get(f"/api/campaigns/{campaign['id']}/audience").json()
    # A (KEN, en), C (NGA, en, unknown APIC), F (BRA, pt: no variant; organisation works
    # in pt then es: no variant either, so the default, en).
    assert counts["total"] == 3
    assert counts["by_language"] == {"en": 3}
    assert counts["matched_via_unknown"] == 1


@pytest.mark.parametrize(
    ("changes", "location", "message"),
    [
        ({"default_language": "es"}, ["body", "default_language"], "no variant"),
        (
            {
                "variants": [
                    {"language": "en", "subject": "S", "body": "B"},
                    {"language": "en", "subject": "T", "body": "C"},
                ]
            },
            ["body", "variants", 1, "language"],
            "one variant per language",
        ),
        (
            {
                "variants": [
                    {"language": "en", "subject": "S", "body": "Hello\n{{ contry.name }}\n"}
                ]
            },
            ["body", "variants", 0, "body"],
            "Line 2",
        ),
        (
            {"variants": [{"language": "en", "subject": "{{ nope }}", "body": "B"}]},
            ["body", "variants", 0, "subject"],
            "nope",
        ),
        (
            {"variants": [{"language": "en", "subject": "S", "body": "a\nb\n{% if %}\n"}]},
            ["body", "variants", 0, "body"],
            "Line 3",
        ),
        ({"audience": {"countries": ["ZZZ"]}}, ["body", "countries"], "ZZZ"),
        ({"topics": ["weather"]}, ["body", "topics", 0], ""),
        ({"action_type": "riot"}, ["body", "action_type"], ""),
        ({"variants": []}, ["body", "variants"], ""),
        ({"tracking": {"clicks": True, "pixels": True}}, ["body", "tracking", "pixels"], ""),
    ],
)
def test_bad_campaigns_are_refused_naming_the_field(
    client: TestClient,
    session: Session,
    world: World,
    changes: dict[str, Any],
    location: list[Any],
    message: str,
) -> None:
    response = client.post("/api/campaigns", json=APIC_ALERT | changes)
    assert response.status_code == 422, response.text
    errors = response.json()["detail"]
    assert any(error["loc"][: len(location)] == location for error in errors), errors
    assert any(message in error["msg"] for error in errors), errors
    assert session.scalars(select(Campaign)).first() is None


def test_a_sandbox_escape_is_refused_without_revealing_anything(
    client: TestClient, world: World
) -> None:
    body = "Hi\n{{ cycler.__init__.__globals__.os.environ }}\n"
    response = client.post(
        "/api/campaigns",
        json=APIC_ALERT | {"variants": [{"language": "en", "subject": "S", "body": body}]},
    )
    assert response.status_code == 422
    message = response.json()["detail"][0]["msg"]
    assert "Line 2" in message
    for leak in ("environ", "SECRET", "module", "function", "object at"):
        assert leak not in message


def test_only_the_secretariat_writes_campaigns(client_as: Any, world: World) -> None:
    lead = client_as(Role.regional_lead)
    assert lead.post("/api/campaigns", json=APIC_ALERT).status_code == 403
    member = client_as(Role.member)
    assert member.get("/api/campaigns").status_code == 403


def test_the_list_filters_by_status_and_text_newest_first(client: TestClient, world: World) -> None:
    first = create(client, title="Kampala amendments: ratify now")
    second = create(client)
    client.post(f"/api/campaigns/{first['id']}/cancel")
    listed = client.get("/api/campaigns").json()
    assert [item["id"] for item in listed["items"]] == [second["id"], first["id"]]
    assert listed["total"] == 2
    drafts = client.get("/api/campaigns", params={"status": "draft"}).json()
    assert [item["id"] for item in drafts["items"]] == [second["id"]]
    found = client.get("/api/campaigns", params={"q": "kampala"}).json()
    assert [item["id"] for item in found["items"]] == [first["id"]]
    # Percent signs are text, not wildcards.
    assert client.get("/api/campaigns", params={"q": "%"}).json()["total"] == 0
    page = client.get("/api/campaigns", params={"limit": 1}).json()
    rest = client.get("/api/campaigns", params={"limit": 1, "cursor": page["next_cursor"]}).json()
    assert [page["items"][0]["id"], rest["items"][0]["id"]] == [second["id"], first["id"]]
    assert rest["next_cursor"] is None
    bad = client.get("/api/campaigns", params={"cursor": "garbage!"})
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["query", "cursor"]


def test_regional_leads_read_alerts_sent_to_their_region_only(
    client: TestClient, client_as: Any, session: Session, world: World
) -> None:
    to_africa = create(client)  # africa and americas
    to_europe = create(client, audience={"regions": ["europe"]})
    draft_to_africa = create(client, title="Still a draft")
    for campaign in (to_africa, to_europe):
        row = session.get_one(Campaign, campaign["id"])
        row.status = CampaignStatus.sent
    session.flush()
    lead = client_as(Role.regional_lead, regions=["africa"])
    listed = lead.get("/api/campaigns").json()
    assert [item["id"] for item in listed["items"]] == [to_africa["id"]]
    assert lead.get(f"/api/campaigns/{to_africa['id']}").status_code == 200
    assert lead.get(f"/api/campaigns/{to_europe['id']}").status_code == 404
    assert lead.get(f"/api/campaigns/{draft_to_africa['id']}").status_code == 404
    # She counts and previews only her region's part of it.
    counts = lead.get(f"/api/campaigns/{to_africa['id']}/audience").json()
    assert set(counts["by_region"]) == {"africa"}
    assert lead.post(f"/api/campaigns/{to_africa['id']}/pause").status_code == 403
    assert lead.patch(f"/api/campaigns/{to_africa['id']}", json={"title": "x"}).status_code == 403


def test_editing_an_approved_campaign_returns_it_to_draft(
    client: TestClient, client_as: Any, world: World
) -> None:
    campaign = create(client)
    colleague = client_as(Role.secretariat, full_name="Colleague")
    assert colleague.post(f"/api/campaigns/{campaign['id']}/approve").status_code == 200
    # Saving the same content changes nothing, so the approval stands.
    same = client.patch(f"/api/campaigns/{campaign['id']}", json={"title": APIC_ALERT["title"]})
    assert same.json()["status"] == "approved"
    edited = client.patch(
        f"/api/campaigns/{campaign['id']}",
        json={"variants": [{"language": "en", "subject": "New", "body": "New body"}]},
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["status"] == "draft"
    assert edited.json()["approved_by"] is None
    assert [v["language"] for v in edited.json()["variants"]] == ["en"]


def test_patch_refuses_a_default_language_without_variant(client: TestClient, world: World) -> None:
    campaign = create(client)
    response = client.patch(f"/api/campaigns/{campaign['id']}", json={"default_language": "es"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "default_language"]
    response = client.patch(f"/api/campaigns/{campaign['id']}", json={"title": None})
    assert response.status_code == 422


def test_changing_the_audience_changes_the_regions_reached(
    client: TestClient, world: World
) -> None:
    campaign = create(client)
    changed = client.patch(
        f"/api/campaigns/{campaign['id']}",
        json={"audience": {"regions": ["africa"], "countries": ["FRA", "KEN"]}},
    ).json()
    assert changed["regions"] == ["africa"]
    changed = client.patch(
        f"/api/campaigns/{campaign['id']}", json={"audience": {"countries": ["FRA", "KEN"]}}
    ).json()
    assert changed["regions"] == ["africa", "europe"]


def test_deleting_a_draft_keeps_it_in_the_audit_log(
    client: TestClient, session: Session, world: World
) -> None:
    campaign = create(client)
    assert client.delete(f"/api/campaigns/{campaign['id']}").status_code == 204
    assert client.get(f"/api/campaigns/{campaign['id']}").status_code == 404
    entry = session.scalars(
        select(AuditEntry).where(col(AuditEntry.action) == "campaign.deleted")
    ).one()
    assert entry.before is not None
    assert entry.before["title"] == APIC_ALERT["title"]


def test_tokens_are_listed_with_examples(client: TestClient) -> None:
    tokens = {token["name"]: token for token in client.get("/api/campaigns/tokens").json()}
    for name in (
        "contact.name",
        "contact.first_name",
        "organization.name",
        "country.name",
        "country.apic_status_text",
        "region.name",
        "links.report",
        "links.unsubscribe",
        "links.preferences",
    ):
        assert tokens[name]["example"], name
        assert tokens[name]["description"], name


def test_preview_renders_for_a_chosen_contact_in_her_language(
    client: TestClient, world: World
) -> None:
    campaign = create(client)
    contact = world.contacts["B"]  # Kenya, prefers French
    response = client.get(
        f"/api/campaigns/{campaign['id']}/preview", params={"contact_id": contact.id}
    )
    assert response.status_code == 200, response.text
    preview = response.json()
    assert preview["language"] == "fr"
    assert preview["contact_id"] == contact.id
    assert preview["subject"] == "Kenya : ratifiez l'APIC"
    assert "Bonjour Person" in preview["html"]
    assert "Bonjour Person" in preview["text"]
    english = client.get(
        f"/api/campaigns/{campaign['id']}/preview",
        params={"contact_id": contact.id, "language": "en"},
    ).json()
    assert "Kenya has not signed the APIC." in english["html"]
    assert 'href="http' in english["html"]


def test_preview_in_arabic_is_right_to_left(client: TestClient, world: World) -> None:
    campaign = create(client)
    preview = client.get(
        f"/api/campaigns/{campaign['id']}/preview", params={"language": "ar"}
    ).json()
    assert preview["direction"] == "rtl"
    assert 'dir="rtl"' in preview["html"]


def test_preview_without_a_contact_uses_a_member_of_the_audience(
    client: TestClient, world: World
) -> None:
    campaign = create(client)
    preview = client.get(f"/api/campaigns/{campaign['id']}/preview").json()
    assert preview["contact_id"] == world.contacts["A"].id
    empty = create(client, audience={"countries": ["ISL"]})
    sample = client.get(f"/api/campaigns/{empty['id']}/preview").json()
    assert sample["contact_id"] is None
    assert sample["subject"]


@pytest.mark.parametrize(
    ("params", "status", "location"),
    [
        ({"language": "es"}, 422, ["query", "language"]),
        ({"language": "xx-yy"}, 422, ["query", "language"]),
        ({"contact_id": 2_000_000_000}, 404, ["query", "contact_id"]),
        ({"contact_id": 0}, 422, ["query", "contact_id"]),
    ],
)
def test_preview_refuses_bad_parameters(
    client: TestClient, world: World, params: dict[str, Any], status: int, location: list[str]
) -> None:
    campaign = create(client)
    response = client.get(f"/api/campaigns/{campaign['id']}/preview", params=params)
    assert response.status_code == status, response.text
    assert response.json()["detail"][0]["loc"] == location


def test_a_lead_cannot_preview_for_a_contact_outside_her_region(
    client: TestClient, client_as: Any, session: Session, world: World
) -> None:
    campaign = create(client)
    session.get_one(Campaign, campaign["id"]).status = CampaignStatus.sent
    session.flush()
    lead = client_as(Role.regional_lead, regions=["africa"])
    outside = world.contacts["F"]  # Brazil
    response = lead.get(
        f"/api/campaigns/{campaign['id']}/preview", params={"contact_id": outside.id}
    )
    assert response.status_code == 404


def test_a_test_send_goes_through_the_mail_path_marked_as_a_test(
    client: TestClient, session: Session, world: World
) -> None:
    campaign = create(client)
    response = client.post(
        f"/api/campaigns/{campaign['id']}/test",
        json={"to": ["Me@Example.org"], "contact_id": world.contacts["A"].id},
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"sent": 3, "to": ["me@example.org"], "languages": ["en", "fr", "ar"]}
    messages = session.scalars(
        select(OutboxMessage).where(col(OutboxMessage.purpose) == "campaign_test")
    ).all()
    assert len(messages) == 3
    assert {m.to_address for m in messages} == {"me@example.org"}
    assert all(m.subject.startswith("[Test] ") for m in messages)
    assert any(m.subject == "[Test] Kenya: ratify APIC" for m in messages)
    assert all(m.html_body for m in messages)
    one = client.post(
        f"/api/campaigns/{campaign['id']}/test", json={"to": ["me@example.org"], "language": "fr"}
    )
    assert one.json()["sent"] == 1


@pytest.mark.parametrize(
    "body",
    [
        {"to": []},
        {"to": ["not-an-address"]},
        {"to": [f"p{i}@example.org" for i in range(6)]},
        {"to": ["me@example.org"], "language": "es"},
        {"to": ["me@example.org\r\nBcc: victim@example.org"]},
    ],
)
def test_bad_test_sends_are_refused_and_send_nothing(
    client: TestClient, session: Session, world: World, body: dict[str, Any]
) -> None:
    campaign = create(client)
    response = client.post(f"/api/campaigns/{campaign['id']}/test", json=body)
    assert response.status_code == 422, response.text
    assert session.scalars(select(OutboxMessage)).first() is None
