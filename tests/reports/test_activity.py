"""GET /api/reports/activity: actions people reported per ISO week and region."""

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.accounts.principal import Role
from app.reports import service
from app.reports.schemas import ActivityQuery
from app.tracking.models import ResponseKind
from tests.reports.world import AFRICA_LEAD, NOW, SECRETARIAT, ReportWorld, make_event


def non_zero(report: Any) -> dict[str, dict[str, int]]:
    return {
        week.week: {region: count for region, count in week.by_region.items() if count}
        for week in report.weeks
        if week.actions
    }


def test_actions_per_iso_week_and_region(session: Session, report_world: ReportWorld) -> None:
    report = service.activity(session, SECRETARIAT, ActivityQuery(), now=NOW)
    # Thursday 12 March 2026 is in 2026-W11; twelve weeks back starts on Monday 22 Dec.
    assert report.since == date(2025, 12, 22)
    assert len(report.weeks) == 12
    assert report.weeks[0].week == "2025-W52"
    assert report.weeks[1].week == "2026-W01"  # starts Monday 29 December 2025
    assert report.weeks[-1].week == "2026-W11"
    assert report.weeks[-1].starts_on == date(2026, 3, 9)
    assert report.regions == ["africa", "americas", "asia-pacific", "europe", "mena"]
    # Scanners' acted events (a2, r1) and the one before the window (f1) are left out;
    # events at a week's first and last second fall in that week.
    assert non_zero(report) == {
        "2025-W52": {"africa": 1},
        "2026-W09": {"americas": 1},
        "2026-W10": {"europe": 1},
        "2026-W11": {"africa": 2},
    }
    assert sum(week.actions for week in report.weeks) == 5
    assert set(report.weeks[3].by_region.values()) == {0}


def test_a_regional_lead_sees_her_regions_weeks(
    session: Session, report_world: ReportWorld
) -> None:
    report = service.activity(session, AFRICA_LEAD, ActivityQuery(), now=NOW)
    assert report.regions == ["africa"]
    assert non_zero(report) == {"2025-W52": {"africa": 1}, "2026-W11": {"africa": 2}}
    # Another region narrows to nothing.
    europe = service.activity(session, AFRICA_LEAD, ActivityQuery(region=["europe"]), now=NOW)
    assert europe.regions == []
    assert sum(week.actions for week in europe.weeks) == 0


def test_fewer_weeks_and_one_region(session: Session, report_world: ReportWorld) -> None:
    query = ActivityQuery(weeks=2, region=["europe", "africa"])
    report = service.activity(session, SECRETARIAT, query, now=NOW)
    assert [week.week for week in report.weeks] == ["2026-W10", "2026-W11"]
    assert report.regions == ["africa", "europe"]
    assert non_zero(report) == {"2026-W10": {"europe": 1}, "2026-W11": {"africa": 2}}


def test_the_api_counts_this_week(
    session: Session, client: TestClient, client_as: Any, report_world: ReportWorld
) -> None:
    now = datetime.now(UTC)
    make_event(session, report_world.deliveries["f1"], ResponseKind.acted, occurred_at=now)
    make_event(session, report_world.deliveries["n2"], ResponseKind.acted, occurred_at=now)
    session.flush()
    response = client.get("/api/reports/activity", params={"weeks": 1})
    assert response.status_code == 200, response.text
    (week,) = response.json()["weeks"]
    monday = now.date() - timedelta(days=now.weekday())
    assert week["starts_on"] == monday.isoformat()
    assert week["actions"] == 2
    assert week["by_region"] == {
        "africa": 1,
        "americas": 0,
        "asia-pacific": 0,
        "europe": 1,
        "mena": 0,
    }
    lead = client_as(Role.regional_lead)
    lead_week = lead.get("/api/reports/activity", params={"weeks": 1}).json()["weeks"][0]
    assert lead_week["by_region"] == {"africa": 1}
    assert lead_week["actions"] == 1


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"weeks": "0"}, "weeks"),
        ({"weeks": "105"}, "weeks"),
        ({"weeks": "twelve"}, "weeks"),
        ({"region": "narnia"}, "region"),
        ({"campaign_id": "1"}, "campaign_id"),
    ],
)
def test_bad_parameters_are_422_naming_the_field(
    client: TestClient, params: dict[str, str], field: str
) -> None:
    response = client.get("/api/reports/activity", params=params)
    assert response.status_code == 422, response.text
    assert ["query", field] in [item["loc"][:2] for item in response.json()["detail"]]


def test_members_may_not_read_activity(client_as: Any) -> None:
    assert client_as(Role.member).get("/api/reports/activity").status_code == 403
