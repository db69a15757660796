"""Input that used to reach the database and fail there: now a 422 naming the field."""

import base64
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from tests.factories import make_organization

HUGE = 99_999_999_999_999_999_999


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", f"/api/organizations/{HUGE}", None),
        ("patch", f"/api/organizations/{HUGE}", {"name": "x"}),
        ("delete", f"/api/organizations/{HUGE}", None),
        ("post", f"/api/organizations/{HUGE}/merge", {"into": 1}),
        ("get", f"/api/organizations/{HUGE}/contacts", None),
        ("get", f"/api/organizations/{HUGE}/history", None),
        ("get", f"/api/contacts/{HUGE}", None),
        ("patch", f"/api/contacts/{HUGE}", {"name": "x"}),
        ("delete", f"/api/contacts/{HUGE}", None),
        ("get", "/api/organizations/2147483648", None),
        ("get", "/api/organizations/0", None),
    ],
)
def test_ids_out_of_range_are_422(
    client: TestClient, method: str, path: str, body: dict[str, Any] | None
) -> None:
    kwargs = {"json": body} if body is not None else {}
    response = getattr(client, method)(path, **kwargs)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"][0] == "path"


def _cursor(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        _cursor(["a", HUGE]),
        _cursor(["a", 0]),
        _cursor(["\ud800", 1]),
        _cursor(["x" * 301, 1]),
        _cursor({"name": "a"}),
    ],
)
def test_tampered_cursors_are_422_in_api_and_pages(client: TestClient, cursor: str) -> None:
    response = client.get("/api/organizations", params={"cursor": cursor})
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["query", "cursor"]
    assert client.get("/members", params={"cursor": cursor}).status_code == 422


@pytest.mark.parametrize("moment", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_times_without_a_utc_equivalent_are_422(
    client: TestClient, session: Session, moment: str
) -> None:
    org = make_organization(session, name="Edge", country="KEN")
    session.flush()
    response = client.post(
        f"/api/organizations/{org.id}/contacts",
        json={"name": "T", "email": "t@example.org", "consent_at": moment},
    )
    assert response.status_code == 422
    assert "consent_at" in response.json()["detail"][0]["loc"]


def test_over_long_website_names_the_field(client: TestClient) -> None:
    response = client.post(
        "/api/organizations",
        json={"name": "Long", "country": "KEN", "website": "https://x.example.org/" + "a" * 500},
    )
    assert response.status_code == 422
    assert "website" in response.json()["detail"][0]["loc"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"key": "k", "label": "a\x00b", "field_type": "text"}, "label"),
        ({"key": "k", "label": "ok", "field_type": "choice", "choices": ["a\x00"]}, "choices"),
    ],
)
def test_custom_field_definition_text_is_checked(
    client: TestClient, body: dict[str, Any], field: str
) -> None:
    response = client.post("/api/custom-fields", json=body)
    assert response.status_code == 422
    assert field in response.json()["detail"][0]["loc"]


def test_errors_name_where_the_bad_value_was(client: TestClient) -> None:
    unknown_country = client.get("/api/organizations", params={"country": "XYZ"})
    assert unknown_country.json()["detail"][0]["loc"] == ["query", "country"]
    missing = client.get("/api/organizations/424242")
    assert missing.status_code == 404
    assert missing.json()["detail"][0]["loc"] == ["path"]
