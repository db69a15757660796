"""Contacts through the API: shape, uniqueness per organisation, validation."""

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.accounts.principal import Role
from tests.factories import make_contact, make_organization, make_user


def test_create_list_get_patch_delete(client: TestClient, session: Session) -> None:
    org = make_organization(session, name="Contacts Org", country="ARG")
    session.flush()
    response = client.post(
        f"/api/organizations/{org.id}/contacts",
        json={
            "name": "María López",
            "email": "Maria.Lopez@Example.ORG",
            "role": "focal_point",
            "language": "es",
            "consent_at": "2024-03-01T10:00:00Z",
            "consent_method": "membership form",
        },
    )
    assert response.status_code == 201, response.text
    contact = response.json()
    assert contact["email"] == "maria.lopez@example.org"
    assert contact["organization_id"] == org.id
    assert contact["subscription_status"] == "subscribed"
    assert contact["bounce_status"] == "ok"
    assert contact["hard_bounce_count"] == 0
    assert contact["consent_at"].startswith("2024-03-01T10:00:00")

    listed = client.get(f"/api/organizations/{org.id}/contacts").json()
    assert [c["id"] for c in listed] == [contact["id"]]

    patched = client.patch(
        f"/api/contacts/{contact['id']}",
        json={"subscription_status": "paused", "paused_until": "2027-01-01", "role": "director"},
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["subscription_status"] == "paused"
    assert client.get(f"/api/contacts/{contact['id']}").json() == patched.json()

    assert client.delete(f"/api/contacts/{contact['id']}").status_code == 204
    assert client.get(f"/api/contacts/{contact['id']}").status_code == 404
    assert client.get(f"/api/organizations/{org.id}/contacts").json() == []


def test_email_is_unique_within_an_organisation_only(client: TestClient, session: Session) -> None:
    first = make_organization(session, name="First", country="ARG")
    second = make_organization(session, name="Second", country="ARG")
    make_contact(session, first, email="shared@example.org")
    session.flush()
    duplicate = client.post(
        f"/api/organizations/{first.id}/contacts",
        json={"name": "Again", "email": "SHARED@example.org"},
    )
    assert duplicate.status_code == 409
    assert duplicate.json()["detail"][0]["loc"][-1] == "email"
    elsewhere = client.post(
        f"/api/organizations/{second.id}/contacts",
        json={"name": "Same", "email": "shared@example.org"},
    )
    assert elsewhere.status_code == 201


def test_changing_email_to_a_colleagues_is_refused(client: TestClient, session: Session) -> None:
    org = make_organization(session, name="Colleagues", country="ARG")
    make_contact(session, org, email="a@example.org")
    b = make_contact(session, org, email="b@example.org")
    session.flush()
    response = client.patch(f"/api/contacts/{b.id}", json={"email": "A@example.org"})
    assert response.status_code == 409
    assert client.get(f"/api/contacts/{b.id}").json()["email"] == "b@example.org"
    # changing only the case of one's own address is fine
    assert client.patch(f"/api/contacts/{b.id}", json={"email": "B@Example.org"}).status_code == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "x@example.org"}, "name"),
        ({"name": "X"}, "email"),
        ({"name": "X", "email": "not-an-email"}, "email"),
        ({"name": "X", "email": "x@example.org", "role": "boss"}, "role"),
        ({"name": "X", "email": "x@example.org", "language": "klingon"}, "language"),
        (
            {"name": "X", "email": "x@example.org", "subscription_status": "maybe"},
            "subscription_status",
        ),
        ({"name": "X", "email": "x@example.org", "bounce_status": "ok"}, "bounce_status"),
        ({"name": "X", "email": "x@example.org", "organization_id": 3}, "organization_id"),
        ({"name": "X\r\nBcc: victim@example.org", "email": "x@example.org"}, "name"),
    ],
)
def test_contact_validation_errors(
    client: TestClient, session: Session, body: dict[str, Any], field: str
) -> None:
    org = make_organization(session, name="Validation Org", country="ARG")
    session.flush()
    response = client.post(f"/api/organizations/{org.id}/contacts", json=body)
    assert response.status_code == 422, response.text
    assert field in response.json()["detail"][0]["loc"]
    assert client.get(f"/api/organizations/{org.id}/contacts").json() == []


def test_contacts_of_unknown_organisation_are_404(client: TestClient) -> None:
    assert client.get("/api/organizations/424242/contacts").status_code == 404
    response = client.post(
        "/api/organizations/424242/contacts", json={"name": "X", "email": "x@example.org"}
    )
    assert response.status_code == 404
    assert client.patch("/api/contacts/424242", json={"name": "Y"}).status_code == 404
    assert client.delete("/api/contacts/424242").status_code == 404


def test_contact_changes_appear_on_the_organisation_timeline(
    client: TestClient, session: Session
) -> None:
    org = make_organization(session, name="Timeline", country="ARG")
    session.flush()
    contact = client.post(
        f"/api/organizations/{org.id}/contacts", json={"name": "Ana", "email": "ana@example.org"}
    ).json()
    client.patch(f"/api/contacts/{contact['id']}", json={"role": "legal"})
    client.delete(f"/api/contacts/{contact['id']}")
    actions = [h["action"] for h in client.get(f"/api/organizations/{org.id}/history").json()]
    assert actions == ["contact.delete", "contact.update", "contact.create", "organization.create"]


def test_times_need_a_zone_and_are_kept_in_utc(client: TestClient, session: Session) -> None:
    org = make_organization(session, name="Zones", country="KEN")
    session.flush()
    naive = client.post(
        f"/api/organizations/{org.id}/contacts",
        json={"name": "N", "email": "n@example.org", "consent_at": "2024-03-01T09:30:00"},
    )
    assert naive.status_code == 422
    assert "consent_at" in naive.json()["detail"][0]["loc"]
    aware = client.post(
        f"/api/organizations/{org.id}/contacts",
        json={"name": "A", "email": "a@example.org", "consent_at": "2024-03-01T12:30:00+03:00"},
    )
    assert aware.status_code == 201
    assert aware.json()["consent_at"].startswith("2024-03-01T09:30:00")
    history = client.get(f"/api/organizations/{org.id}/history").json()
    assert history[0]["after"]["consent_at"].startswith("2024-03-01T09:30:00+00:00")


def test_resubscribing_an_unsubscribed_contact_is_refused(
    client: TestClient, session: Session
) -> None:
    org = make_organization(session, name="Unsub", country="KEN")
    contact = make_contact(session, org, subscription_status="unsubscribed")
    session.flush()
    response = client.patch(
        f"/api/contacts/{contact.id}", json={"subscription_status": "subscribed"}
    )
    assert response.status_code == 409
    assert response.json()["detail"][0]["loc"][-1] == "subscription_status"
    assert client.get(f"/api/contacts/{contact.id}").json()["subscription_status"] == "unsubscribed"


def test_a_contact_a_member_signs_in_as_cannot_be_deleted(
    client: TestClient, session: Session
) -> None:
    member = make_user(session, Role.member)
    session.flush()
    response = client.delete(f"/api/contacts/{member.contact_id}")
    assert response.status_code == 409
    assert "signs in as this contact" in response.json()["detail"][0]["msg"]
    assert client.get(f"/api/contacts/{member.contact_id}").status_code == 200


def test_topic_opt_outs_are_kept_changed_and_audited(client: TestClient, session: Session) -> None:
    org = make_organization(session, name="Topics Org", country="KEN")
    session.flush()
    created = client.post(
        f"/api/organizations/{org.id}/contacts",
        json={"name": "Wanjiru", "email": "w@example.org", "topics_opted_out": ["budget"]},
    ).json()
    assert created["topics_opted_out"] == ["budget"]
    changed = client.patch(
        f"/api/contacts/{created['id']}", json={"topics_opted_out": ["apic", "budget"]}
    ).json()
    assert changed["topics_opted_out"] == ["apic", "budget"]
    history = client.get(f"/api/organizations/{org.id}/history").json()
    updates = [entry for entry in history if entry["action"] == "contact.update"]
    assert updates[-1]["after"]["topics_opted_out"] == ["apic", "budget"]
    for bad in (["weather"], ["apic", "apic"], None):
        response = client.patch(f"/api/contacts/{created['id']}", json={"topics_opted_out": bad})
        assert response.status_code == 422, bad
        assert response.json()["detail"][0]["loc"][:2] == ["body", "topics_opted_out"]


def test_merging_keeps_both_contacts_topic_opt_outs(client: TestClient, session: Session) -> None:
    keep = make_organization(session, name="Keep Org", country="KEN")
    drop = make_organization(session, name="Drop Org", country="KEN")
    make_contact(session, keep, email="same@example.org", topics_opted_out=["apic"])
    make_contact(session, drop, email="same@example.org", topics_opted_out=["budget"])
    session.flush()
    response = client.post(f"/api/organizations/{drop.id}/merge", json={"into": keep.id})
    assert response.status_code == 200, response.text
    contacts = client.get(f"/api/organizations/{keep.id}/contacts").json()
    assert [c["topics_opted_out"] for c in contacts] == [["apic", "budget"]]
