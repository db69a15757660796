"""The report by organisation a page at a time (GET /api/reports/participation with
group_by=organization&limit=N): at 250,000 organisations the whole list is 100 MB of
JSON. Pages walk the same list in the same order, live or counted, and each carries
the total of the whole list."""

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.accounts.principal import Role
from app.reports import tallies
from tests.reports.world import ReportWorld, make_erased_delivery

PATH = "/api/reports/participation"


def get(client: TestClient, **params: Any) -> Any:
    response = client.get(PATH, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def walk(client: TestClient, campaign_id: int, limit: int, **params: Any) -> list[Any]:
    """Every page, following next_cursor; checks each page's total on the way."""
    whole = get(client, campaign_id=campaign_id, group_by="organization", **params)
    groups: list[Any] = []
    cursor = None
    while True:
        page = get(
            client,
            campaign_id=campaign_id,
            group_by="organization",
            limit=limit,
            **({"cursor": cursor} if cursor else {}),
            **params,
        )
        assert len(page["groups"]) <= limit + 1  # the erased contacts' row may join the last
        assert page["total"] == whole["total"]
        groups += page["groups"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert groups == whole["groups"]
    return groups


@pytest.fixture
def erased(session: Session, report_world: ReportWorld) -> None:
    """A delivery whose contact was erased: the secretariat's last row, no place."""
    make_erased_delivery(session, report_world.campaign)


@pytest.mark.parametrize("counted", [False, True], ids=["live", "counted"])
@pytest.mark.parametrize("limit", [1, 2, 5])
def test_pages_walk_the_whole_list_in_order(
    session: Session,
    client: TestClient,
    client_as: Any,
    report_world: ReportWorld,
    erased: None,
    counted: bool,
    limit: int,
) -> None:
    campaign_id = report_world.campaign.id or 0
    if counted:
        tallies.count_campaign(session, report_world.campaign)
    groups = walk(client, campaign_id, limit)
    assert [group["organization_name"] for group in groups] == [
        # Africa (Kenya, Nigeria), the Americas, Europe; the erased contacts' row last.
        "Haki Kenya",
        "Nairobi Legal Aid",
        "Lagos Justice Forum",
        "Direitos Brasil",
        "Ligue de Paris",
        None,
    ]
    lead = walk(client_as(Role.regional_lead), campaign_id, limit)
    assert {group["region"] for group in lead} == {"africa"}
    narrowed = walk(client, campaign_id, limit, region="europe")
    assert [group["organization_name"] for group in narrowed] == ["Ligue de Paris"]


def test_a_cursor_alone_pages_by_the_default_size(
    client: TestClient, report_world: ReportWorld
) -> None:
    first = get(client, campaign_id=report_world.campaign.id, group_by="organization", limit=2)
    rest = get(
        client,
        campaign_id=report_world.campaign.id,
        group_by="organization",
        cursor=first["next_cursor"],
    )
    assert [group["organization_name"] for group in rest["groups"]] == [
        "Lagos Justice Forum",
        "Direitos Brasil",
        "Ligue de Paris",
    ]
    assert rest["next_cursor"] is None


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"group_by": "region", "limit": 10}, "limit"),
        ({"group_by": "country", "cursor": "WzEsImEiLCJiIiwxXQ"}, "cursor"),
        ({"group_by": "organization", "limit": 0}, "limit"),
        ({"group_by": "organization", "limit": 5001}, "limit"),
        ({"group_by": "organization", "limit": 2, "cursor": "WyJhIiwiYiIsMV0"}, "cursor"),
        ({"group_by": "organization", "cursor": "not-base64!"}, "cursor"),
        ({"group_by": "organization", "cursor": "WzAsImEiLCJiIiwxXQ"}, "cursor"),
    ],
)
def test_bad_page_parameters_are_422_naming_the_field(
    client: TestClient, report_world: ReportWorld, params: dict[str, Any], field: str
) -> None:
    response = client.get(PATH, params={"campaign_id": report_world.campaign.id, **params})
    assert response.status_code == 422, response.text
    assert ["query", field] in [item["loc"][:2] for item in response.json()["detail"]]
