"""Large alerts' figures counted ahead (app/reports/tallies.py): the report read from a
count says exactly what the live report said at that moment, for every grouping and
every reader, says when it was counted, and is counted again when it is due."""

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session, col, func, select

from app.campaigns.models import CampaignStatus
from app.core.settings import get_settings
from app.core.types import utcnow
from app.delivery.models import DeliveryState
from app.reports import service, tallies
from app.reports.models import ParticipationCount, ParticipationTally
from app.reports.schemas import GroupBy, ParticipationQuery, ParticipationReport
from app.tracking.models import ResponseKind
from tests.factories import make_contact, make_organization
from tests.reports.world import (
    AFRICA_LEAD,
    SECRETARIAT,
    ReportWorld,
    make_delivery,
    make_erased_delivery,
    make_event,
)
from workers.celery_app import create_celery_app


def figures(report: ParticipationReport) -> dict[str, Any]:
    """Everything but when and how it was counted."""
    return report.model_dump(exclude={"counted_at", "live"})


@pytest.fixture
def limit(monkeypatch: pytest.MonkeyPatch) -> Any:
    def set_limit(recipients: int) -> None:
        monkeypatch.setenv("REPORT_LIVE_LIMIT", str(recipients))
        get_settings.cache_clear()

    yield set_limit
    get_settings.cache_clear()


@pytest.mark.parametrize("group_by", list(GroupBy))
@pytest.mark.parametrize("principal", [SECRETARIAT, AFRICA_LEAD], ids=["secretariat", "lead"])
def test_a_counted_report_says_what_the_live_one_said(
    session: Session, report_world: ReportWorld, group_by: GroupBy, principal: Any
) -> None:
    # Erased contacts' deliveries count for the secretariat only: in the world too.
    make_erased_delivery(session, report_world.campaign)
    query = ParticipationQuery(campaign_id=report_world.campaign.id or 0, group_by=group_by)
    narrowed = query.model_copy(update={"region": ["africa", "europe"]})
    live = service.participation(session, principal, query)
    live_narrowed = service.participation(session, principal, narrowed)
    assert live.live

    tallies.count_campaign(session, report_world.campaign)
    counted = service.participation(session, principal, query)

    assert not counted.live
    assert figures(counted) == figures(live)
    assert figures(service.participation(session, principal, narrowed)) == figures(live_narrowed)


def test_the_count_is_what_the_report_shows_until_the_next_count(
    session: Session, report_world: ReportWorld
) -> None:
    campaign = report_world.campaign
    query = ParticipationQuery(campaign_id=campaign.id or 0)
    counted_at = utcnow() - timedelta(minutes=1)
    tallies.count_campaign(session, campaign, counted_at)
    before = service.participation(session, SECRETARIAT, query)
    assert before.counted_at == counted_at

    kenya = make_organization(session, name="Late Arrivals", country="KEN")
    make_event(
        session,
        make_delivery(session, campaign, make_contact(session, kenya), DeliveryState.sent),
        ResponseKind.clicked,
    )
    assert figures(service.participation(session, SECRETARIAT, query)) == figures(before)

    tallies.count_campaign(session, campaign)
    after = service.participation(session, SECRETARIAT, query)
    assert after.total.recipients == before.total.recipients + 1
    assert after.total.clicked == before.total.clicked + 1
    # The second count replaced the first: one row per organisation, not two.
    by_organization = query.model_copy(update={"group_by": GroupBy.organization})
    rows = session.scalar(
        select(func.count()).where(col(ParticipationTally.campaign_id) == campaign.id)
    )
    assert rows == len(service.participation(session, SECRETARIAT, by_organization).groups)


def test_a_small_alert_is_counted_live_and_a_large_one_by_the_workers(
    session: Session, report_world: ReportWorld, limit: Any
) -> None:
    campaign = report_world.campaign
    now = utcnow()
    assert not tallies.due(session, campaign, now)  # 8 recipients, under the limit
    limit(7)
    assert tallies.due(session, campaign, now)
    tallies.count_campaign(session, campaign, now)
    # Counted a moment ago: not again before REPORT_REFRESH_SECONDS.
    assert not tallies.due(session, campaign, now + timedelta(seconds=30))
    # A finished alert is counted again only when something happened since.
    later = now + timedelta(seconds=get_settings().report_refresh_seconds + 1)
    assert campaign.status is CampaignStatus.sent
    assert not tallies.due(session, campaign, later)
    make_event(session, report_world.deliveries["a1"], ResponseKind.clicked)
    assert tallies.due(session, campaign, later)
    # One still sending is counted at every turn.
    tallies.count_campaign(session, campaign, later)
    campaign.status = CampaignStatus.sending
    session.flush()
    assert tallies.due(session, campaign, later + timedelta(seconds=61))


def test_a_slow_count_waits_ten_times_as_long_before_the_next(
    session: Session, report_world: ReportWorld, limit: Any
) -> None:
    campaign = report_world.campaign
    campaign.status = CampaignStatus.sending
    now = utcnow()
    tallies.count_campaign(session, campaign, now)
    count = session.get_one(ParticipationCount, campaign.id)
    count.seconds = 30.0
    session.flush()
    assert not tallies.due(session, campaign, now + timedelta(seconds=299))
    assert tallies.due(session, campaign, now + timedelta(seconds=301))


def test_the_scheduler_counts_the_alerts_that_are_due(
    session: Session, report_world: ReportWorld, limit: Any
) -> None:
    session.commit()
    assert tallies.count_due() == []
    limit(7)
    assert tallies.count_due() == [report_world.campaign.id]
    assert tallies.count_due() == []  # counted, nothing happened since
    session.expire_all()
    count = session.get_one(ParticipationCount, report_world.campaign.id)
    assert count.recipients == 8
    schedule = create_celery_app().conf.beat_schedule
    assert schedule[tallies.COUNT_TASK]["schedule"] == get_settings().report_refresh_seconds


def test_a_count_under_way_is_not_started_twice(
    engine: Engine, session: Session, report_world: ReportWorld, limit: Any
) -> None:
    """Two counts at once would both insert their rows: twice the figures."""
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's advisory locks: SQLite writes one at a time anyway")
    session.commit()
    limit(7)
    with engine.connect() as other:
        other.execute(
            text("SELECT pg_advisory_xact_lock(:space, :campaign)"),
            {"space": tallies._LOCK_SPACE, "campaign": report_world.campaign.id},
        )
        assert tallies.count_due() == []
        other.rollback()
    assert tallies.count_due() == [report_world.campaign.id]
