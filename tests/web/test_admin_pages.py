"""User management and the outbox pages, through a real cookie session and CSRF."""

import re

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.accounts import service as accounts
from app.accounts.models import User
from app.accounts.principal import Role
from app.core.settings import get_settings
from app.delivery.models import OutboxMessage
from tests.factories import TEST_PASSWORD, make_user


def signed_in(client: TestClient, user: User, next_page: str = "/users") -> str:
    """Sign in through the page; return the CSRF token the pages carry."""
    response = client.post(
        "/sign-in", data={"email": user.email, "password": TEST_PASSWORD, "next": next_page}
    )
    assert response.status_code == 200, response.text  # followed the redirect
    token = re.search(r'name="csrf_token" value="([^"]+)"', response.text)
    assert token is not None
    return token.group(1)


@pytest.fixture
def admin(session: Session) -> User:
    user = make_user(session, Role.secretariat, is_admin=True, email="boss@example.org")
    session.flush()
    return user


def test_admin_creates_a_regional_lead(
    anonymous_client: TestClient, session: Session, admin: User
) -> None:
    csrf = signed_in(anonymous_client, admin)
    response = anonymous_client.post(
        "/users",
        data={
            "csrf_token": csrf,
            "email": "New.Lead@example.org",
            "full_name": "New Lead",
            "role": "regional_lead",
            "regions": ["mena", "europe"],
            "password": "a long enough password",
        },
    )
    assert response.status_code == 200
    assert "User new.lead@example.org created." in response.text
    lead = accounts.find_user_by_email(session, "new.lead@example.org")
    assert lead is not None
    assert lead.regions == ["europe", "mena"]


def test_bad_user_shows_errors_beside_fields(
    anonymous_client: TestClient, session: Session, admin: User
) -> None:
    csrf = signed_in(anonymous_client, admin)
    response = anonymous_client.post(
        "/users",
        data={
            "csrf_token": csrf,
            "email": "lead@example.org",
            "role": "regional_lead",
            "password": "short",
        },
    )
    assert response.status_code == 422
    assert "String should have at least 12 characters" in response.text
    assert accounts.find_user_by_email(session, "lead@example.org") is None


def test_forms_without_the_csrf_token_are_refused(
    anonymous_client: TestClient, session: Session, admin: User
) -> None:
    signed_in(anonymous_client, admin)
    response = anonymous_client.post(
        "/users",
        data={"email": "x@example.org", "role": "secretariat", "password": "long enough pw!!"},
    )
    assert response.status_code == 403
    assert accounts.find_user_by_email(session, "x@example.org") is None


def test_deactivating_a_user_ends_their_sessions(
    anonymous_client: TestClient, session: Session, admin: User
) -> None:
    colleague = make_user(session, Role.secretariat, email="colleague@example.org")
    token, _ = accounts.issue_credential(session, colleague, accounts.CredentialKind.bearer)
    session.flush()
    csrf = signed_in(anonymous_client, admin)
    response = anonymous_client.post(
        f"/users/{colleague.id}/active", data={"csrf_token": csrf, "active": "false"}
    )
    assert response.status_code == 200
    session.refresh(colleague)
    assert not colleague.is_active
    assert accounts.user_for_credential(session, token, accounts.CredentialKind.bearer) is None


def test_only_admins_manage_users(client_as: object, session: Session) -> None:
    staff = client_as(Role.secretariat)  # type: ignore[operator]
    assert staff.get("/users").status_code == 403
    lead = client_as(Role.regional_lead)  # type: ignore[operator]
    assert lead.get("/users").status_code == 403


def test_outbox_shows_bodies_only_in_demo_mode(
    anonymous_client: TestClient, session: Session, admin: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    session.add(
        OutboxMessage(
            to_address="member@example.org",
            subject="Your sign-in link",
            text_body="Open https://example.org/sign-in/link/SECRET-LINK to sign in.",
            purpose="sign_in_link",
        )
    )
    session.flush()
    signed_in(anonymous_client, admin)
    page = anonymous_client.get("/outbox")
    assert page.status_code == 200
    assert "Your sign-in link" in page.text
    assert "SECRET-LINK" not in page.text
    monkeypatch.setenv("DEMO_MODE", "1")
    get_settings.cache_clear()
    try:
        assert "SECRET-LINK" in anonymous_client.get("/outbox").text
    finally:
        monkeypatch.delenv("DEMO_MODE")
        get_settings.cache_clear()


def test_navigation_follows_the_role(
    anonymous_client: TestClient, session: Session, admin: User
) -> None:
    signed_in(anonymous_client, admin)
    nav = anonymous_client.get("/countries").text.split("</nav>")[0]
    for link in ('href="/members"', 'href="/applications"', 'href="/outbox"', 'href="/users"'):
        assert link in nav
    anonymous_client.cookies.clear()
    lead = make_user(session, Role.regional_lead, email="nav.lead@example.org")
    session.flush()
    signed_in(anonymous_client, lead, "/countries")
    nav = anonymous_client.get("/countries").text.split("</nav>")[0]
    assert 'href="/applications"' in nav
    assert 'href="/users"' not in nav
    assert 'href="/outbox"' not in nav
