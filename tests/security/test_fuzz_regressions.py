"""The exact requests with which API fuzzing (test_api_fuzz.py) found a fault, kept as
plain tests: each failed before its fix."""

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.accounts import service as accounts
from app.accounts.models import User
from app.accounts.principal import Role
from app.campaigns import lifecycle
from app.campaigns import service as campaigns
from app.campaigns.schemas import CampaignCreate
from app.main import create_app
from tests.factories import STAFF, make_user


@pytest.fixture(autouse=True)
def _quick_password_hashing(quick_password_hashing: None) -> None:
    """Some tests here make staff users."""


@pytest.fixture(scope="module")
def api_schema() -> dict[str, Any]:
    return create_app().openapi()


def documented(api_schema: dict[str, Any], method: str, path: str) -> set[str]:
    return set(api_schema["paths"][path][method]["responses"])


# Undocumented status codes: every error an operation answers is in the schema, with
# the error body's shape.


def test_signed_in_operations_document_401_and_403(api_schema: dict[str, Any]) -> None:
    assert {"401", "403"} <= documented(api_schema, "get", "/api/me")
    assert {"401", "403"} <= documented(api_schema, "post", "/api/campaigns")
    assert "401" not in documented(api_schema, "post", "/api/applications")  # public


def test_ids_in_the_path_document_404_and_writes_409(api_schema: dict[str, Any]) -> None:
    assert "404" in documented(api_schema, "get", "/api/contacts/{contact_id}")
    assert "409" in documented(api_schema, "delete", "/api/contacts/{contact_id}")
    assert "409" not in documented(api_schema, "get", "/api/contacts/{contact_id}")


@pytest.mark.parametrize(
    ("method", "path", "code"),
    [
        ("post", "/api/auth/token", "401"),
        ("post", "/api/auth/token", "429"),
        ("post", "/api/auth/password", "429"),
        ("post", "/api/auth/magic-link", "429"),
        ("post", "/api/auth/magic-link/redeem", "404"),
        ("get", "/api/reports/participation", "404"),
        ("get", "/api/reports/participation.csv", "404"),
        ("get", "/api/reports/not-acted", "404"),
        ("get", "/api/reports/not-acted.csv", "404"),
        ("get", "/api/inbound/replies", "404"),
    ],
)
def test_route_specific_errors_are_documented(
    api_schema: dict[str, Any], method: str, path: str, code: str
) -> None:
    assert code in documented(api_schema, method, path)


def test_documented_errors_have_the_error_body(api_schema: dict[str, Any]) -> None:
    response = api_schema["paths"]["/api/me"]["get"]["responses"]["401"]
    assert response["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorBody"
    }
    assert api_schema["components"]["schemas"]["ErrorBody"]["required"] == ["detail"]


def test_unknown_campaign_in_inbound_replies_is_a_documented_404(client: TestClient) -> None:
    response = client.get("/api/inbound/replies", params={"campaign_id": 2_000_000_000})
    assert response.status_code == 404
    assert response.json()["detail"][0]["loc"] == ["query", "campaign_id"]


# A body that is not UTF-8 got FastAPI's bare {"detail": "There was an error parsing the
# body"}: a string, not the API's error list, and no field named.


def test_body_that_is_not_utf8_is_a_400_naming_the_body(
    client: TestClient, session: Session
) -> None:
    users_before = len(session.exec(select(User)).all())
    response = client.post(
        "/api/users", content=b'\xff\xfe"', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    [problem] = response.json()["detail"]
    assert problem["loc"] == ["body"]
    assert "UTF-8" in problem["msg"]
    assert len(session.exec(select(User)).all()) == users_before


# Pydantic's lax mode took 0 for false and a bare number as seconds since 1970, where the
# schema documents a boolean and an ISO 8601 date-time.


def test_custom_field_required_must_be_a_boolean(client: TestClient) -> None:
    response = client.post(
        "/api/custom-fields",
        json={"choices": [], "field_type": "date", "key": "a", "label": "0", "required": 0},
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "required"]
    assert "a" not in [field["key"] for field in client.get("/api/custom-fields").json()]


@pytest.mark.parametrize("value", ["0.5", "1700000000", "-3"])
def test_audit_times_must_be_iso_8601(client: TestClient, value: str) -> None:
    response = client.get("/api/audit", params={"until": value})
    assert response.status_code == 422
    [problem] = response.json()["detail"]
    assert problem["loc"] == ["query", "until"]
    assert "ISO 8601" in problem["msg"]
    assert client.get("/api/audit", params={"until": "2026-01-01T00:00:00Z"}).status_code == 200


def test_user_flags_must_be_booleans(client: TestClient, session: Session) -> None:
    user = make_user(session, Role.regional_lead)
    session.flush()
    response = client.patch(f"/api/users/{user.id}", json={"is_active": 0})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "is_active"]
    session.refresh(user)
    assert user.is_active is True


def test_campaign_tracking_and_send_at_are_checked(client: TestClient, session: Session) -> None:
    alert = {
        "title": "Strict alert",
        "action_type": "contact_officials",
        "default_language": "en",
        "variants": [{"language": "en", "subject": "Act", "body": "Dear {{ contact.name }}"}],
    }
    response = client.post("/api/campaigns", json=alert | {"tracking": {"opens": 1}})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "tracking", "opens"]

    author = make_user(session, Role.secretariat)
    campaign = campaigns.create_campaign(
        session, accounts.principal_for(author), CampaignCreate.model_validate(alert)
    )
    lifecycle.approve(session, STAFF, campaign)
    session.flush()
    response = client.post(f"/api/campaigns/{campaign.id}/launch", json={"send_at": 1900000000})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "send_at"]
    session.refresh(campaign)
    assert campaign.status == "approved"
