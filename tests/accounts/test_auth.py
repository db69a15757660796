"""Staff sign-in (point 2) and the end of sessions (point 5).

Bearer tokens come from the OAuth2 password flow; page sessions from the sign-in page's
cookie, whose unsafe requests need the session's CSRF token. Every way a sign-in ends
(sign-out, expiry, a password change, deactivation) is proven here through the API,
and no password, token or hash may reach the audit log or the logs.
"""

import json
import logging
import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from app.accounts.auth import CSRF_HEADER, SESSION_COOKIE
from app.accounts.models import Credential, User
from app.accounts.principal import Role
from app.accounts.security import csrf_token_for, secret_hash
from app.core import throttle
from app.core.audit import AuditEntry
from app.core.settings import get_settings
from app.core.types import utcnow
from tests.conftest import shared_app
from tests.factories import TEST_PASSWORD, make_contact, make_organization, make_user

NEW_PASSWORD = "a much longer passphrase for 2026"
NewClient = Callable[[], TestClient]


@pytest.fixture(autouse=True)
def fresh_throttle() -> Iterator[None]:
    """Failed sign-ins in other tests must not lock these ones out."""
    throttle.use_backend(throttle.MemoryBackend())
    yield
    throttle.use_backend(None)


@pytest.fixture
def new_client(anonymous_client: TestClient) -> Iterator[NewClient]:
    """Makes more anonymous clients (each with its own cookie jar) on the same database."""
    clients: list[TestClient] = []

    def make() -> TestClient:
        test_client = TestClient(shared_app())
        clients.append(test_client)
        return test_client

    yield make
    for test_client in clients:
        test_client.close()


def token_for(client: TestClient, email: str, password: str = TEST_PASSWORD) -> str:
    response = client.post("/api/auth/token", data={"username": email, "password": password})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] > 0
    return str(body["access_token"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def sign_in_page(client: TestClient, email: str, password: str = TEST_PASSWORD) -> str:
    """Sign in through the page as a browser does; return the session cookie's value."""
    response = client.post(
        "/sign-in",
        data={"email": email, "password": password, "next": "/countries"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/countries"
    cookie = response.cookies.get(SESSION_COOKIE)
    assert cookie
    return str(cookie)


def csrf_from_page(client: TestClient) -> str:
    """The CSRF token a signed-in page hands to its forms."""
    page = client.get("/countries")
    assert page.status_code == 200
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, "a signed-in page carries the CSRF token in its sign-out form"
    return match.group(1)


# --- the token endpoint ----------------------------------------------------------------------


def test_password_flow_token_signs_in_on_the_api(
    session: Session, anonymous_client: TestClient
) -> None:
    user = make_user(session, Role.secretariat, email="Staff.Person@Example.org")
    # The email is matched whatever its case or surrounding spaces.
    token = token_for(anonymous_client, "  staff.person@EXAMPLE.org ")
    me = anonymous_client.get("/api/me", headers=bearer(token))
    assert me.status_code == 200
    assert me.json()["id"] == user.id
    assert me.json()["email"] == "staff.person@example.org"
    assert anonymous_client.get("/api/me").status_code == 401


def test_wrong_password_and_unknown_email_answer_alike(
    session: Session, anonymous_client: TestClient
) -> None:
    make_user(session, Role.secretariat, email="known@example.org")
    wrong_password = anonymous_client.post(
        "/api/auth/token", data={"username": "known@example.org", "password": "not it at all"}
    )
    unknown_email = anonymous_client.post(
        "/api/auth/token", data={"username": "nobody@example.org", "password": TEST_PASSWORD}
    )
    for response in (wrong_password, unknown_email):
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == "Bearer"
    # Nothing tells an attacker which addresses have accounts.
    assert wrong_password.json() == unknown_email.json()
    assert "access_token" not in wrong_password.text


def test_inactive_user_cannot_sign_in_nor_use_an_old_token(
    session: Session, anonymous_client: TestClient
) -> None:
    user = make_user(session, Role.secretariat)
    token = token_for(anonymous_client, user.email)
    user.is_active = False
    session.flush()
    refused = anonymous_client.post(
        "/api/auth/token", data={"username": user.email, "password": TEST_PASSWORD}
    )
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"] == "Bearer"
    assert anonymous_client.get("/api/me", headers=bearer(token)).status_code == 401


def test_members_have_no_password_to_sign_in_with(
    session: Session, anonymous_client: TestClient
) -> None:
    member = make_user(session, Role.member)
    for password in (TEST_PASSWORD, "", "x" * 12):
        response = anonymous_client.post(
            "/api/auth/token", data={"username": member.email, "password": password}
        )
        assert response.status_code in (401, 422)
        assert "access_token" not in response.text


def test_expired_token_is_refused(session: Session, anonymous_client: TestClient) -> None:
    user = make_user(session, Role.secretariat)
    token = token_for(anonymous_client, user.email)
    assert anonymous_client.get("/api/me", headers=bearer(token)).status_code == 200
    credential = session.scalars(
        select(Credential).where(Credential.secret_hash == secret_hash(token))
    ).one()
    credential.expires_at = utcnow() - timedelta(seconds=1)
    session.flush()
    response = anonymous_client.get("/api/me", headers=bearer(token))
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_garbage_and_revoked_tokens_are_refused(
    session: Session, anonymous_client: TestClient
) -> None:
    for header in ("Bearer not-a-token", "Bearer ", "Basic dXNlcjpwYXNz"):
        response = anonymous_client.get("/api/me", headers={"Authorization": header})
        assert response.status_code == 401, header
    user = make_user(session, Role.secretariat)
    token = token_for(anonymous_client, user.email)
    credential = session.scalars(
        select(Credential).where(Credential.secret_hash == secret_hash(token))
    ).one()
    credential.revoked_at = utcnow()
    session.flush()
    assert anonymous_client.get("/api/me", headers=bearer(token)).status_code == 401


def test_sign_out_ends_only_the_token_it_was_made_with(
    session: Session, anonymous_client: TestClient
) -> None:
    user = make_user(session, Role.secretariat)
    used, other = token_for(anonymous_client, user.email), token_for(anonymous_client, user.email)
    response = anonymous_client.post("/api/auth/sign-out", headers=bearer(used))
    assert response.status_code == 204
    assert anonymous_client.get("/api/me", headers=bearer(used)).status_code == 401
    # Signing out twice with the same token is a 401, not a 500.
    assert anonymous_client.post("/api/auth/sign-out", headers=bearer(used)).status_code == 401
    assert anonymous_client.get("/api/me", headers=bearer(other)).status_code == 200


def test_page_sign_out_ends_the_page_session(session: Session, new_client: NewClient) -> None:
    user = make_user(session, Role.secretariat)
    browser = new_client()
    sign_in_page(browser, user.email)
    csrf = csrf_from_page(browser)
    # Without the form's token the sign-out is refused (a forged cross-site POST).
    assert browser.post("/sign-out", follow_redirects=False).status_code == 403
    assert browser.get("/api/me").status_code == 200
    response = browser.post("/sign-out", data={"csrf_token": csrf}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/sign-in"
    assert SESSION_COOKIE in response.headers["set-cookie"]  # deleted in the browser
    assert browser.get("/api/me").status_code == 401


# --- sessions end on a password change and on deactivation ------------------------------------


def test_password_change_ends_every_other_sign_in_and_keeps_this_one(
    session: Session, new_client: NewClient
) -> None:
    user = make_user(session, Role.secretariat)
    api = new_client()
    current, other_token = token_for(api, user.email), token_for(api, user.email)
    browser = new_client()
    sign_in_page(browser, user.email)
    bystander = make_user(session, Role.secretariat)
    bystander_token = token_for(api, bystander.email)

    wrong = api.post(
        "/api/auth/password",
        json={"current_password": "not the password", "new_password": NEW_PASSWORD},
        headers=bearer(current),
    )
    assert wrong.status_code == 422
    assert wrong.json()["detail"][0]["loc"] == ["body", "current_password"]
    assert api.get("/api/me", headers=bearer(other_token)).status_code == 200  # nothing ended

    response = api.post(
        "/api/auth/password",
        json={"current_password": TEST_PASSWORD, "new_password": NEW_PASSWORD},
        headers=bearer(current),
    )
    assert response.status_code == 204
    assert api.get("/api/me", headers=bearer(current)).status_code == 200
    assert api.get("/api/me", headers=bearer(other_token)).status_code == 401
    assert browser.get("/api/me").status_code == 401
    # Other users are not signed out.
    assert api.get("/api/me", headers=bearer(bystander_token)).status_code == 200

    old = api.post("/api/auth/token", data={"username": user.email, "password": TEST_PASSWORD})
    assert old.status_code == 401
    token_for(api, user.email, NEW_PASSWORD)


def test_password_change_from_a_page_session_keeps_that_session(
    session: Session, new_client: NewClient
) -> None:
    user = make_user(session, Role.secretariat)
    api = new_client()
    token = token_for(api, user.email)
    browser = new_client()
    sign_in_page(browser, user.email)
    change = {"current_password": TEST_PASSWORD, "new_password": NEW_PASSWORD}
    assert browser.post("/api/auth/password", json=change).status_code == 403  # no CSRF token
    response = browser.post(
        "/api/auth/password", json=change, headers={CSRF_HEADER: csrf_from_page(browser)}
    )
    assert response.status_code == 204
    assert browser.get("/api/me").status_code == 200
    assert api.get("/api/me", headers=bearer(token)).status_code == 401


def test_a_new_password_must_be_long_enough_and_is_never_echoed(
    session: Session, anonymous_client: TestClient
) -> None:
    user = make_user(session, Role.secretariat)
    token = token_for(anonymous_client, user.email)
    response = anonymous_client.post(
        "/api/auth/password",
        json={"current_password": TEST_PASSWORD, "new_password": "short pw"},
        headers=bearer(token),
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "new_password"]
    assert "short pw" not in response.text
    assert TEST_PASSWORD not in response.text


def test_deactivating_a_user_ends_all_their_sessions_and_tokens(
    session: Session, client: TestClient, new_client: NewClient
) -> None:
    user = make_user(session, Role.regional_lead)
    api = new_client()
    tokens = [token_for(api, user.email), token_for(api, user.email)]
    browser = new_client()
    sign_in_page(browser, user.email)

    response = client.patch(f"/api/users/{user.id}", json={"is_active": False})
    assert response.status_code == 200
    assert response.json()["is_active"] is False
    for token in tokens:
        assert api.get("/api/me", headers=bearer(token)).status_code == 401
    assert browser.get("/api/me").status_code == 401
    assert browser.get("/members", follow_redirects=False).status_code == 303  # to sign-in
    refused = api.post("/api/auth/token", data={"username": user.email, "password": TEST_PASSWORD})
    assert refused.status_code == 401
    # Every credential row is revoked, not merely ignored while the user is inactive:
    # reactivating the account does not bring the old sign-ins back.
    assert client.patch(f"/api/users/{user.id}", json={"is_active": True}).status_code == 200
    for token in tokens:
        assert api.get("/api/me", headers=bearer(token)).status_code == 401
    assert browser.get("/api/me").status_code == 401
    session.expire_all()
    live = session.scalars(
        select(Credential).where(
            Credential.user_id == user.id, col(Credential.revoked_at).is_(None)
        )
    ).all()
    assert live == []


def test_admins_cannot_deactivate_themselves(client: TestClient, admin_user: User) -> None:
    response = client.patch(f"/api/users/{admin_user.id}", json={"is_active": False})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "is_active"]
    assert client.get("/api/me").status_code == 200


# --- the page session cookie and CSRF ----------------------------------------------------------


def test_session_cookie_attributes(session: Session, anonymous_client: TestClient) -> None:
    user = make_user(session, Role.secretariat)
    response = anonymous_client.post(
        "/sign-in",
        data={"email": user.email, "password": TEST_PASSWORD, "next": "/members"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    cookie = response.headers["set-cookie"]
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    assert "httponly" in attributes
    assert "samesite=lax" in cookie.lower()
    assert "path=/" in cookie.lower()
    assert "max-age" in attributes
    # The test site is plain http (PUBLIC_BASE_URL's default): no Secure flag, or no
    # browser would send the cookie back.
    assert "secure" not in attributes


@pytest.fixture
def https_site(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The settings of a deployment behind https (settings are read once and cached)."""
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://registry.example.org")
    get_settings.cache_clear()
    assert get_settings().public_base_url == "https://registry.example.org"
    yield
    monkeypatch.delenv("PUBLIC_BASE_URL")
    get_settings.cache_clear()


def test_session_cookie_is_secure_behind_https(
    https_site: None, session: Session, anonymous_client: TestClient
) -> None:
    user = make_user(session, Role.secretariat)
    response = anonymous_client.post(
        "/sign-in",
        data={"email": user.email, "password": TEST_PASSWORD, "next": "/members"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    cookie = response.headers["set-cookie"]
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"secure", "httponly"} <= attributes
    assert "samesite=lax" in cookie.lower()


def test_wrong_page_sign_in_sets_no_cookie(session: Session, anonymous_client: TestClient) -> None:
    user = make_user(session, Role.secretariat)
    response = anonymous_client.post(
        "/sign-in",
        data={"email": user.email, "password": "wrong password!", "next": "/members"},
        follow_redirects=False,
    )
    assert response.status_code == 401
    assert SESSION_COOKIE not in response.headers.get("set-cookie", "")


def test_cookie_requests_that_change_something_need_the_sessions_csrf_token(
    session: Session, new_client: NewClient
) -> None:
    organization = make_organization(session, name="Before", country="KEN")
    path = f"/api/organizations/{organization.id}"
    user = make_user(session, Role.secretariat)
    browser = new_client()
    cookie = sign_in_page(browser, user.email)
    # Reading needs nothing but the cookie.
    assert browser.get(path).status_code == 200
    assert browser.get("/api/me").status_code == 200

    refused = browser.patch(path, json={"name": "Forged"})
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["detail"][0]["msg"]
    assert (
        browser.patch(path, json={"name": "Forged"}, headers={CSRF_HEADER: ""}).status_code == 403
    )
    assert browser.post("/api/auth/sign-out").status_code == 403
    assert browser.get(path).json()["name"] == "Before"

    # The token of another session (here: another browser of the same user) is no good.
    other_browser = new_client()
    sign_in_page(other_browser, user.email)
    others = csrf_from_page(other_browser)
    response = browser.patch(path, json={"name": "Forged"}, headers={CSRF_HEADER: others})
    assert response.status_code == 403
    assert browser.get(path).json()["name"] == "Before"

    token = csrf_from_page(browser)
    assert token == csrf_token_for(cookie)
    accepted = browser.patch(path, json={"name": "Changed"}, headers={CSRF_HEADER: token})
    assert accepted.status_code == 200
    assert browser.get(path).json()["name"] == "Changed"


def test_bearer_requests_need_no_csrf_token(session: Session, anonymous_client: TestClient) -> None:
    organization = make_organization(session, name="Before", country="KEN")
    user = make_user(session, Role.secretariat)
    token = token_for(anonymous_client, user.email)
    response = anonymous_client.patch(
        f"/api/organizations/{organization.id}", json={"name": "Changed"}, headers=bearer(token)
    )
    assert response.status_code == 200
    assert response.json()["name"] == "Changed"


def test_a_session_cookie_is_not_a_bearer_token_nor_the_reverse(
    session: Session, new_client: NewClient
) -> None:
    user = make_user(session, Role.secretariat)
    browser = new_client()
    cookie = sign_in_page(browser, user.email)
    api = new_client()
    assert api.get("/api/me", headers=bearer(cookie)).status_code == 401
    token = token_for(api, user.email)
    api.cookies.set(SESSION_COOKIE, token)
    assert api.get("/api/me").status_code == 401


# --- nothing secret in the audit log or the logs -------------------------------------------


def test_no_password_token_or_hash_in_the_audit_log_or_the_logs(
    session: Session,
    client: TestClient,
    new_client: NewClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    before = session.scalar(select(AuditEntry.id).order_by(col(AuditEntry.id).desc())) or 0
    created_password = "the admin typed this one in"
    created = client.post(
        "/api/users",
        json={
            "email": "new.staff@example.org",
            "role": "secretariat",
            "full_name": "New Staff",
            "password": created_password,
        },
    )
    assert created.status_code == 201
    assert created_password not in created.text
    assert "password" not in created.json()
    first_hash = session.scalars(
        select(User.password_hash).where(User.email == "new.staff@example.org")
    ).one()

    api = new_client()
    token = token_for(api, "new.staff@example.org", created_password)
    browser = new_client()
    cookie = sign_in_page(browser, "new.staff@example.org", created_password)
    csrf = csrf_from_page(browser)
    failed = api.post(
        "/api/auth/token", data={"username": "new.staff@example.org", "password": "guess 12345"}
    )
    assert failed.status_code == 401
    changed = api.post(
        "/api/auth/password",
        json={"current_password": created_password, "new_password": NEW_PASSWORD},
        headers=bearer(token),
    )
    assert changed.status_code == 204
    assert api.post("/api/auth/sign-out", headers=bearer(token)).status_code == 204

    session.expire_all()
    user = session.scalars(select(User).where(User.email == "new.staff@example.org")).one()
    credentials = session.scalars(select(Credential).where(Credential.user_id == user.id)).all()
    secrets = {
        "the first password": created_password,
        "the new password": NEW_PASSWORD,
        "a failed guess": "guess 12345",
        "the bearer token": token,
        "the session cookie": cookie,
        "the CSRF token": csrf,
        "the first password hash": first_hash or "",
        "its salt": (first_hash or "").rsplit("$", 2)[-2],
        "its digest": (first_hash or "").rsplit("$", 2)[-1],
        "the new password hash": user.password_hash or "",
        "the secret key": get_settings().secret_key,
        **{f"credential hash {c.id}": c.secret_hash for c in credentials},
    }
    assert all(secrets.values())

    entries = session.scalars(select(AuditEntry).where(col(AuditEntry.id) > before)).all()
    actions = {entry.action for entry in entries}
    assert {"user.create", "user.password_change"} <= actions
    assert any(action.startswith("auth.sign_in") for action in actions)
    for entry in entries:
        text = json.dumps([entry.actor, entry.target_id, entry.before, entry.after, entry.note])
        for what, secret in secrets.items():
            assert secret not in text, f"{what} in audit entry {entry.action}"
    assert "password_hash" not in json.dumps([e.after for e in entries])

    logged = caplog.text + "\n".join(
        f"{record.getMessage()} {record.args!r} {record.__dict__!r}" for record in caplog.records
    )
    for what, secret in secrets.items():
        assert secret not in logged, f"{what} in the logs"


# --- user management ----------------------------------------------------------------------


def test_admin_creates_staff_regional_leads_and_members(
    session: Session, client: TestClient
) -> None:
    staff = client.post(
        "/api/users",
        json={
            "email": "Secretary@Example.org",
            "role": "secretariat",
            "is_admin": True,
            "password": TEST_PASSWORD,
        },
    )
    assert staff.status_code == 201, staff.text
    assert staff.json()["email"] == "secretary@example.org"
    assert staff.json()["is_admin"] is True

    lead = client.post(
        "/api/users",
        json={
            "email": "lead@example.org",
            "role": "regional_lead",
            "regions": ["europe", "africa"],
            "password": TEST_PASSWORD,
        },
    )
    assert lead.status_code == 201, lead.text
    assert lead.json()["regions"] == ["africa", "europe"]
    assert lead.json()["is_admin"] is False

    organization = make_organization(session, country="KEN")
    contact = make_contact(session, organization, email="focal@example.org")
    member = client.post(
        "/api/users",
        json={
            "email": "focal@example.org",
            "role": "member",
            "organization_id": organization.id,
            "contact_id": contact.id,
        },
    )
    assert member.status_code == 201, member.text
    assert member.json()["organization_id"] == organization.id
    assert member.json()["contact_id"] == contact.id

    listed = client.get("/api/users")
    assert listed.status_code == 200
    emails = {user["email"] for user in listed.json()}
    assert {"secretary@example.org", "lead@example.org", "focal@example.org"} <= emails
    assert all("password" not in key for user in listed.json() for key in user)
    assert client.get(f"/api/users/{lead.json()['id']}").json()["role"] == "regional_lead"

    # Changing a lead's regions changes what she sees: her sign-ins start again.
    lead_token = token_for(client, "lead@example.org")
    assert client.get("/api/me", headers=bearer(lead_token)).status_code == 200
    moved = client.patch(f"/api/users/{lead.json()['id']}", json={"regions": ["mena"]})
    assert moved.status_code == 200
    assert moved.json()["regions"] == ["mena"]
    assert client.get("/api/me", headers=bearer(lead_token)).status_code == 401


def _field_of(response_json: dict[str, Any]) -> str:
    return str(response_json["detail"][0]["loc"][-1])


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "not an email", "role": "secretariat", "password": TEST_PASSWORD}, "email"),
        ({"email": "a@example.org", "role": "overlord", "password": TEST_PASSWORD}, "role"),
        ({"email": "a@example.org", "role": "secretariat"}, "password"),
        ({"email": "a@example.org", "role": "secretariat", "password": "too short"}, "password"),
        ({"email": "a@example.org", "role": "regional_lead", "password": TEST_PASSWORD}, "regions"),
        (
            {
                "email": "a@example.org",
                "role": "regional_lead",
                "regions": ["atlantis"],
                "password": TEST_PASSWORD,
            },
            "regions",
        ),
        (
            {
                "email": "a@example.org",
                "role": "secretariat",
                "regions": ["africa"],
                "password": TEST_PASSWORD,
            },
            "regions",
        ),
        (
            {
                "email": "a@example.org",
                "role": "regional_lead",
                "regions": ["africa"],
                "is_admin": True,
                "password": TEST_PASSWORD,
            },
            "is_admin",
        ),
        ({"email": "a@example.org", "role": "member"}, "contact_id"),
        (
            {
                "email": "a@example.org",
                "role": "secretariat",
                "password": TEST_PASSWORD,
                "password_hash": "x",
            },
            "password_hash",
        ),
    ],
)
def test_user_validation_errors_name_the_field(
    session: Session, client: TestClient, body: dict[str, Any], field: str
) -> None:
    count = len(client.get("/api/users").json())
    response = client.post("/api/users", json=body)
    assert response.status_code == 422, response.text
    assert field in response.json()["detail"][0]["loc"]
    assert len(client.get("/api/users").json()) == count


def test_member_users_need_a_contact_of_their_own_organisation(
    session: Session, client: TestClient
) -> None:
    own = make_organization(session, country="KEN")
    other = make_organization(session, country="KEN")
    someone_else = make_contact(session, other)
    response = client.post(
        "/api/users",
        json={
            "email": "m@example.org",
            "role": "member",
            "organization_id": own.id,
            "contact_id": someone_else.id,
        },
    )
    assert response.status_code == 422
    assert _field_of(response.json()) == "contact_id"
    password = client.post(
        "/api/users",
        json={
            "email": "m@example.org",
            "role": "member",
            "organization_id": other.id,
            "contact_id": someone_else.id,
            "password": TEST_PASSWORD,
        },
    )
    assert password.status_code == 422
    assert _field_of(password.json()) == "password"


def test_a_taken_email_is_a_conflict(session: Session, client: TestClient) -> None:
    make_user(session, Role.secretariat, email="taken@example.org")
    response = client.post(
        "/api/users",
        json={"email": "TAKEN@example.org", "role": "secretariat", "password": TEST_PASSWORD},
    )
    assert response.status_code == 409
    assert _field_of(response.json()) == "email"


def test_user_updates_refuse_unknown_fields(session: Session, client: TestClient) -> None:
    user = make_user(session, Role.secretariat)
    for body, field in (
        ({"role": "member"}, "role"),
        ({"email": "x@example.org"}, "email"),
        ({"password_hash": "x"}, "password_hash"),
        ({"is_admin": None, "regions": ["africa"]}, "regions"),
    ):
        response = client.patch(f"/api/users/{user.id}", json=body)
        assert response.status_code == 422, body
        assert field in response.json()["detail"][0]["loc"], body
    assert client.get(f"/api/users/{user.id}").json()["role"] == "secretariat"


@pytest.mark.parametrize("role", [Role.secretariat, Role.regional_lead, Role.member])
def test_only_admins_manage_users(
    session: Session, client_as: Callable[..., TestClient], role: Role
) -> None:
    user = make_user(session, Role.secretariat)
    not_admin = client_as(role)
    assert not_admin.get("/api/users").status_code == 403
    assert not_admin.get(f"/api/users/{user.id}").status_code == 403
    created = not_admin.post(
        "/api/users",
        json={"email": "sneaky@example.org", "role": "secretariat", "password": TEST_PASSWORD},
    )
    assert created.status_code == 403
    assert not_admin.patch(f"/api/users/{user.id}", json={"is_admin": True}).status_code == 403
    assert session.scalars(select(User).where(User.email == "sneaky@example.org")).first() is None


def test_a_suspended_members_sessions_stop_working(
    client: TestClient, client_as: Callable[..., TestClient], session: Session
) -> None:
    member = client_as(Role.member)
    organization_id = member.get("/api/me").json()["organization_id"]
    assert member.get("/api/me/organization").status_code == 200
    response = client.post(
        f"/api/organizations/{organization_id}/suspend", json={"reason": "dues unpaid"}
    )
    assert response.status_code == 200, response.text
    assert member.get("/api/me/organization").status_code == 401
    assert member.get("/api/organizations").status_code == 401
    client.post(f"/api/organizations/{organization_id}/reinstate", json={})
    assert member.get("/api/me/organization").status_code == 200


def test_guessing_the_current_password_is_throttled(
    client_as: Callable[..., TestClient],
) -> None:
    staff = client_as(Role.secretariat)
    for _ in range(5):
        response = staff.post(
            "/api/auth/password",
            json={"current_password": "a wrong guess!!", "new_password": "a brand new password"},
        )
        assert response.status_code == 422
    locked = staff.post(
        "/api/auth/password",
        json={"current_password": TEST_PASSWORD, "new_password": "a brand new password"},
    )
    assert locked.status_code == 429
    assert "Retry-After" in locked.headers


@pytest.mark.parametrize("header", ["origin", "referer"])
def test_sign_in_posted_from_another_site_is_refused(
    anonymous_client: TestClient, session: Session, header: str
) -> None:
    """No session yet, so no CSRF token: the browser's Origin/Referer must be this site."""
    user = make_user(session, Role.secretariat)
    session.flush()
    form = {"email": user.email, "password": TEST_PASSWORD}
    foreign = anonymous_client.post(
        "/sign-in",
        data=form,
        headers={header: "https://attacker.example/page"},
        follow_redirects=False,
    )
    assert foreign.status_code == 403
    assert SESSION_COOKIE not in foreign.cookies
    own = anonymous_client.post(
        "/sign-in",
        data=form,
        headers={header: "http://testserver/sign-in"},
        follow_redirects=False,
    )
    assert own.status_code == 303
