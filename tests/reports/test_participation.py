"""GET /api/reports/participation against the hand counts of tests/reports/world.py."""

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.accounts import service as accounts
from app.accounts.principal import Role
from app.campaigns.models import CampaignStatus
from app.reports import service
from app.reports.schemas import GroupBy, ParticipationQuery
from app.tracking.models import ResponseKind
from tests.factories import make_user
from tests.reports.world import (
    AFRICA_LEAD,
    SECRETARIAT,
    ReportWorld,
    make_erased_delivery,
    make_event,
    make_sent_campaign,
)

COUNTS = (
    "recipients",
    "delivered",
    "bounced",
    "clicked",
    "acted",
    "unsubscribed",
    "organizations_reached",
    "organizations_acted",
)


def counts(figures: dict[str, Any]) -> tuple[int, ...]:
    return tuple(figures[name] for name in COUNTS)


def get(client: TestClient, path: str = "/api/reports/participation", **params: Any) -> Any:
    response = client.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


BY_REGION = {
    "africa": (5, 3, 3, 2, 1, 1, 2, 1),
    "americas": (1, 1, 0, 0, 0, 0, 1, 0),
    "europe": (2, 1, 0, 1, 1, 0, 1, 1),
}
TOTAL = (8, 5, 3, 3, 2, 1, 4, 2)


def test_figures_by_region_match_the_hand_counts(
    client: TestClient, report_world: ReportWorld
) -> None:
    report = get(client, campaign_id=report_world.campaign.id)
    assert report["group_by"] == "region"
    assert report["campaign_title"] == "Ratify APIC"
    # In the regions' own order (Africa, Americas, ..., Europe).
    assert [group["region"] for group in report["groups"]] == ["africa", "americas", "europe"]
    assert {group["region"]: counts(group) for group in report["groups"]} == BY_REGION
    assert report["groups"][0]["region_name"] == "Africa"
    assert counts(report["total"]) == TOTAL
    # The total is its own count, and here the groups add up to it.
    assert tuple(map(sum, zip(*BY_REGION.values(), strict=True))) == TOTAL


def test_rates_are_over_delivered_and_bounces_over_recipients(
    client: TestClient, report_world: ReportWorld
) -> None:
    report = get(client, campaign_id=report_world.campaign.id)
    total = report["total"]
    assert total["click_rate"] == pytest.approx(3 / 5)
    assert total["act_rate"] == pytest.approx(2 / 5)
    assert total["unsubscribe_rate"] == pytest.approx(1 / 5)
    assert total["bounce_rate"] == pytest.approx(3 / 8)
    assert total["organization_act_rate"] == pytest.approx(2 / 4)
    africa = report["groups"][0]
    assert africa["click_rate"] == pytest.approx(2 / 3)
    assert africa["act_rate"] == pytest.approx(1 / 3)
    assert africa["bounce_rate"] == pytest.approx(3 / 5)


def test_figures_by_country(client: TestClient, report_world: ReportWorld) -> None:
    report = get(client, campaign_id=report_world.campaign.id, group_by="country")
    rows = [(g["country"], g["country_name"], g["region"], counts(g)) for g in report["groups"]]
    assert rows == [
        ("KEN", "Kenya", "africa", (3, 2, 1, 1, 1, 0, 1, 1)),
        ("NGA", "Nigeria", "africa", (2, 1, 2, 1, 0, 1, 1, 0)),
        ("BRA", "Brazil", "americas", (1, 1, 0, 0, 0, 0, 1, 0)),
        ("FRA", "France", "europe", (2, 1, 0, 1, 1, 0, 1, 1)),
    ]
    assert counts(report["total"]) == TOTAL


def test_figures_by_organisation_count_an_organisation_once(
    client: TestClient, report_world: ReportWorld
) -> None:
    report = get(client, campaign_id=report_world.campaign.id, group_by="organization")
    rows = {g["organization_name"]: counts(g) for g in report["groups"]}
    assert rows == {
        # a1 reported two actions: one delivery acted, one organisation acted.
        "Haki Kenya": (2, 2, 0, 1, 1, 0, 1, 1),
        # b1 hard-bounced: a recipient, bounced, not delivered, so not reached.
        "Nairobi Legal Aid": (1, 0, 1, 0, 0, 0, 0, 0),
        # n1 failed, n2 soft-bounced yet delivered (and clicked twice: once).
        "Lagos Justice Forum": (2, 1, 2, 1, 0, 1, 1, 0),
        # r1's acted event came from a mail scanner.
        "Direitos Brasil": (1, 1, 0, 0, 0, 0, 1, 0),
        # f1 acted by an event without a report; f2 is still queued.
        "Ligue de Paris": (2, 1, 0, 1, 1, 0, 1, 1),
    }
    kenya = report["groups"][0]
    assert kenya["organization_id"] == report_world.organizations["kenya_a"].id
    assert (kenya["country"], kenya["region"]) == ("KEN", "africa")
    assert counts(report["total"]) == TOTAL


def test_two_contacts_acting_make_one_organisation(
    session: Session, report_world: ReportWorld
) -> None:
    """a2's scanner event does not count, a2's own action does: Haki Kenya then has two
    deliveries that acted and is still one organisation that acted."""
    make_event(session, report_world.deliveries["a2"], ResponseKind.acted)
    query = ParticipationQuery(
        campaign_id=report_world.campaign.id or 0, group_by=GroupBy.organization
    )
    report = service.participation(session, SECRETARIAT, query)
    kenya = next(g for g in report.groups if g.organization_name == "Haki Kenya")
    assert (kenya.acted, kenya.organizations_acted) == (2, 1)
    assert (report.total.acted, report.total.organizations_acted) == (3, 2)


def test_a_regional_lead_gets_her_region_only(client_as: Any, report_world: ReportWorld) -> None:
    lead = client_as(Role.regional_lead)  # of Africa
    campaign_id = report_world.campaign.id
    report = get(lead, campaign_id=campaign_id)
    assert [group["region"] for group in report["groups"]] == ["africa"]
    assert counts(report["total"]) == BY_REGION["africa"]
    by_organization = get(lead, campaign_id=campaign_id, group_by="organization")
    assert {g["organization_name"] for g in by_organization["groups"]} == {
        "Haki Kenya",
        "Nairobi Legal Aid",
        "Lagos Justice Forum",
    }
    # Naming another region narrows to nothing: no figures of Europe come back.
    europe = get(lead, campaign_id=campaign_id, region="europe")
    assert europe["groups"] == []
    assert counts(europe["total"]) == (0,) * 8
    assert europe["total"]["act_rate"] is None
    both = get(lead, campaign_id=campaign_id, region=["africa", "europe"])
    assert counts(both["total"]) == BY_REGION["africa"]


def test_the_secretariat_narrows_to_regions(client: TestClient, report_world: ReportWorld) -> None:
    report = get(client, campaign_id=report_world.campaign.id, region=["europe", "americas"])
    assert [group["region"] for group in report["groups"]] == ["americas", "europe"]
    assert counts(report["total"]) == (3, 2, 0, 1, 1, 0, 2, 1)
    assert report["region"] == ["europe", "americas"]


def test_other_alerts_do_not_leak_in(client: TestClient, report_world: ReportWorld) -> None:
    other = get(client, campaign_id=report_world.other_campaign.id)
    # a1 clicked and reported, r1 acted, f1 acted: three deliveries, all sent.
    assert counts(other["total"]) == (3, 3, 0, 1, 3, 0, 3, 3)


def test_an_alert_out_of_scope_or_unknown_is_404(
    session: Session, client_as: Any, client: TestClient, report_world: ReportWorld
) -> None:
    author = accounts.principal_for(make_user(session, Role.secretariat))
    europe_only = make_sent_campaign(session, author, regions=["europe"], title="Europe only")
    lead = client_as(Role.regional_lead)
    for path in ("/api/reports/participation", "/api/reports/participation.csv"):
        response = lead.get(path, params={"campaign_id": europe_only.id})
        assert response.status_code == 404, response.text
        assert response.json()["detail"][0]["loc"] == ["query", "campaign_id"]
        assert "Europe only" not in response.text
        assert client.get(path, params={"campaign_id": 2_000_000}).status_code == 404
    # The secretariat reads it (nobody was sent it in this test).
    assert get(client, campaign_id=europe_only.id)["total"]["recipients"] == 0


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "campaign_id"),
        ({"campaign_id": "abc"}, "campaign_id"),
        ({"campaign_id": "0"}, "campaign_id"),
        ({"campaign_id": str(2**31)}, "campaign_id"),
        ({"campaign_id": "1", "group_by": "planet"}, "group_by"),
        ({"campaign_id": "1", "region": "atlantis"}, "region"),
        ({"campaign_id": "1", "colour": "red"}, "colour"),
    ],
)
def test_bad_parameters_are_422_naming_the_field(
    client: TestClient, params: dict[str, str], field: str
) -> None:
    for path in ("/api/reports/participation", "/api/reports/participation.csv"):
        response = client.get(path, params=params)
        assert response.status_code == 422, response.text
        locations = [tuple(item["loc"][:2]) for item in response.json()["detail"]]
        assert ("query", field) in locations


def test_members_may_not_read_reports(client_as: Any, report_world: ReportWorld) -> None:
    member = client_as(Role.member)
    response = member.get(
        "/api/reports/participation", params={"campaign_id": report_world.campaign.id}
    )
    assert response.status_code == 403


def test_a_draft_has_no_figures(session: Session, client: TestClient) -> None:
    author = accounts.principal_for(make_user(session, Role.secretariat))
    draft = make_sent_campaign(session, author, regions=["africa"], title="Still a draft")
    draft.status, draft.launched_at = CampaignStatus.draft, None
    session.flush()
    report = get(client, campaign_id=draft.id)
    assert report["groups"] == []
    assert counts(report["total"]) == (0,) * 8
    assert report["total"]["click_rate"] is None


def test_a_delivery_whose_contact_was_erased_still_counts_for_the_secretariat(
    session: Session, client: TestClient, client_as: Any, report_world: ReportWorld
) -> None:
    make_erased_delivery(session, report_world.campaign)

    report = get(client, campaign_id=report_world.campaign.id)
    erased = report["groups"][-1]
    assert (erased["region"], erased["region_name"]) == (None, None)
    assert counts(erased) == (1, 1, 0, 1, 0, 0, 0, 0)
    assert counts(report["total"]) == (9, 6, 3, 4, 2, 1, 4, 2)
    # The lead's figures hold her region's members only.
    lead = client_as(Role.regional_lead)
    assert counts(get(lead, campaign_id=report_world.campaign.id)["total"]) == BY_REGION["africa"]


def test_the_service_scopes_like_the_api(session: Session, report_world: ReportWorld) -> None:
    query = ParticipationQuery(campaign_id=report_world.campaign.id or 0)
    report = service.participation(session, AFRICA_LEAD, query)
    assert [group.region for group in report.groups] == ["africa"]
    assert report.total.recipients == 5
