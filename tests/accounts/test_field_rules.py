"""Field-level rules (issue 3, point 7).

A member changes her organisation's descriptive fields (through /api/me/organization),
its contacts, their languages and preferences; never its country (so its region), its
membership status, the secretariat's notes and custom fields, or anyone's bounce state.
A regional lead edits organisations and contacts of her regions, not country data or
users. Unknown or forbidden fields are a 422 naming the field, and change nothing.
"""

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, func, select

from app.accounts.principal import Role
from app.core.audit import AuditEntry
from app.members import service as members
from app.members.models import BounceStatus, Contact, Organization
from tests.factories import make_contact, make_organization

ClientAs = Callable[..., TestClient]


def audit_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(AuditEntry)) or 0


def organization_state(session: Session, organization: Organization) -> dict[str, Any]:
    session.expire_all()
    return members.snapshot(session.get_one(Organization, organization.id))


def contact_state(session: Session, contact: Contact) -> dict[str, Any]:
    session.expire_all()
    return members.contact_snapshot(session.get_one(Contact, contact.id))


def loc_of(response: Any) -> list[Any]:
    return [item["loc"] for item in response.json()["detail"]]


@pytest.fixture
def home(session: Session) -> Organization:
    return make_organization(
        session,
        name="Kenya Section",
        acronym="KS",
        country="KEN",
        notes="Secretariat only: funding under review",
        membership_status="active",
        focus_areas=["victims-rights"],
        languages=["en", "sw"],
    )


@pytest.fixture
def member(session: Session, home: Organization, client_as: ClientAs) -> TestClient:
    contact = make_contact(session, home, email="focal@kenya.example.org")
    return client_as(
        Role.member, organization_id=home.id, contact_id=contact.id, email=contact.email
    )


# --- the member's own organisation -------------------------------------------------------------


def test_members_cannot_use_the_staff_organisation_update(
    session: Session, home: Organization, member: TestClient
) -> None:
    before = organization_state(session, home)
    response = member.patch(f"/api/organizations/{home.id}", json={"name": "Renamed"})
    assert response.status_code == 403
    assert member.delete(f"/api/organizations/{home.id}").status_code == 403
    assert organization_state(session, home) == before


def test_a_member_reads_her_organisation_without_the_secretariats_notes(
    home: Organization, member: TestClient
) -> None:
    response = member.get("/api/me/organization")
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == home.id
    assert body["name"] == "Kenya Section"
    assert body["region"] == "africa"
    assert body["notes"] is None
    assert "funding" not in response.text


def test_a_member_changes_the_descriptive_fields(
    session: Session, home: Organization, member: TestClient
) -> None:
    changes = {
        "name": "Kenya Section of the Coalition",
        "acronym": "KSC",
        "website": "https://kenya.example.org",
        "address": "P.O. Box 1, Nairobi",
        "type": "network",
        "focus_areas": ["victims-rights", "complementarity"],
        "languages": ["sw", "en", "fr"],
    }
    response = member.patch("/api/me/organization", json=changes)
    assert response.status_code == 200, response.text
    body = response.json()
    for name, value in changes.items():
        expected = sorted(value) if name == "focus_areas" else value
        assert body[name] == expected, name
    state = organization_state(session, home)
    assert state["languages"] == ["sw", "en", "fr"]  # order kept: most used first
    assert state["country"] == "KEN"
    assert state["membership_status"] == "active"
    assert state["notes"] == "Secretariat only: funding under review"
    entry = session.scalars(
        select(AuditEntry)
        .where(AuditEntry.action == "organization.update", AuditEntry.target_id == str(home.id))
        .order_by(col(AuditEntry.id).desc())
    ).first()
    assert entry is not None
    assert entry.actor.startswith("user:")
    assert entry.after is not None
    assert entry.after["name"] == changes["name"]
    # Clearing an optional field is allowed.
    cleared = member.patch("/api/me/organization", json={"acronym": "", "website": None})
    assert cleared.status_code == 200
    assert cleared.json()["acronym"] is None
    assert cleared.json()["website"] is None


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("country", "FRA"),
        ("region", "europe"),
        ("membership_status", "archived"),
        ("custom_fields", {"board_size": 3}),
        ("notes", "Please fund us"),
        ("merged_into_id", 1),
        ("joined_on", "2001-01-01"),
        ("id", 999),
        ("suppressed", True),
        ("bounce_status", "ok"),
        ("no_such_field", "x"),
    ],
)
def test_forbidden_and_unknown_fields_are_422_and_change_nothing(
    session: Session, home: Organization, member: TestClient, field: str, value: Any
) -> None:
    before, entries = organization_state(session, home), audit_count(session)
    # Even next to a field she may change: the whole request is refused.
    response = member.patch("/api/me/organization", json={"acronym": "NEW", field: value})
    assert response.status_code == 422, response.text
    assert ["body", field] in loc_of(response)
    assert organization_state(session, home) == before
    assert audit_count(session) == entries


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": None}, "name"),
        ({"name": ""}, "name"),
        ({"type": None}, "type"),
        ({"type": "government"}, "type"),
        ({"languages": []}, "languages"),
        ({"languages": None}, "languages"),
        ({"languages": ["xx"]}, "languages"),
        ({"focus_areas": ["Not A Tag!"]}, "focus_areas"),
        ({"website": "javascript:alert(1)"}, "website"),
    ],
)
def test_bad_values_are_422_naming_the_field(
    session: Session, home: Organization, member: TestClient, body: dict[str, Any], field: str
) -> None:
    before = organization_state(session, home)
    response = member.patch("/api/me/organization", json=body)
    assert response.status_code == 422, response.text
    assert any(loc[:2] == ["body", field] for loc in loc_of(response))
    assert organization_state(session, home) == before


def test_the_member_routes_are_for_members_only(
    home: Organization, client: TestClient, client_as: ClientAs
) -> None:
    lead = client_as(Role.regional_lead)
    for staff in (client, lead):
        assert staff.get("/api/me/organization").status_code == 403
        assert staff.patch("/api/me/organization", json={"acronym": "X"}).status_code == 403


def test_a_member_changes_only_her_own_organisation(
    session: Session, home: Organization, member: TestClient
) -> None:
    other = make_organization(session, name="Someone Else", country="KEN")
    before = organization_state(session, other)
    assert member.get(f"/api/organizations/{other.id}").status_code == 404
    assert member.patch("/api/me/organization", json={"name": "Mine"}).status_code == 200
    assert organization_state(session, other) == before
    assert organization_state(session, home)["name"] == "Mine"


# --- the member's contacts ------------------------------------------------------------------


def test_a_member_adds_changes_and_removes_her_organisations_contacts(
    session: Session, home: Organization, member: TestClient
) -> None:
    created = member.post(
        f"/api/organizations/{home.id}/contacts",
        json={"name": "New Colleague", "email": "new@kenya.example.org", "language": "sw"},
    )
    assert created.status_code == 201, created.text
    contact_id = created.json()["id"]
    changed = member.patch(
        f"/api/contacts/{contact_id}",
        json={
            "name": "New Colleague",
            "role": "legal",
            "language": "fr",
            "subscription_status": "paused",
            "paused_until": "2031-01-31",
        },
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["language"] == "fr"
    assert changed.json()["subscription_status"] == "paused"
    assert changed.json()["paused_until"] == "2031-01-31"
    unsubscribed = member.patch(
        f"/api/contacts/{contact_id}", json={"subscription_status": "unsubscribed"}
    )
    assert unsubscribed.status_code == 200
    assert member.delete(f"/api/contacts/{contact_id}").status_code == 204
    assert member.get(f"/api/contacts/{contact_id}").status_code == 404


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("bounce_status", "ok"),
        ("hard_bounce_count", 0),
        ("soft_bounce_count", 0),
        ("last_bounced_at", None),
        ("organization_id", 1),
        ("suppressed", False),
        ("id", 1),
    ],
)
def test_a_member_cannot_touch_bounce_state_or_move_a_contact(
    session: Session, home: Organization, member: TestClient, field: str, value: Any
) -> None:
    contact = make_contact(session, home, email="bounced@kenya.example.org")
    contact.bounce_status = BounceStatus.hard
    contact.hard_bounce_count = 3
    session.flush()
    before = contact_state(session, contact)
    response = member.patch(f"/api/contacts/{contact.id}", json={"language": "fr", field: value})
    assert response.status_code == 422, response.text
    assert ["body", field] in loc_of(response)
    assert contact_state(session, contact) == before
    created = member.post(
        f"/api/organizations/{home.id}/contacts",
        json={"name": "Sneaky", "email": "sneaky@kenya.example.org", field: value},
    )
    assert created.status_code == 422
    assert ["body", field] in loc_of(created)


def test_a_member_cannot_reach_another_organisations_contacts(
    session: Session, member: TestClient
) -> None:
    other = make_organization(session, name="Someone Else", country="KEN")
    contact = make_contact(session, other)
    before = contact_state(session, contact)
    assert member.get(f"/api/organizations/{other.id}/contacts").status_code == 404
    assert (
        member.post(
            f"/api/organizations/{other.id}/contacts",
            json={"name": "Intruder", "email": "intruder@example.org"},
        ).status_code
        == 404
    )
    assert member.patch(f"/api/contacts/{contact.id}", json={"language": "fr"}).status_code == 404
    assert member.delete(f"/api/contacts/{contact.id}").status_code == 404
    assert contact_state(session, contact) == before


# --- regional leads -----------------------------------------------------------------------


def test_a_regional_lead_edits_organisations_and_contacts_of_her_region(
    session: Session, client_as: ClientAs
) -> None:
    lead = client_as(Role.regional_lead)  # of Africa
    kenya = make_organization(session, name="In Kenya", country="KEN")
    contact = make_contact(session, kenya)
    response = lead.patch(
        f"/api/organizations/{kenya.id}",
        json={"name": "In Kenya (renamed)", "country": "UGA", "membership_status": "lapsed"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["country"] == "UGA"
    changed = lead.patch(f"/api/contacts/{contact.id}", json={"language": "sw"})
    assert changed.status_code == 200
    created = lead.post(
        f"/api/organizations/{kenya.id}/contacts",
        json={"name": "Added By Lead", "email": "added@example.org"},
    )
    assert created.status_code == 201
    assert (
        lead.post("/api/organizations", json={"name": "New in Ghana", "country": "GHA"}).status_code
        == 201
    )


def test_a_regional_lead_cannot_move_an_organisation_out_of_her_regions(
    session: Session, client_as: ClientAs
) -> None:
    lead = client_as(Role.regional_lead)
    kenya = make_organization(session, name="In Kenya", country="KEN")
    before = organization_state(session, kenya)
    response = lead.patch(f"/api/organizations/{kenya.id}", json={"country": "FRA"})
    assert response.status_code == 422
    assert loc_of(response) == [["body", "country"]]
    assert organization_state(session, kenya) == before
    created = lead.post("/api/organizations", json={"name": "In Paris", "country": "FRA"})
    assert created.status_code == 422
    assert loc_of(created) == [["body", "country"]]


def test_a_regional_lead_cannot_edit_outside_her_regions(
    session: Session, client_as: ClientAs
) -> None:
    lead = client_as(Role.regional_lead)
    france = make_organization(session, name="In France", country="FRA")
    contact = make_contact(session, france)
    before, contact_before = organization_state(session, france), contact_state(session, contact)
    assert lead.patch(f"/api/organizations/{france.id}", json={"name": "X"}).status_code == 404
    assert lead.patch(f"/api/contacts/{contact.id}", json={"language": "sw"}).status_code == 404
    assert lead.delete(f"/api/contacts/{contact.id}").status_code == 404
    assert organization_state(session, france) == before
    assert contact_state(session, contact) == contact_before


def test_a_regional_lead_may_not_change_country_data_or_users(
    session: Session, client: TestClient, client_as: ClientAs
) -> None:
    lead = client_as(Role.regional_lead)
    kenya_before = client.get("/api/countries/KEN").json()
    # Not even a country of her own region.
    response = lead.patch(
        "/api/countries/KEN", json={"source": "lead", "implementing_legislation": "complete"}
    )
    assert response.status_code == 403
    assert client.get("/api/countries/KEN").json() == kenya_before
    assert lead.get("/api/countries/KEN").status_code == 200  # reading is fine
    assert lead.get("/api/users").status_code == 403
    created = lead.post(
        "/api/users",
        json={"email": "x@example.org", "role": "member", "organization_id": 1, "contact_id": 1},
    )
    assert created.status_code == 403
    me = lead.get("/api/me").json()
    assert lead.patch(f"/api/users/{me['id']}", json={"regions": ["europe"]}).status_code == 403
    assert (
        lead.post(
            "/api/custom-fields", json={"key": "k", "label": "K", "field_type": "text"}
        ).status_code
        == 403
    )
