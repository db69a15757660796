"""GET /api/reports/not-acted: the organisations to chase, against tests/reports/world.py."""

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.accounts.principal import Role
from app.members.models import MembershipStatus
from app.tracking.models import ResponseKind
from tests.factories import make_contact, make_organization
from tests.reports.world import ReportWorld, make_action_report, make_delivery, make_event


def page(client: TestClient, **params: Any) -> Any:
    response = client.get("/api/reports/not-acted", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_organisations_that_received_it_and_have_not_acted(
    client: TestClient, report_world: ReportWorld
) -> None:
    result = page(client, campaign_id=report_world.campaign.id)
    assert result["total"] == 2
    assert result["next_cursor"] is None
    brazil, nigeria = result["items"]
    # By country name: Brazil, then Nigeria.
    assert (brazil["name"], brazil["country"], brazil["region"]) == (
        "Direitos Brasil",
        "BRA",
        "americas",
    )
    assert (nigeria["name"], nigeria["country_name"], nigeria["region_name"]) == (
        "Lagos Justice Forum",
        "Nigeria",
        "Africa",
    )
    # Only the contacts it reached: n1's message failed.
    assert nigeria["contacts"] == [
        {
            "contact_id": report_world.contacts["n2"].id,
            "name": "Nnamdi Okafor",
            "email": "n2@nigeria.example.org",
            "language": "en",
            "clicked": True,
            "unsubscribed": True,
        }
    ]
    assert [c["name"] for c in brazil["contacts"]] == ["Rafael Souza"]
    assert brazil["contacts"][0]["clicked"] is False
    # Not listed: Haki Kenya and Ligue de Paris acted; nothing reached Nairobi Legal Aid.
    names = {item["name"] for item in result["items"]}
    assert names.isdisjoint({"Haki Kenya", "Ligue de Paris", "Nairobi Legal Aid"})


def test_an_action_takes_an_organisation_off_the_list(
    session: Session, client: TestClient, report_world: ReportWorld
) -> None:
    """A report names the organisation: it is off the list even when filed through a
    colleague's delivery, and a scanner's acted event changes nothing."""
    make_event(session, report_world.deliveries["r1"], ResponseKind.acted, automated=True)
    make_action_report(
        session, report_world.deliveries["n2"], report_world.organizations["nigeria"]
    )
    session.flush()
    result = page(client, campaign_id=report_world.campaign.id)
    assert [item["name"] for item in result["items"]] == ["Direitos Brasil"]
    assert result["total"] == 1


def test_pages_follow_one_another_without_repeats(
    session: Session, client: TestClient, report_world: ReportWorld
) -> None:
    for name in ("Accra Rights Watch", "Abuja Legal Aid"):
        organization = make_organization(session, name=name, country="NGA")
        make_delivery(session, report_world.campaign, make_contact(session, organization))
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        params: dict[str, Any] = {"campaign_id": report_world.campaign.id, "limit": 1}
        if cursor:
            params["cursor"] = cursor
        result = page(client, **params)
        assert result["total"] == 4
        seen += [item["name"] for item in result["items"]]
        cursor = result["next_cursor"]
        if cursor is None:
            break
    assert seen == [
        "Direitos Brasil",
        "Abuja Legal Aid",
        "Accra Rights Watch",
        "Lagos Justice Forum",
    ]


def test_a_regional_lead_chases_her_region_only(client_as: Any, report_world: ReportWorld) -> None:
    lead = client_as(Role.regional_lead)
    result = page(lead, campaign_id=report_world.campaign.id)
    assert [item["name"] for item in result["items"]] == ["Lagos Justice Forum"]
    assert result["total"] == 1
    assert page(lead, campaign_id=report_world.campaign.id, region="americas") == {
        "campaign_id": report_world.campaign.id,
        "items": [],
        "next_cursor": None,
        "total": 0,
    }


def test_archived_organisations_are_not_chased(
    session: Session, client: TestClient, report_world: ReportWorld
) -> None:
    report_world.organizations["brazil"].membership_status = MembershipStatus.archived
    session.flush()
    result = page(client, campaign_id=report_world.campaign.id)
    assert [item["name"] for item in result["items"]] == ["Lagos Justice Forum"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "campaign_id"),
        ({"campaign_id": "1", "limit": "0"}, "limit"),
        ({"campaign_id": "1", "limit": "501"}, "limit"),
        ({"campaign_id": "1", "cursor": "x" * 401}, "cursor"),
        ({"campaign_id": "1", "group_by": "region"}, "group_by"),
    ],
)
def test_bad_parameters_are_422_naming_the_field(
    client: TestClient, params: dict[str, str], field: str
) -> None:
    response = client.get("/api/reports/not-acted", params=params)
    assert response.status_code == 422, response.text
    assert ["query", field] in [item["loc"][:2] for item in response.json()["detail"]]


@pytest.mark.parametrize(
    "cursor",
    [
        "not-base64!",
        "bm90IGpzb24",  # not JSON
        "WzEsMiwzXQ",  # [1,2,3]
        "WyJhIiwgImIiLCAwXQ",  # ["a", "b", 0]
        "WyJhIiwgImIiXQ",  # ["a", "b"]
        "WyJcdTAwMDAiLCJhIiwxXQ",  # a NUL in a name
        "\x00",
    ],
)
def test_a_malformed_cursor_is_422_not_500(
    client: TestClient, report_world: ReportWorld, cursor: str
) -> None:
    response = client.get(
        "/api/reports/not-acted",
        params={"campaign_id": report_world.campaign.id, "cursor": cursor},
    )
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["query", "cursor"]
