"""A contact's personal data: export everything held, erase it everywhere."""

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func
from sqlmodel import Session, col, select

from app.accounts.models import Credential, SignInLink, User
from app.accounts.principal import Role
from app.core.audit import AuditEntry, record_audit
from app.delivery.models import OutboxMessage, Suppression, SuppressionReason
from app.members import service
from app.members.models import Contact, MembershipApplication, Organization
from app.members.schemas import ContactUpdate
from tests.factories import STAFF, bearer_headers, make_contact, make_organization, make_user

EMAIL = "amina.wanjiku@haki.example.org"
OLD_EMAIL = "a.w@haki.example.org"
NAME = "Amina Wanjiku"
OLD_NAME = "Amina W."


@dataclass
class Person:
    organization: Organization
    contact: Contact
    colleague: Contact
    user: User
    member_headers: dict[str, str]


@pytest.fixture
def person(session: Session) -> Person:
    """A contact with a history: renamed, address changed, a member account that signed
    in, a sign-in link, messages, a mention in the organisation's notes and in an
    application-like audit record."""
    organization = make_organization(session, name="Haki Centre", country="KEN")
    contact = make_contact(
        session,
        organization,
        name=OLD_NAME,
        email=OLD_EMAIL,
        consent_at="2024-05-01T09:00:00Z",
        consent_method="signed form at the ASP",
    )
    service.update_contact(session, STAFF, contact.id or 0, ContactUpdate(name=NAME, email=EMAIL))
    colleague = make_contact(
        session, organization, name="Baraka Otieno", email="baraka@haki.example.org"
    )
    user = make_user(
        session,
        Role.member,
        email=EMAIL,
        full_name=NAME,
        organization_id=organization.id,
        contact_id=contact.id,
    )
    member_headers = bearer_headers(session, user)
    now = datetime.now(UTC)
    session.add(
        SignInLink(secret_hash="a" * 64, email=EMAIL, expires_at=now + timedelta(minutes=15))
    )
    session.add(
        OutboxMessage(
            to_address=EMAIL,
            subject="Your sign-in link",
            text_body=f"Hello {NAME}, here is your link: https://x.example/s/secret",
            purpose="sign_in_link",
        )
    )
    session.add(
        OutboxMessage(
            to_address="secretariat@example.org",
            subject=f"New application from {EMAIL}",
            text_body=f"Contact: {NAME} <{EMAIL.upper()}>",
            purpose="staff_notice",
        )
    )
    organization.notes = f"Call {EMAIL} before the ASP. Ask Baraka too."
    record_audit(
        session,
        actor="public",
        action="application.create",
        target_type="application",
        target_id=99,
        organization_id=organization.id,
        after={
            "organization_name": "Haki Centre",
            "contact_name": NAME,
            "contact_email": EMAIL,
            "motivation": "We campaign for APIC.",
        },
    )
    session.flush()
    return Person(organization, contact, colleague, user, member_headers)


def everything_in_the_audit_log(session: Session) -> str:
    return "\n".join(
        json.dumps([entry.before, entry.after, entry.note])
        for entry in session.scalars(select(AuditEntry)).all()
    )


# --- export ---------------------------------------------------------------------------------


def test_export_holds_everything_about_the_contact(
    client: TestClient, session: Session, person: Person
) -> None:
    response = client.get(f"/api/contacts/{person.contact.id}/export")
    assert response.status_code == 200
    export = response.json()
    assert export["contact"]["name"] == NAME
    assert export["contact"]["email"] == EMAIL
    assert export["contact"]["consent_method"] == "signed form at the ASP"
    assert export["organization"] == {"id": person.organization.id, "name": "Haki Centre"}
    [account] = export["user_accounts"]
    assert account["id"] == person.user.id
    assert account["email"] == EMAIL
    assert account["role"] == "member"
    assert [s["action"] for s in export["sign_in_history"]] == ["auth.sign_in.bearer"]
    assert len(export["sign_in_links"]) == 1
    assert set(export["sign_in_links"][0]) == {"created_at", "expires_at", "used_at"}
    assert [m["subject"] for m in export["messages"]] == ["Your sign-in link"]
    actions = [(e["target_type"], e["action"]) for e in export["audit_entries"]]
    assert ("contact", "contact.create") in actions
    assert ("contact", "contact.update") in actions
    assert ("user", "user.create") in actions
    update = next(e for e in export["audit_entries"] if e["action"] == "contact.update")
    assert update["before"]["name"] == OLD_NAME
    assert update["after"]["name"] == NAME
    # Never a secret: no password hash, no credential or link hash, no message body.
    text = response.text
    for secret in ("password_hash", "secret_hash", "a" * 64, "https://x.example/s/secret"):
        assert secret not in text
    # The colleague is not in it.
    assert "Baraka" not in text

    session.expire_all()
    audited = session.scalars(
        select(AuditEntry).where(
            AuditEntry.action == "contact.export", AuditEntry.target_id == str(person.contact.id)
        )
    ).all()
    assert len(audited) == 1
    assert audited[0].before is None
    assert audited[0].after is None


def test_export_is_scoped(
    client_as: Callable[..., TestClient], session: Session, person: Person
) -> None:
    elsewhere = make_contact(session, make_organization(session, country="FRA"))
    session.flush()
    lead = client_as(Role.regional_lead, regions=["africa"])
    assert lead.get(f"/api/contacts/{person.contact.id}/export").status_code == 200
    assert lead.get(f"/api/contacts/{elsewhere.id}/export").status_code == 404
    assert lead.get("/api/contacts/2147483647/export").status_code == 404
    member = TestClient(lead.app)
    member.headers.update(person.member_headers)
    assert member.get(f"/api/contacts/{person.contact.id}/export").status_code == 403


# --- erasure --------------------------------------------------------------------------------


def test_erase_leaves_no_trace_and_keeps_the_counts(
    client: TestClient, session: Session, person: Person
) -> None:
    organization_id = person.organization.id
    contact_id = person.contact.id
    contacts_before = session.scalar(
        select(func.count()).where(col(Contact.organization_id) == organization_id)
    )
    assert person.member_headers  # the member is signed in until the erasure

    response = client.post(f"/api/contacts/{contact_id}/erase")
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["users_deactivated"] == 1
    assert report["sign_in_links_deleted"] == 1
    assert report["messages_deleted"] == 1
    assert report["messages_scrubbed"] == 1
    assert report["suppressed"] is True
    session.expire_all()

    # The contact stays, anonymised; the organisation's count is unchanged.
    contact = session.get_one(Contact, contact_id)
    assert contact.name == "[erased]"
    assert contact.email == f"erased-{contact_id}@invalid.example"
    assert contact.consent_at is None
    assert contact.consent_method is None
    assert contact.subscription_status == "unsubscribed"
    assert (
        session.scalar(select(func.count()).where(col(Contact.organization_id) == organization_id))
        == contacts_before
    )
    colleague = session.get_one(Contact, person.colleague.id)
    assert colleague.name == "Baraka Otieno"

    # No trace of any name or address, current or earlier, anywhere.
    traces = ("amina", "wanjiku", "a.w@haki", "amina w.")
    log = everything_in_the_audit_log(session).lower()
    for trace in traces:
        assert trace not in log, trace
    assert "signed form at the asp" not in log
    assert "baraka otieno" in log  # the colleague's history is kept
    assert "haki centre" in log  # and so is the organisation's
    assert "we campaign for apic" in log

    users = session.scalars(select(User)).all()
    for user in users:
        assert not any(t in f"{user.email} {user.full_name}".lower() for t in traces)
    user = session.get_one(User, person.user.id)
    assert not user.is_active
    assert (
        session.scalar(
            select(func.count()).where(
                col(Credential.user_id) == user.id, col(Credential.revoked_at).is_(None)
            )
        )
        == 0
    )
    assert session.scalars(select(SignInLink).where(col(SignInLink.email) == EMAIL)).all() == []
    outbox = " ".join(
        f"{m.to_address} {m.subject} {m.text_body} {m.html_body}"
        for m in session.scalars(select(OutboxMessage)).all()
    ).lower()
    assert "amina.wanjiku" not in outbox
    organization = session.get_one(Organization, organization_id)
    assert EMAIL not in (organization.notes or "")
    assert "Ask Baraka too." in (organization.notes or "")

    suppression = session.scalars(
        select(Suppression).where(
            col(Suppression.email_hash) == hashlib.sha256(EMAIL.encode()).hexdigest()
        )
    ).one()
    assert suppression.reason == SuppressionReason.erased

    erase_entry = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "contact.erase")
    ).one()
    assert erase_entry.target_id == str(contact_id)
    assert erase_entry.organization_id == organization_id

    # The member's token no longer works; a second erasure is refused.
    member = TestClient(client.app)
    member.headers.update(person.member_headers)
    assert member.get("/api/me").status_code == 401
    assert client.post(f"/api/contacts/{contact_id}/erase").status_code == 409
    # An export now shows only the anonymised row.
    export = client.get(f"/api/contacts/{contact_id}/export").text.lower()
    for trace in traces:
        assert trace not in export, trace


def test_erase_is_for_the_secretariat_only(
    client_as: Callable[..., TestClient], client: TestClient, session: Session, person: Person
) -> None:
    lead = client_as(Role.regional_lead, regions=["africa"])
    assert lead.post(f"/api/contacts/{person.contact.id}/erase").status_code == 403
    member = TestClient(client.app)
    member.headers.update(person.member_headers)
    assert member.post(f"/api/contacts/{person.contact.id}/erase").status_code == 403
    assert client.post("/api/contacts/2147483647/erase").status_code == 404
    session.expire_all()
    assert session.get_one(Contact, person.contact.id).name == NAME


def test_erase_removes_what_was_written_in_and_about_an_application(
    anonymous_client: TestClient, client: TestClient, session: Session
) -> None:
    submitted = anonymous_client.post(
        "/api/applications",
        json={
            "organization_name": "Defenders Collective",
            "country": "KEN",
            "languages": ["en"],
            "contact_name": "Amina Secretname",
            "contact_email": "amina.secret@example.org",
            "motivation": "I am Amina Secretname; I was detained in 2019.",
        },
    )
    assert submitted.status_code == 201, submitted.text
    application_id = submitted.json()["id"]
    client.post(
        f"/api/applications/{application_id}/decline",
        json={"reason": "Sorry Amina Secretname, not eligible."},
    )
    application = session.get_one(MembershipApplication, application_id)
    assert client.post(f"/api/contacts/{application.contact_id}/erase").status_code == 200
    session.expire_all()
    application = session.get_one(MembershipApplication, application_id)
    assert "Secretname" not in (application.motivation or "")
    assert "Secretname" not in (application.decline_reason or "")
    assert application.decision == "declined"  # the decision itself is kept
    assert "Secretname" not in everything_in_the_audit_log(session)
