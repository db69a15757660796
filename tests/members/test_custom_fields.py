"""Custom fields that admins define: validated on write, kept on the organisation."""

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from tests.factories import make_organization


@pytest.fixture
def fields(client: TestClient) -> None:
    for body in (
        {"key": "staff_count", "label": "Staff", "field_type": "number"},
        {"key": "registered_on", "label": "Registered", "field_type": "date"},
        {"key": "icc_liaison", "label": "ICC liaison", "field_type": "text"},
        {"key": "tier", "label": "Tier", "field_type": "choice", "choices": ["gold", "silver"]},
    ):
        assert client.post("/api/custom-fields", json=body).status_code == 201


def test_definitions_are_listed(client: TestClient, fields: None) -> None:
    keys = [d["key"] for d in client.get("/api/custom-fields").json()]
    assert keys == ["icc_liaison", "registered_on", "staff_count", "tier"]


def test_values_are_validated_and_stored(client: TestClient, fields: None) -> None:
    response = client.post(
        "/api/organizations",
        json={
            "name": "Custom",
            "country": "KEN",
            "custom_fields": {
                "staff_count": "12",
                "registered_on": "2001-02-03",
                "icc_liaison": " Ms Achieng ",
                "tier": "gold",
            },
        },
    )
    assert response.status_code == 201, response.text
    org = response.json()
    assert org["custom_fields"] == {
        "staff_count": 12,
        "registered_on": "2001-02-03",
        "icc_liaison": "Ms Achieng",
        "tier": "gold",
    }
    patched = client.patch(
        f"/api/organizations/{org['id']}",
        json={"custom_fields": {"tier": None, "staff_count": 2.5}},
    ).json()
    assert patched["custom_fields"] == {
        "staff_count": 2.5,
        "registered_on": "2001-02-03",
        "icc_liaison": "Ms Achieng",
    }


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"staff_count": "many"}, "custom_fields.staff_count"),
        ({"staff_count": True}, "custom_fields.staff_count"),
        ({"staff_count": "nan"}, "custom_fields.staff_count"),
        ({"registered_on": "03/02/2001"}, "custom_fields.registered_on"),
        ({"tier": "bronze"}, "custom_fields.tier"),
        ({"icc_liaison": 5}, "custom_fields.icc_liaison"),
        ({"unknown_key": "x"}, "custom_fields.unknown_key"),
    ],
)
def test_bad_values_are_422_and_change_nothing(
    client: TestClient, session: Session, fields: None, values: dict[str, Any], field: str
) -> None:
    org = make_organization(session, name="Unchanged", country="KEN")
    session.flush()
    response = client.patch(f"/api/organizations/{org.id}", json={"custom_fields": values})
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["body", field]
    assert client.get(f"/api/organizations/{org.id}").json()["custom_fields"] == {}


def test_required_field_is_enforced_on_write(client: TestClient) -> None:
    client.post(
        "/api/custom-fields",
        json={"key": "charter", "label": "Charter", "field_type": "text", "required": True},
    )
    missing = client.post("/api/organizations", json={"name": "No charter", "country": "KEN"})
    assert missing.status_code == 422
    assert missing.json()["detail"][0]["loc"] == ["body", "custom_fields.charter"]
    ok = client.post(
        "/api/organizations",
        json={"name": "Charter", "country": "KEN", "custom_fields": {"charter": "yes"}},
    )
    assert ok.status_code == 201


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"key": "Bad Key", "label": "x", "field_type": "text"}, 422, "key"),
        ({"key": "ok", "label": "x", "field_type": "colour"}, 422, "field_type"),
        ({"key": "ok", "label": "x", "field_type": "choice"}, 422, "choices"),
        ({"key": "ok", "label": "x", "field_type": "text", "choices": ["a"]}, 422, "choices"),
        (
            {"key": "ok", "label": "x", "field_type": "choice", "choices": ["a", "a"]},
            422,
            "choices",
        ),
        ({"key": "staff_count", "label": "again", "field_type": "number"}, 409, "key"),
    ],
)
def test_definition_errors(
    client: TestClient, fields: None, body: dict[str, Any], status: int, field: str
) -> None:
    response = client.post("/api/custom-fields", json=body)
    assert response.status_code == status, response.text
    assert field in response.json()["detail"][0]["loc"]


def test_deleting_a_definition_keeps_stored_values(client: TestClient, fields: None) -> None:
    org = client.post(
        "/api/organizations",
        json={"name": "Keeps", "country": "KEN", "custom_fields": {"tier": "gold"}},
    ).json()
    assert client.delete("/api/custom-fields/tier").status_code == 204
    assert client.delete("/api/custom-fields/tier").status_code == 404
    assert client.get(f"/api/organizations/{org['id']}").json()["custom_fields"] == {"tier": "gold"}
