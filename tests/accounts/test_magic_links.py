"""Member sign-in by emailed link: who gets one, what is stored, expiry, single use."""

import contextlib
import json
import re
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, text
from sqlmodel import Session, col, select

from app.accounts import magic_links
from app.accounts.models import Credential, CredentialKind, SignInLink, User
from app.accounts.principal import Role
from app.accounts.security import secret_hash
from app.accounts.service import issue_credential
from app.core import migrations
from app.core.audit import AuditEntry
from app.core.db import create_db_engine
from app.core.errors import NotFound
from app.core.settings import get_settings
from app.core.types import utcnow
from app.countries.treaty_data import load_countries, read_treaty_data
from app.delivery.models import OutboxMessage
from app.members.models import Contact, Organization
from tests.factories import make_contact, make_organization, make_user

ON_ITS_WAY = {"detail": "If that address belongs to a member, a sign-in link is on its way."}
AMINA = "amina@haki.example.org"
_LINK = re.compile(r"(\S+/sign-in/link/)([A-Za-z0-9_-]+)")


def emails_to(session: Session, address: str) -> list[OutboxMessage]:
    session.expire_all()
    return list(
        session.scalars(
            select(OutboxMessage)
            .where(col(OutboxMessage.to_address) == address)
            .order_by(col(OutboxMessage.id))
        ).all()
    )


def link_secret(message: OutboxMessage) -> str:
    match = _LINK.search(message.text_body)
    assert match, message.text_body
    return match.group(2)


def request_link(client: TestClient, session: Session, address: str = AMINA) -> str:
    """Ask for a link through the API; the secret from the email that arrived."""
    response = client.post("/api/auth/magic-link", json={"email": address})
    assert response.status_code == 202, response.text
    return link_secret(emails_to(session, address)[-1])


def redeem(client: TestClient, secret: str, **extra: object) -> httpx.Response:
    return client.post("/api/auth/magic-link/redeem", json={"token": secret, **extra})


@pytest.fixture
def haki(session: Session) -> Organization:
    organization = make_organization(session, name="Haki Women's Forum", country="KEN")
    make_contact(session, organization, name="Amina Njeri", email=AMINA)
    session.flush()
    return organization


@dataclass
class Clock:
    now: datetime

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The time the sign-in link service sees, moved by hand."""
    frozen = Clock(utcnow())
    monkeypatch.setattr(magic_links, "utcnow", lambda: frozen.now)
    return frozen


# --- who gets a link ------------------------------------------------------------------------


def test_every_address_gets_202_and_only_eligible_contacts_get_mail(
    session: Session, anonymous_client: TestClient, haki: Organization
) -> None:
    make_contact(session, haki, name="Gone Quiet", email="quiet@haki.example.org",
                 subscription_status="unsubscribed")  # fmt: skip
    for status in ("lapsed", "suspended", "archived"):
        organization = make_organization(session, membership_status=status)
        make_contact(session, organization, email=f"{status}@example.org")
    applicant = make_organization(session, membership_status="applicant")
    make_contact(session, applicant, email="applicant@example.org")
    make_user(session, Role.secretariat, email="staff@haki.example.org")
    make_contact(session, haki, name="Also Staff", email="staff@haki.example.org")
    session.flush()

    addresses = {
        AMINA.upper(): True,  # addresses match whatever their case
        "applicant@example.org": True,
        "quiet@haki.example.org": False,
        "lapsed@example.org": False,
        "suspended@example.org": False,
        "archived@example.org": False,
        "staff@haki.example.org": False,  # a link never signs in a staff account
        "unknown@example.org": False,
    }
    for address in addresses:
        response = anonymous_client.post("/api/auth/magic-link", json={"email": address})
        assert (response.status_code, response.json()) == (202, ON_ITS_WAY)
    for address, eligible in addresses.items():
        sent = emails_to(session, address.lower())
        assert len(sent) == (1 if eligible else 0), address
    assert session.scalar(select(func.count()).select_from(SignInLink)) == 2


def test_a_malformed_request_is_422(anonymous_client: TestClient) -> None:
    for body in ({"email": "not an address"}, {}, {"email": AMINA, "role": "secretariat"}):
        assert anonymous_client.post("/api/auth/magic-link", json=body).status_code == 422


def test_a_deactivated_member_gets_no_link(
    session: Session, anonymous_client: TestClient, client: TestClient, haki: Organization
) -> None:
    token = redeem(anonymous_client, request_link(anonymous_client, session)).json()
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    user_id = anonymous_client.get("/api/me", headers=headers).json()["id"]
    assert client.patch(f"/api/users/{user_id}", json={"is_active": False}).status_code == 200
    anonymous_client.post("/api/auth/magic-link", json={"email": AMINA})
    assert len(emails_to(session, AMINA)) == 1


# --- what is sent and stored ----------------------------------------------------------------


def test_the_email_has_the_link_and_the_database_only_its_hash(
    session: Session, anonymous_client: TestClient, haki: Organization
) -> None:
    secret = request_link(anonymous_client, session)
    [message] = emails_to(session, AMINA)
    assert message.purpose == "sign_in_link"
    assert f"{get_settings().public_base_url}/sign-in/link/{secret}" in message.text_body
    assert "Haki Women's Forum" in message.text_body

    [link] = session.scalars(select(SignInLink)).all()
    assert link.secret_hash == secret_hash(secret)
    assert link.expires_at - link.created_at == timedelta(minutes=15)
    [requested] = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "auth.link_requested")
    ).all()
    contact = session.scalars(select(Contact).where(Contact.email == AMINA)).one()
    assert requested.after == {"contact_ids": [contact.id]}
    assert requested.actor == "public"

    assert redeem(anonymous_client, secret).status_code == 200
    assert secret not in dump_table(session, "sign_in_links")
    audit = dump_table(session, "audit_entries")
    assert secret not in audit
    assert "/sign-in/link/" not in audit


def dump_table(session: Session, table: str) -> str:
    rows = session.execute(text(f"SELECT * FROM {table}")).all()
    return json.dumps([list(row) for row in rows], default=str)


# --- using the link -------------------------------------------------------------------------


def test_the_link_expires_after_15_minutes(
    session: Session, anonymous_client: TestClient, haki: Organization, clock: Clock
) -> None:
    first = request_link(anonymous_client, session)
    second = request_link(anonymous_client, session)
    clock.advance(minutes=14, seconds=59)
    assert anonymous_client.get(f"/sign-in/link/{first}").status_code == 200
    assert redeem(anonymous_client, first).status_code == 200
    clock.advance(seconds=1)
    assert anonymous_client.get(f"/sign-in/link/{second}").status_code == 404
    response = redeem(anonymous_client, second)
    assert response.status_code == 404
    assert response.json()["detail"][0]["msg"] == magic_links.LINK_NOT_VALID


def test_opening_the_link_does_not_use_it_up(
    session: Session, anonymous_client: TestClient, haki: Organization
) -> None:
    secret = request_link(anonymous_client, session)
    for _ in range(3):  # a mail scanner, a preview, the person
        page = anonymous_client.get(f"/sign-in/link/{secret}")
        assert page.status_code == 200
        assert "Sign in as Amina Njeri (Haki Women&#39;s Forum)" in page.text
        assert page.headers["referrer-policy"] == "strict-origin"
    assert session.scalars(select(SignInLink)).one().used_at is None
    assert redeem(anonymous_client, secret).status_code == 200


def test_a_link_redeems_once(
    session: Session, anonymous_client: TestClient, haki: Organization
) -> None:
    secret = request_link(anonymous_client, session)
    assert redeem(anonymous_client, secret).status_code == 200
    again = redeem(anonymous_client, secret)
    assert again.status_code == 404
    assert again.json()["detail"][0]["msg"] == magic_links.LINK_NOT_VALID
    unknown = redeem(anonymous_client, "x" * 43)
    assert (unknown.status_code, unknown.json()) == (404, again.json())
    assert session.scalar(select(func.count()).select_from(Credential)) == 1


def test_eligibility_is_checked_again_when_the_link_is_used(
    session: Session, anonymous_client: TestClient, client: TestClient, haki: Organization
) -> None:
    secret = request_link(anonymous_client, session)
    lapse = client.patch(f"/api/organizations/{haki.id}", json={"membership_status": "lapsed"})
    assert lapse.status_code == 200
    assert redeem(anonymous_client, secret).status_code == 404


def test_the_bearer_token_signs_in_a_member_created_on_first_use(
    session: Session, anonymous_client: TestClient, haki: Organization
) -> None:
    assert session.scalars(select(User).where(User.email == AMINA)).first() is None
    response = redeem(anonymous_client, request_link(anonymous_client, session))
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] > 0
    me = anonymous_client.get(
        "/api/me", headers={"Authorization": f"Bearer {body['access_token']}"}
    ).json()
    contact = session.scalars(select(Contact).where(Contact.email == AMINA)).one()
    assert (me["email"], me["role"], me["full_name"]) == (AMINA, "member", "Amina Njeri")
    assert (me["organization_id"], me["contact_id"]) == (haki.id, contact.id)

    # The next link signs in the same user.
    again = redeem(anonymous_client, request_link(anonymous_client, session)).json()
    me_again = anonymous_client.get(
        "/api/me", headers={"Authorization": f"Bearer {again['access_token']}"}
    ).json()
    assert me_again["id"] == me["id"]
    assert session.scalar(select(func.count()).select_from(User).where(User.email == AMINA)) == 1


def test_a_member_sees_only_her_own_organisation(
    session: Session, anonymous_client: TestClient, haki: Organization
) -> None:
    other = make_organization(session, name="Neighbour Forum", country="KEN")
    session.flush()
    token = redeem(anonymous_client, request_link(anonymous_client, session)).json()
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    listed = anonymous_client.get("/api/organizations", headers=headers).json()
    assert [item["name"] for item in listed["items"]] == ["Haki Women's Forum"]
    assert (
        anonymous_client.get(f"/api/organizations/{other.id}", headers=headers).status_code == 404
    )


def test_an_address_of_two_organisations_chooses_one(
    session: Session, anonymous_client: TestClient, haki: Organization
) -> None:
    second = make_organization(session, name="Amani Legal Aid", country="TZA")
    make_contact(session, second, name="Amina N.", email=AMINA)
    third = make_organization(session, name="Not Hers")
    session.flush()
    secret = request_link(anonymous_client, session)

    page = anonymous_client.get(f"/sign-in/link/{secret}")
    assert "Haki Women&#39;s Forum" in page.text
    assert "Amani Legal Aid" in page.text
    for choice in ({}, {"organization_id": third.id}):
        refused = redeem(anonymous_client, secret, **choice)
        assert refused.status_code == 422
        assert refused.json()["detail"][0]["loc"] == ["body", "organization_id"]
    token = redeem(anonymous_client, secret, organization_id=second.id).json()["access_token"]
    me = anonymous_client.get("/api/me", headers={"Authorization": f"Bearer {token}"}).json()
    assert me["organization_id"] == second.id

    # Next time she acts for the other one: the same user, switched, and audited.
    secret = request_link(anonymous_client, session)
    token = redeem(anonymous_client, secret, organization_id=haki.id).json()["access_token"]
    me_now = anonymous_client.get("/api/me", headers={"Authorization": f"Bearer {token}"}).json()
    assert (me_now["id"], me_now["organization_id"]) == (me["id"], haki.id)
    [switch] = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "user.switch_organization")
    ).all()
    assert switch.before is not None
    assert switch.before["organization_id"] == second.id
    assert switch.after is not None
    assert switch.after["organization_id"] == haki.id


# --- two redemptions at once ----------------------------------------------------------------


def committed_registry(url: str) -> Engine:
    migrations.upgrade(url)
    engine = create_db_engine(url)
    with Session(engine) as session:
        load_countries(session, list(read_treaty_data()))
        organization = make_organization(session, name="Haki Women's Forum", country="KEN")
        make_contact(session, organization, name="Amina Njeri", email=AMINA)
        session.commit()
    return engine


def race_two_redemptions(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    with Session(engine) as session:
        magic_links.request_sign_in_link(session, AMINA)
        session.commit()
        secret = link_secret(emails_to(session, AMINA)[-1])

    # Both redemptions find the link valid before either uses it, where the database
    # lets them (PostgreSQL); SQLite lets one writer in at a time, so the wait times out.
    barrier = threading.Barrier(2, timeout=1 if engine.dialect.name == "sqlite" else 10)
    describe = magic_links.describe_link

    def describe_then_wait(session: Session, secret: str) -> list[magic_links.SignInChoice]:
        choices = describe(session, secret)
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait()
        return choices

    monkeypatch.setattr(magic_links, "describe_link", describe_then_wait)
    outcomes: list[str] = []

    def redeem_in_own_connection() -> None:
        with Session(engine) as session:
            try:
                user = magic_links.redeem_link(session, secret, None)
                issue_credential(session, user, CredentialKind.session)
                session.commit()
                outcomes.append("signed in")
            except NotFound:
                session.rollback()
                outcomes.append("not valid")

    threads = [threading.Thread(target=redeem_in_own_connection) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return sorted(outcomes)


def assert_one_session(engine: Engine) -> None:
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(User)) == 1
        assert session.scalar(select(func.count()).select_from(Credential)) == 1


def test_two_simultaneous_redemptions_give_one_sign_in_on_sqlite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = committed_registry(f"sqlite:///{tmp_path}/race.db")
    try:
        assert race_two_redemptions(engine, monkeypatch) == ["not valid", "signed in"]
        assert_one_session(engine)
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_two_simultaneous_redemptions_give_one_sign_in_on_postgresql(
    empty_postgres_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = committed_registry(empty_postgres_database)
    try:
        assert race_two_redemptions(engine, monkeypatch) == ["not valid", "signed in"]
        assert_one_session(engine)
    finally:
        engine.dispose()


def test_link_requests_are_throttled_per_address_the_same_for_unknown_ones(
    anonymous_client: TestClient,
) -> None:
    """The fourth request for one address within the window is refused, member or not,
    so a 429 says nothing about who is a member."""
    email = "nobody@example.org"
    for _ in range(3):
        response = anonymous_client.post("/api/auth/magic-link", json={"email": email})
        assert response.status_code == 202
    refused = anonymous_client.post("/api/auth/magic-link", json={"email": email})
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    page = anonymous_client.post("/sign-in/member", data={"email": "nobody@example.org"})
    assert page.status_code == 429
    assert "Retry-After" in page.headers
    other = anonymous_client.post("/api/auth/magic-link", json={"email": "someone@example.org"})
    assert other.status_code == 202
