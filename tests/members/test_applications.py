"""Membership applications through the API (public form, staff decisions) and the
explicit membership status actions: lapse, suspend, reinstate."""

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlmodel import Session, col, func, select

from app.accounts.principal import Principal, Role
from app.core.audit import AuditEntry
from app.core.errors import Conflict
from app.core.settings import get_settings
from app.delivery.models import OutboxMessage
from app.members import applications
from app.members.models import (
    ApplicationDecision,
    Contact,
    MembershipApplication,
    MembershipStatus,
    Organization,
)
from tests.factories import make_organization

ClientAs = Callable[..., TestClient]


def application(**overrides: Any) -> dict[str, Any]:
    """A complete, valid application; `overrides` change or (value None) remove fields."""
    body: dict[str, Any] = {
        "organization_name": "Mombasa Victims Forum",
        "acronym": "MVF",
        "country": "KEN",
        "type": "ngo",
        "focus_areas": ["victims-rights", "universal-jurisdiction"],
        "languages": ["sw", "en"],
        "website": "https://mvf.example.org",
        "address": "PO Box 1, Mombasa",
        "contact_name": "Amina Hassan",
        "contact_email": "Amina@MVF.example.org",
        "contact_role": "director",
        "contact_language": "sw",
        "motivation": "We document crimes against victims and want to work with others.",
    }
    for name, value in overrides.items():
        if value is None:
            body.pop(name, None)
        else:
            body[name] = value
    return body


def apply(client: TestClient, **overrides: Any) -> int:
    response = client.post("/api/applications", json=application(**overrides))
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def count(session: Session, model: Any) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def audit_actions(session: Session, organization_id: int) -> list[str]:
    return list(
        session.scalars(
            select(AuditEntry.action)
            .where(col(AuditEntry.organization_id) == organization_id)
            .order_by(col(AuditEntry.id))
        ).all()
    )


def outbox_to(session: Session, address: str) -> list[OutboxMessage]:
    return list(
        session.scalars(
            select(OutboxMessage)
            .where(col(OutboxMessage.to_address) == address)
            .order_by(col(OutboxMessage.id))
        ).all()
    )


def stored(session: Session, application_id: int) -> MembershipApplication:
    session.expire_all()
    return session.get_one(MembershipApplication, application_id)


# --- applying -------------------------------------------------------------------------------


def test_application_creates_applicant_organisation_contact_and_application(
    anonymous_client: TestClient, session: Session
) -> None:
    before = datetime.now(UTC)
    response = anonymous_client.post("/api/applications", json=application())
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"id", "message"}
    assert "amina@mvf.example.org" in body["message"]

    row = stored(session, body["id"])
    organization = session.get_one(Organization, row.organization_id)
    assert organization.name == "Mombasa Victims Forum"
    assert organization.acronym == "MVF"
    assert organization.country_iso3 == "KEN"
    assert organization.membership_status is MembershipStatus.applicant
    assert organization.joined_on is None
    assert organization.languages == ["sw", "en"]
    assert organization.focus_areas == ["universal-jurisdiction", "victims-rights"]
    assert organization.website == "https://mvf.example.org"
    assert organization.address == "PO Box 1, Mombasa"

    contact = session.get_one(Contact, row.contact_id)
    assert contact.organization_id == organization.id
    assert (contact.name, contact.email) == ("Amina Hassan", "amina@mvf.example.org")
    assert (contact.role, contact.language) == ("director", "sw")
    assert contact.consent_method == "membership application form"
    assert contact.consent_at is not None
    assert contact.consent_at >= before

    assert row.motivation == application()["motivation"]
    assert (row.decision, row.decided_at, row.decided_by) == (None, None, None)
    assert audit_actions(session, organization.id or 0) == [
        "organization.create",
        "contact.create",
        "application.submit",
    ]
    actors = session.scalars(
        select(AuditEntry.actor).where(col(AuditEntry.organization_id) == organization.id)
    ).all()
    assert set(actors) == {"public:application"}


def test_only_the_required_fields_are_needed(
    anonymous_client: TestClient, session: Session
) -> None:
    identifier = apply(
        anonymous_client,
        acronym=None,
        type=None,
        focus_areas=None,
        languages=None,
        website=None,
        address=None,
        contact_role=None,
        contact_language=None,
        motivation=None,
    )
    row = stored(session, identifier)
    organization = session.get_one(Organization, row.organization_id)
    assert organization.languages == ["en"]
    assert organization.type == "ngo"
    assert row.motivation is None


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("organization_name", ""),
        ("organization_name", "   "),
        ("organization_name", "x" * 301),
        ("organization_name", "Two\nlines"),
        ("acronym", "A" * 41),
        ("country", "Kenya"),
        ("country", "ZZQ"),  # well-formed, but no such country: refused by the service
        ("type", "club"),
        ("focus_areas", ["Not a tag!"]),
        ("focus_areas", ["same", "same"]),
        ("languages", []),
        ("languages", ["xx"]),
        ("website", "ftp://mvf.example.org"),
        ("address", "nul \x00 byte"),
        ("contact_name", ""),
        ("contact_email", "not-an-address"),
        ("contact_role", "boss"),
        ("contact_language", "swahili"),
        ("motivation", "x" * 5001),
        ("membership_status", "active"),  # the applicant may not choose
        ("notes", "internal"),
        ("custom_fields", {}),
        ("joined_on", "2020-01-01"),
    ],
)
def test_bad_input_is_422_naming_the_field_and_creates_nothing(
    anonymous_client: TestClient, session: Session, field: str, value: Any
) -> None:
    organizations, contacts = count(session, Organization), count(session, Contact)
    response = anonymous_client.post("/api/applications", json=application(**{field: value}))
    assert response.status_code == 422, response.text
    locations = [problem["loc"] for problem in response.json()["detail"]]
    assert any(location[:2] == ["body", field] for location in locations), locations
    session.expire_all()
    assert count(session, Organization) == organizations
    assert count(session, Contact) == contacts
    assert count(session, MembershipApplication) == 0


@pytest.mark.parametrize(
    "missing", ["organization_name", "country", "contact_name", "contact_email"]
)
def test_required_fields_are_required(anonymous_client: TestClient, missing: str) -> None:
    response = anonymous_client.post("/api/applications", json=application(**{missing: None}))
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", missing]


def test_a_name_already_registered_in_the_country_is_409(
    anonymous_client: TestClient, session: Session
) -> None:
    make_organization(session, name="Mombasa Victims Forum", country="KEN")
    session.flush()
    organizations = count(session, Organization)
    response = anonymous_client.post(
        "/api/applications", json=application(organization_name="  mombasa victims FORUM ")
    )
    assert response.status_code == 409, response.text
    assert response.json()["detail"][0]["loc"] == ["body", "organization_name"]
    session.expire_all()
    assert count(session, Organization) == organizations
    # The same name elsewhere is another organisation.
    apply(anonymous_client, country="TZA")
    # A pending application blocks a second one, too.
    apply(anonymous_client, organization_name="Lamu Justice Centre")
    second = anonymous_client.post(
        "/api/applications", json=application(organization_name="Lamu Justice Centre")
    )
    assert second.status_code == 409


def test_an_archived_namesake_does_not_block_a_new_application(
    anonymous_client: TestClient, session: Session
) -> None:
    make_organization(
        session, name="Mombasa Victims Forum", country="KEN", membership_status="archived"
    )
    session.flush()
    apply(anonymous_client)


# --- who may read and decide ------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/applications", None),
        ("GET", "/api/applications/{id}", None),
        ("POST", "/api/applications/{id}/approve", None),
        ("POST", "/api/applications/{id}/decline", {"reason": "No"}),
        ("POST", "/api/organizations/{org}/lapse", None),
        ("POST", "/api/organizations/{org}/suspend", {"reason": "No"}),
        ("POST", "/api/organizations/{org}/reinstate", None),
    ],
)
def test_staff_routes_refuse_anonymous_and_members(
    anonymous_client: TestClient,
    client_as: ClientAs,
    session: Session,
    method: str,
    path: str,
    body: dict[str, str] | None,
) -> None:
    identifier = apply(anonymous_client)
    organization_id = stored(session, identifier).organization_id
    url = path.format(id=identifier, org=organization_id)
    anonymous = anonymous_client.request(method, url, json=body)
    assert anonymous.status_code == 401, anonymous.text
    member = client_as(Role.member)
    assert member.request(method, url, json=body).status_code == 403
    session.expire_all()
    assert stored(session, identifier).decision is None
    assert session.get_one(Organization, organization_id).membership_status == "applicant"


def test_regional_lead_sees_and_decides_only_her_regions_applications(
    anonymous_client: TestClient, client_as: ClientAs, session: Session
) -> None:
    kenyan = apply(anonymous_client, organization_name="Nairobi Applicant", country="KEN")
    french = apply(anonymous_client, organization_name="Paris Applicant", country="FRA")
    lead = client_as(Role.regional_lead, regions=["africa"])

    listed = lead.get("/api/applications")
    assert listed.status_code == 200, listed.text
    assert [item["id"] for item in listed.json()["items"]] == [kenyan]
    assert listed.json()["total"] == 1
    item = listed.json()["items"][0]
    assert item["organization"]["name"] == "Nairobi Applicant"
    assert item["organization"]["region"] == "africa"
    assert item["contact"]["email"] == "amina@mvf.example.org"
    assert item["status"] == "pending"

    assert lead.get(f"/api/applications/{kenyan}").status_code == 200
    assert lead.get(f"/api/applications/{french}").status_code == 404
    assert lead.post(f"/api/applications/{french}/approve").status_code == 404
    assert (
        lead.post(f"/api/applications/{french}/decline", json={"reason": "Not ours"}).status_code
        == 404
    )
    assert stored(session, french).decision is None

    approved = lead.post(f"/api/applications/{kenyan}/approve")
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved"


def test_secretariat_sees_every_region_and_filters_by_state(
    anonymous_client: TestClient, client: TestClient
) -> None:
    first = apply(anonymous_client, organization_name="First", country="KEN")
    second = apply(anonymous_client, organization_name="Second", country="FRA")
    third = apply(anonymous_client, organization_name="Third", country="COL")
    assert [i["id"] for i in client.get("/api/applications").json()["items"]] == [
        first,
        second,
        third,
    ]
    assert client.post(f"/api/applications/{first}/approve").status_code == 200
    assert (
        client.post(f"/api/applications/{second}/decline", json={"reason": "Out of scope"})
    ).status_code == 200

    def ids(state: str | None) -> list[int]:
        params = {"status": state} if state else {}
        response = client.get("/api/applications", params=params)
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    assert ids(None) == [third]
    assert ids("pending") == [third]
    assert ids("approved") == [first]
    assert ids("declined") == [second]
    assert client.get("/api/applications", params={"status": "maybe"}).status_code == 422
    assert client.get("/api/applications/999999").status_code == 404


# --- deciding ---------------------------------------------------------------------------


def test_approval_makes_an_active_member_audits_and_queues_a_welcome(
    anonymous_client: TestClient, client: TestClient, session: Session, admin_user: Any
) -> None:
    identifier = apply(anonymous_client)
    response = client.post(f"/api/applications/{identifier}/approve")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "approved"
    assert response.json()["organization"]["membership_status"] == "active"

    row = stored(session, identifier)
    assert row.decision is ApplicationDecision.approved
    assert row.decided_by == f"user:{admin_user.id}"
    assert row.decided_at is not None
    organization = session.get_one(Organization, row.organization_id)
    assert organization.membership_status is MembershipStatus.active
    assert organization.joined_on == datetime.now(UTC).date()

    entry = session.scalars(
        select(AuditEntry).where(
            col(AuditEntry.organization_id) == organization.id,
            col(AuditEntry.action) == "application.approve",
        )
    ).one()
    assert entry.actor == f"user:{admin_user.id}"
    assert entry.before == {"membership_status": "applicant", "joined_on": None}
    assert entry.after is not None
    assert entry.after["membership_status"] == "active"
    assert entry.after["joined_on"] == organization.joined_on.isoformat()

    [welcome] = outbox_to(session, "amina@mvf.example.org")
    assert welcome.purpose == "welcome"
    base_url = get_settings().public_base_url.rstrip("/")
    assert f"request a new link at {base_url}/sign-in/member" in welcome.text_body
    assert "Mombasa Victims Forum" in welcome.text_body
    assert "Amina Hassan" in welcome.text_body

    # The welcome carries a working sign-in link for the new member.
    link = re.search(r"/sign-in/link/(\S+)", welcome.text_body)
    assert link is not None
    redeemed = anonymous_client.post("/api/auth/magic-link/redeem", json={"token": link.group(1)})
    assert redeemed.status_code == 200, redeemed.text
    me = anonymous_client.get(
        "/api/me", headers={"Authorization": f"Bearer {redeemed.json()['access_token']}"}
    )
    assert me.json()["organization_id"] == organization.id


def test_decline_archives_records_the_reason_and_queues_a_polite_email(
    anonymous_client: TestClient, client: TestClient, session: Session
) -> None:
    identifier = apply(anonymous_client)
    reason = "We admit organisations working on international justice only."
    response = client.post(
        f"/api/applications/{identifier}/decline", json={"reason": f" {reason} "}
    )
    assert response.status_code == 200, response.text
    assert response.json()["decline_reason"] == reason

    row = stored(session, identifier)
    assert row.decision is ApplicationDecision.declined
    assert row.decline_reason == reason
    organization = session.get_one(Organization, row.organization_id)
    assert organization.membership_status is MembershipStatus.archived
    assert organization.joined_on is None
    entry = session.scalars(
        select(AuditEntry).where(
            col(AuditEntry.organization_id) == organization.id,
            col(AuditEntry.action) == "application.decline",
        )
    ).one()
    assert entry.note == reason
    assert entry.after is not None
    assert entry.after["membership_status"] == "archived"

    [message] = outbox_to(session, "amina@mvf.example.org")
    assert message.purpose == "application_declined"
    assert reason in message.text_body
    assert "Thank you" in message.text_body

    # Declined and archived: the organisation may apply again.
    apply(anonymous_client)


@pytest.mark.parametrize(
    "body",
    [
        None,
        {},
        {"reason": ""},
        {"reason": "   "},
        {"reason": "x" * 2001},
        {"reason": "ok", "cc": "someone"},
    ],
)
def test_decline_needs_a_reason(
    anonymous_client: TestClient, client: TestClient, session: Session, body: Any
) -> None:
    identifier = apply(anonymous_client)
    response = client.post(f"/api/applications/{identifier}/decline", json=body)
    assert response.status_code == 422, response.text
    row = stored(session, identifier)
    assert row.decision is None
    assert outbox_to(session, "amina@mvf.example.org") == []


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("approve", "approve"),
        ("approve", "decline"),
        ("decline", "approve"),
        ("decline", "decline"),
    ],
)
def test_deciding_twice_is_409(
    anonymous_client: TestClient, client: TestClient, session: Session, first: str, second: str
) -> None:
    identifier = apply(anonymous_client)
    body = {"reason": "No"}
    done = client.post(
        f"/api/applications/{identifier}/{first}", json=body if first == "decline" else None
    )
    assert done.status_code == 200, done.text
    again = client.post(
        f"/api/applications/{identifier}/{second}", json=body if second == "decline" else None
    )
    assert again.status_code == 409, again.text
    assert "already" in again.json()["detail"][0]["msg"]
    row = stored(session, identifier)
    expected = MembershipStatus.active if first == "approve" else MembershipStatus.archived
    assert session.get_one(Organization, row.organization_id).membership_status is expected
    assert len(outbox_to(session, "amina@mvf.example.org")) == 1


def test_an_applicant_changed_meanwhile_cannot_be_decided(
    anonymous_client: TestClient, client: TestClient, session: Session
) -> None:
    identifier = apply(anonymous_client)
    organization_id = stored(session, identifier).organization_id
    assert client.delete(f"/api/organizations/{organization_id}").status_code == 200
    response = client.post(f"/api/applications/{identifier}/approve")
    assert response.status_code == 409
    assert "archived" in response.json()["detail"][0]["msg"]
    assert stored(session, identifier).decision is None


# --- lapse, suspend, reinstate ----------------------------------------------------------

ALLOWED = {
    ("active", "lapse"): "lapsed",
    ("active", "suspend"): "suspended",
    ("lapsed", "reinstate"): "active",
    ("suspended", "reinstate"): "active",
}


@pytest.mark.parametrize("start", [status.value for status in MembershipStatus])
@pytest.mark.parametrize("action", ["lapse", "suspend", "reinstate"])
def test_membership_transitions(
    client: TestClient, session: Session, start: str, action: str
) -> None:
    organization = make_organization(session, name="Transitions", membership_status=start)
    session.flush()
    reason = f"Reason to {action}"
    response = client.post(
        f"/api/organizations/{organization.id}/{action}", json={"reason": reason}
    )
    session.expire_all()
    now = session.get_one(Organization, organization.id).membership_status
    entries = session.scalars(
        select(AuditEntry).where(
            col(AuditEntry.organization_id) == organization.id,
            col(AuditEntry.action) == f"organization.{action}",
        )
    ).all()
    expected = ALLOWED.get((start, action))
    if expected is None:
        assert response.status_code == 409, response.text
        problem = response.json()["detail"][0]
        assert problem["loc"] == ["body", "membership_status"]
        assert start in problem["msg"]
        assert now == start
        assert entries == []
        return
    assert response.status_code == 200, response.text
    assert response.json()["membership_status"] == expected
    assert now == expected
    [entry] = entries
    assert entry.before == {"membership_status": start}
    assert entry.after == {"membership_status": expected}
    assert entry.note == reason
    assert entry.actor.startswith("user:")


def test_lapse_and_reinstate_take_an_optional_reason_suspend_requires_one(
    client: TestClient, session: Session
) -> None:
    organization = make_organization(session, name="Reasons")
    session.flush()
    url = f"/api/organizations/{organization.id}"
    assert client.post(f"{url}/suspend").status_code == 422
    assert client.post(f"{url}/suspend", json={}).status_code == 422
    assert client.post(f"{url}/suspend", json={"reason": " "}).status_code == 422
    assert client.post(f"{url}/lapse", json={"reason": "x", "extra": 1}).status_code == 422
    assert client.post(f"{url}/lapse").json()["membership_status"] == "lapsed"
    assert client.post(f"{url}/reinstate", json={}).json()["membership_status"] == "active"
    notes = session.scalars(
        select(AuditEntry.note).where(
            col(AuditEntry.organization_id) == organization.id,
            col(AuditEntry.action).in_(["organization.lapse", "organization.reinstate"]),
        )
    ).all()
    assert notes == [None, None]
    assert client.post("/api/organizations/999999/lapse").status_code == 404


def test_regional_lead_changes_status_only_in_her_regions(
    client_as: ClientAs, session: Session
) -> None:
    kenyan = make_organization(session, name="Kenyan member", country="KEN")
    french = make_organization(session, name="French member", country="FRA")
    session.flush()
    lead = client_as(Role.regional_lead, regions=["africa"])
    assert lead.post(f"/api/organizations/{french.id}/lapse").status_code == 404
    assert (
        lead.post(f"/api/organizations/{french.id}/suspend", json={"reason": "x"}).status_code
        == 404
    )
    response = lead.post(f"/api/organizations/{kenyan.id}/suspend", json={"reason": "Dues"})
    assert response.status_code == 200, response.text
    session.expire_all()
    assert session.get_one(Organization, french.id).membership_status == "active"
    assert session.get_one(Organization, kenyan.id).membership_status == "suspended"


def test_of_two_simultaneous_decisions_only_one_counts(
    anonymous_client: TestClient, session: Session
) -> None:
    """Both deciders read the application as pending; the second write must lose."""
    identifier = apply(anonymous_client)
    staff = Principal(actor="test:second-decider", role=Role.secretariat)
    view = applications.get_application(session, staff, identifier)
    assert view.application.decision is None  # what the second decider saw
    session.execute(  # the first decider commits meanwhile, behind this session's back
        update(MembershipApplication)
        .where(col(MembershipApplication.id) == identifier)
        .values(decision=ApplicationDecision.declined, decided_by="test:first-decider")
        .execution_options(synchronize_session=False)
    )
    assert view.application.decision is None  # still stale in this session
    with pytest.raises(Conflict):
        applications.approve_application(session, staff, identifier)
    assert outbox_to(session, "amina@mvf.example.org") == []


def test_required_custom_fields_do_not_block_applicants(
    anonymous_client: TestClient, client: TestClient, session: Session
) -> None:
    """Applicants cannot know the secretariat's own required fields."""
    client.post(
        "/api/custom-fields",
        json={"key": "charter", "label": "Charter", "field_type": "text", "required": True},
    )
    application_id = apply(anonymous_client)
    assert stored(session, application_id).organization_id


def test_the_applicants_contact_can_be_removed_later(
    anonymous_client: TestClient, client: TestClient, session: Session
) -> None:
    application_id = apply(anonymous_client)
    contact_id = stored(session, application_id).contact_id
    assert client.delete(f"/api/contacts/{contact_id}").status_code == 204
    session.expire_all()
    assert stored(session, application_id).contact_id is None


def test_applications_are_throttled_per_client_address(anonymous_client: TestClient) -> None:
    """The public form must not be a cheap way to create records."""
    for number in range(10):
        apply(anonymous_client, organization_name=f"Throttled Org {number}")
    refused = anonymous_client.post(
        "/api/applications", json=application(organization_name="One Too Many")
    )
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
