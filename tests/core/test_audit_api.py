"""GET /api/audit: the secretariat reads every change, filtered and paged, newest first;
nobody else may; and nothing secret is ever in it."""

import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.accounts.models import Credential, User
from app.accounts.principal import Role
from app.core.audit import AuditEntry
from tests.factories import TEST_PASSWORD, make_contact, make_organization

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def add_entries(session: Session, actor: str, count: int, **fields: object) -> list[AuditEntry]:
    entries = [
        AuditEntry(
            at=T0 + timedelta(minutes=number),
            actor=actor,
            action=str(fields.get("action", "thing.update")),
            target_type=str(fields.get("target_type", "thing")),
            target_id=str(fields.get("target_id", number)),
            organization_id=fields.get("organization_id"),  # type: ignore[arg-type]
            after={"number": number},
        )
        for number in range(count)
    ]
    session.add_all(entries)
    session.flush()
    return entries


def test_filters_by_actor_action_target_and_organisation(
    client: TestClient, session: Session
) -> None:
    organization = make_organization(session, name="Audited Org")
    contact = make_contact(session, organization, name="Audited Person")
    session.flush()
    client.patch(f"/api/contacts/{contact.id}", json={"language": "fr"}).raise_for_status()

    by_org = client.get("/api/audit", params={"organization_id": organization.id}).json()
    assert [item["action"] for item in by_org["items"]] == [
        "contact.update",
        "contact.create",
        "organization.create",
    ]
    assert by_org["next_cursor"] is None

    by_target = client.get(
        "/api/audit", params={"target_type": "contact", "target_id": str(contact.id)}
    ).json()["items"]
    assert [item["action"] for item in by_target] == ["contact.update", "contact.create"]
    update = by_target[0]
    assert update["before"] == {"language": "en"}
    assert update["after"] == {"language": "fr"}
    assert update["actor"].startswith("user:")
    assert update["organization_id"] == organization.id

    by_actor = client.get("/api/audit", params={"actor": update["actor"]}).json()["items"]
    assert "contact.update" in [item["action"] for item in by_actor]
    assert all(item["actor"] == update["actor"] for item in by_actor)

    by_action = client.get(
        "/api/audit", params={"action": "organization.create", "organization_id": organization.id}
    ).json()["items"]
    assert [item["target_id"] for item in by_action] == [str(organization.id)]


def test_date_range_and_pages_newest_first(client: TestClient, session: Session) -> None:
    actor = f"test:{secrets.token_hex(4)}"
    entries = add_entries(session, actor, 7)
    newest_first = [entry.id for entry in reversed(entries)]

    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, object] = {"actor": actor, "limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = client.get("/api/audit", params=params).json()
        seen += [item["id"] for item in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == newest_first
    assert pages == 3

    ranged = client.get(
        "/api/audit",
        params={
            "actor": actor,
            "since": (T0 + timedelta(minutes=2)).isoformat(),
            "until": (T0 + timedelta(minutes=5)).isoformat(),
        },
    ).json()["items"]
    assert [item["after"]["number"] for item in ranged] == [4, 3, 2]
    # Another time zone means the same instant.
    ranged_elsewhere = client.get(
        "/api/audit",
        params={"actor": actor, "since": "2025-03-01T14:04:00+02:00"},
    ).json()["items"]
    assert [item["after"]["number"] for item in ranged_elsewhere] == [6, 5, 4]


def test_entries_at_the_same_instant_are_paged_without_loss(
    client: TestClient, session: Session
) -> None:
    actor = f"test:{secrets.token_hex(4)}"
    entries = [
        AuditEntry(at=T0, actor=actor, action="same.time", target_type="x", target_id=str(n))
        for n in range(5)
    ]
    session.add_all(entries)
    session.flush()
    first = client.get("/api/audit", params={"actor": actor, "limit": 2}).json()
    second = client.get(
        "/api/audit", params={"actor": actor, "limit": 10, "cursor": first["next_cursor"]}
    ).json()
    ids = [item["id"] for item in first["items"] + second["items"]]
    assert ids == sorted((entry.id for entry in entries), reverse=True)


def test_bad_queries_are_422_naming_the_field(client: TestClient) -> None:
    cases = {
        "since": {"since": "2025-03-01T12:00:00"},  # no time zone
        "until": {"since": "2025-03-02T00:00:00Z", "until": "2025-03-01T00:00:00Z"},
        "cursor": {"cursor": "not-a-cursor"},
        "limit": {"limit": 0},
        "organization_id": {"organization_id": "abc"},
        "colour": {"colour": "red"},  # unknown filter
        # Valid times that fall past the years a datetime holds once in UTC.
        "since ": {"since": "0001-01-01T00:00:00+01:00"},
        "until ": {"until": "9999-12-31T23:00:00-05:00"},
    }
    for field, params in cases.items():
        response = client.get("/api/audit", params=params)
        assert response.status_code == 422, (field, response.text)
        assert field.strip() in str(response.json()["detail"][0]["loc"]), (field, response.text)


def test_only_the_secretariat_reads_it(
    client_as: Callable[..., TestClient], anonymous_client: TestClient
) -> None:
    assert anonymous_client.get("/api/audit").status_code == 401
    assert client_as(Role.regional_lead).get("/api/audit").status_code == 403
    assert client_as(Role.member).get("/api/audit").status_code == 403
    assert client_as(Role.secretariat).get("/api/audit").status_code == 200


def test_it_never_shows_a_password_token_or_hash(
    client: TestClient, client_as: Callable[..., TestClient], session: Session
) -> None:
    new_password = "another long passphrase " + secrets.token_hex(4)
    created = client.post(
        "/api/users",
        json={
            "email": f"secretive-{secrets.token_hex(3)}@example.org",
            "role": "secretariat",
            "password": new_password,
        },
    )
    created.raise_for_status()
    email = created.json()["email"]
    token = client.post(
        "/api/auth/token", data={"username": email, "password": new_password}
    ).json()["access_token"]
    changed = client.post(
        "/api/auth/password",
        json={"current_password": new_password, "new_password": new_password + "!"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert changed.status_code == 204
    user = session.get(User, created.json()["id"])
    assert user is not None
    stored_hashes = [
        user.password_hash or "unset",
        *list(session.scalars(select(Credential.secret_hash).where(Credential.user_id == user.id))),
    ]

    log = client.get("/api/audit", params={"limit": 500}).text
    assert "user.create" in log
    assert "user.password_change" in log
    assert "auth.sign_in" in log
    for secret in [new_password, new_password + "!", token, TEST_PASSWORD, *stored_hashes]:
        assert secret not in log
    assert "password" not in log.replace("password_change", "")
