"""The results page's charts by country and over time, and the timeline behind them."""

import html
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session

from app.accounts import service as accounts
from app.accounts.principal import Role
from app.campaigns.models import Campaign
from app.members.models import Contact, Organization
from app.reports import service as reports
from app.reports.schemas import TimelineUnit
from app.tracking.models import ResponseKind
from tests.factories import make_contact, make_organization, make_user
from tests.reports.world import (
    AFRICA_LEAD,
    SECRETARIAT,
    ReportWorld,
    at,
    make_action_report,
    make_delivery,
    make_event,
    make_sent_campaign,
)

MARCH_10 = date(2026, 3, 10)


def chart_description(page: str, chart_id: str) -> str:
    found = re.search(rf'<desc id="{chart_id}-desc">(.*?)</desc>', page, re.S)
    assert found is not None, f"no {chart_id} chart"
    return html.unescape(found.group(1))


def timed_campaign(session: Session, launched_at: datetime) -> tuple[Campaign, dict[str, Any]]:
    """An alert launched at `launched_at` to a Kenyan and a French member."""
    author = accounts.principal_for(make_user(session, Role.secretariat))
    kenya = make_organization(session, name="Haki Kenya", country="KEN")
    france = make_organization(session, name="Ligue de Paris", country="FRA")
    people: dict[str, tuple[Organization, Contact]] = {
        "k1": (kenya, make_contact(session, kenya, name="Amina")),
        "k2": (kenya, make_contact(session, kenya, name="Brian")),
        "f1": (france, make_contact(session, france, name="Fanny")),
    }
    campaign = make_sent_campaign(session, author, regions=["africa", "europe"], title="Timed")
    campaign.launched_at = launched_at
    deliveries = {
        key: (organization, make_delivery(session, campaign, contact))
        for key, (organization, contact) in people.items()
    }
    session.flush()
    return campaign, deliveries


def test_first_answers_by_hour_over_the_first_two_days(session: Session) -> None:
    campaign, d = timed_campaign(session, at(MARCH_10, 8, 30))
    k1, k2, f1 = d["k1"][1], d["k2"][1], d["f1"][1]
    make_event(session, k1, ResponseKind.clicked, occurred_at=at(MARCH_10, 9, 10))
    make_event(session, k1, ResponseKind.clicked, occurred_at=at(MARCH_10, 9, 50))  # again
    make_event(session, k2, ResponseKind.clicked, occurred_at=at(MARCH_10, 10, 20))
    make_event(session, f1, ResponseKind.clicked, occurred_at=at(MARCH_10, 9, 1), automated=True)
    make_event(session, f1, ResponseKind.bounced_soft, occurred_at=at(MARCH_10, 9, 5))
    make_action_report(session, k1, d["k1"][0], reported_at=at(MARCH_10, 11, 5))
    make_action_report(session, k1, d["k1"][0], reported_at=at(MARCH_10, 12, 0))  # again
    make_action_report(session, f1, d["f1"][0], reported_at=at(MARCH_10, 11, 59, 59))
    session.flush()

    timeline = reports.response_timeline(session, SECRETARIAT, campaign.id or 0)
    assert timeline.unit is TimelineUnit.hour
    assert [(p.starts_at.hour, p.clicked, p.acted) for p in timeline.periods] == [
        (8, 0, 0),  # the launch: periods start there, even with nothing in them
        (9, 1, 0),
        (10, 1, 0),
        (11, 0, 2),  # k1's second report, at 12:00, is not counted: she had acted
    ]
    assert timeline.periods[0].starts_at == datetime(2026, 3, 10, 8, tzinfo=UTC)

    # A regional lead counts her region's people only.
    africa = reports.response_timeline(session, AFRICA_LEAD, campaign.id or 0)
    assert [(p.clicked, p.acted) for p in africa.periods] == [(0, 0), (1, 0), (1, 0), (0, 1)]


def test_longer_answers_by_day_then_by_week(session: Session) -> None:
    campaign, d = timed_campaign(session, at(MARCH_10, 23, 0))
    make_event(session, d["k1"][1], ResponseKind.clicked, occurred_at=at(date(2026, 3, 11), 1))
    make_action_report(session, d["k2"][1], d["k2"][0], reported_at=at(date(2026, 3, 14), 10))
    session.flush()
    timeline = reports.response_timeline(session, SECRETARIAT, campaign.id or 0)
    assert timeline.unit is TimelineUnit.day
    assert [(p.starts_at.day, p.clicked, p.acted) for p in timeline.periods] == [
        (10, 0, 0),
        (11, 1, 0),
        (12, 0, 0),
        (13, 0, 0),
        (14, 0, 1),
    ]

    late = at(MARCH_10, 23) + timedelta(days=70)  # Wednesday 19 May
    make_event(session, d["f1"][1], ResponseKind.acted, occurred_at=late)
    session.flush()
    weekly = reports.response_timeline(session, SECRETARIAT, campaign.id or 0)
    assert weekly.unit is TimelineUnit.week
    assert weekly.periods[0].starts_at == at(date(2026, 3, 9))  # the launch's Monday
    assert weekly.periods[-1].starts_at == at(date(2026, 5, 18))
    assert len(weekly.periods) == 11
    assert sum(p.acted for p in weekly.periods) == 2
    assert sum(p.clicked for p in weekly.periods) == 1


def test_an_alert_not_launched_has_no_timeline(session: Session) -> None:
    campaign, _ = timed_campaign(session, at(MARCH_10))
    campaign.launched_at = None
    session.flush()
    assert reports.response_timeline(session, SECRETARIAT, campaign.id or 0).periods == []


def test_the_results_page_charts_countries_and_time(
    session: Session, client: TestClient, report_world: ReportWorld
) -> None:
    page = client.get(f"/campaigns/{report_world.campaign.id}/results").text
    # Countries: most members acted first (then most reached, then by name).
    assert chart_description(page, "chart-countries") == (
        "Kenya: clicked 50%, acted 50%; France: clicked 100%, acted 100%; "
        "Brazil: clicked 0%, acted 0%; Nigeria: clicked 100%, acted 0%."
    )
    assert "the 4 where most members acted" in page
    # Over time: the hand-counted world answered from 2 March to today, so by week.
    acted = chart_description(page, "chart-acted-over-time")
    assert acted.startswith("2 Mar: 1 person; 9 Mar: 1 person; 16 Mar: 0 people")
    clicked = chart_description(page, "chart-clicked-over-time")
    assert clicked.endswith(": 3 people.")  # a1, n2 and f1 clicked this week
    assert "Actions reported, per week" in page
    table = re.search(r'<table class="data-table" data-testid="timeline">.*?</table>', page, re.S)
    assert table is not None
    assert '<th scope="row">Week of Mon 2 Mar 2026</th><td>0</td><td>1</td>' in table.group(0)


def test_the_region_lead_sees_her_countries_only(client_as: Any, report_world: ReportWorld) -> None:
    page = client_as(Role.regional_lead).get(f"/campaigns/{report_world.campaign.id}/results").text
    assert chart_description(page, "chart-countries") == (
        "Kenya: clicked 50%, acted 50%; Nigeria: clicked 100%, acted 0%."
    )
    assert chart_description(page, "chart-acted-over-time").count("1 person;") == 1


def test_no_answer_draws_no_time_chart(session: Session, client: TestClient) -> None:
    campaign, _ = timed_campaign(session, at(MARCH_10, 8))
    page = client.get(f"/campaigns/{campaign.id}/results").text
    assert 'id="chart-countries"' in page  # reached, nobody acted: still ranked
    assert "over-time" not in page
    assert 'data-testid="timeline"' not in page
