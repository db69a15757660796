"""Counting large alerts' participation ahead of the request (app/reports/models.py).

The workers' scheduler runs `count_due` every REPORT_REFRESH_SECONDS. It counts an
alert when it is large (more than REPORT_LIVE_LIMIT recipients), was launched within
REPORT_COUNT_DAYS (responses keep coming for weeks after the send), and either is
still sending or something happened since its last count. A count is one statement,
the live report's own rows per organisation written into `participation_tallies`,
replacing the alert's previous rows in the same transaction, so a report never reads
half a count. Counting an alert again waits at least ten times as long as its last
count took, so a million-delivery alert (about 7 s) costs a core at most a tenth of
the time.
"""

import logging
import time
from datetime import datetime, timedelta

from sqlalchemy import delete, func, insert, literal, select
from sqlmodel import Session, col

from app.accounts.principal import Principal, Role
from app.campaigns.models import Campaign, CampaignStatus
from app.core.db import refresh_planner_statistics, session_scope
from app.core.settings import get_settings
from app.core.types import utcnow
from app.delivery.models import Delivery
from app.reports.models import ParticipationCount, ParticipationTally
from app.reports.service import ORGANIZATION_ROW, organization_rows
from app.tracking.models import ActionReport, ResponseEvent

log = logging.getLogger(__name__)

COUNT_TASK = "reports.count_participation"
# The first key of PostgreSQL's two-key advisory locks taken here (the second is the
# campaign's id): a number of our own ("tally" on a phone keypad).
_LOCK_SPACE = 82559
# The refresher counts with the secretariat's scope: every delivery, erased contacts
# included; each report then keeps the organisations its reader may see.
_COUNTER = Principal(actor="worker:participation-tallies", role=Role.secretariat)
# A count waits at least this many times its last duration before the next one.
_COST_FACTOR = 10


def marker(session: Session, campaign: Campaign) -> str:
    """What had happened by now: the campaign's status and the newest response and
    action report anywhere (two primary-key lookups; a response to another alert moves
    it too, which costs at most an early count)."""
    newest_event = session.scalar(select(func.max(col(ResponseEvent.id))))
    newest_report = session.scalar(select(func.max(col(ActionReport.id))))
    return f"{campaign.status}:{newest_event or 0}:{newest_report or 0}"


def count_campaign(session: Session, campaign: Campaign, now: datetime | None = None) -> int:
    """Count the campaign's figures per organisation into its tallies, replacing the
    previous count; return how many recipients they cover. The caller commits."""
    assert campaign.id is not None
    started = time.perf_counter()
    current_marker = marker(session, campaign)
    rows = organization_rows(_COUNTER, campaign.id)
    session.execute(
        delete(ParticipationTally).where(col(ParticipationTally.campaign_id) == campaign.id)
    )
    session.execute(
        insert(ParticipationTally).from_select(
            ["campaign_id", *ORGANIZATION_ROW],
            select(literal(campaign.id), *(rows.c[name] for name in ORGANIZATION_ROW)),
        )
    )
    if session.get_bind().dialect.name == "postgresql":
        # Planned for an empty table, a report joined 250,000 rows one index probe at
        # a time (0.7 s instead of 0.1 s).
        refresh_planner_statistics(session, [ParticipationTally.__tablename__])
    recipients = int(
        session.scalar(
            select(func.coalesce(func.sum(col(ParticipationTally.recipients)), 0)).where(
                col(ParticipationTally.campaign_id) == campaign.id
            )
        )
        or 0
    )
    count = session.get(ParticipationCount, campaign.id) or ParticipationCount(
        campaign_id=campaign.id, counted_at=now or utcnow(), seconds=0, recipients=0, marker=""
    )
    count.counted_at = now or utcnow()
    count.seconds = time.perf_counter() - started
    count.recipients = recipients
    count.marker = current_marker
    session.add(count)
    session.flush()
    return recipients


def _large(session: Session, campaign_id: int, limit: int) -> bool:
    """More than `limit` deliveries (reads at most limit + 1 index entries)."""
    first_over = (
        select(col(Delivery.id))
        .where(col(Delivery.campaign_id) == campaign_id)
        .offset(limit)
        .limit(1)
    )
    return session.scalar(first_over) is not None


def due(session: Session, campaign: Campaign, now: datetime) -> bool:
    """Whether the campaign should be counted now."""
    assert campaign.id is not None
    settings = get_settings()
    count = session.get(ParticipationCount, campaign.id)
    if count is None:
        return _large(session, campaign.id, settings.report_live_limit)
    wait = max(settings.report_refresh_seconds, _COST_FACTOR * count.seconds)
    if now - count.counted_at < timedelta(seconds=wait):
        return False
    return campaign.status is CampaignStatus.sending or marker(session, campaign) != count.marker


def _counting_alone(session: Session, campaign_id: int) -> bool:
    """Take the campaign's counting lock for this transaction, or say another count is
    under way. Two counts at once would each delete the rows they see and both insert:
    twice the figures. (SQLite takes the database's write lock up front instead.)"""
    if session.get_bind().dialect.name != "postgresql":
        return True
    return bool(session.scalar(select(func.pg_try_advisory_xact_lock(_LOCK_SPACE, campaign_id))))


def count_due(now: datetime | None = None) -> list[int]:
    """Count every campaign that is due, each in its own transaction; return their ids."""
    now = now or utcnow()
    settings = get_settings()
    since = now - timedelta(days=settings.report_count_days)
    with session_scope(writes=False) as session:
        campaign_ids: list[int] = list(
            session.scalars(
                select(col(Campaign.id))
                .where(col(Campaign.launched_at) >= since)
                .order_by(col(Campaign.id))
            )
        )
    counted = []
    for campaign_id in campaign_ids:
        # Asked first without the write lock (SQLite takes it at BEGIN): most minutes
        # nothing is due.
        with session_scope(writes=False) as session:
            if not due(session, session.get_one(Campaign, campaign_id), now):
                continue
        with session_scope() as session:
            campaign = session.get_one(Campaign, campaign_id)
            if not _counting_alone(session, campaign_id) or not due(session, campaign, now):
                continue
            recipients = count_campaign(session, campaign, now)
        log.info("Counted participation in campaign %d: %d recipients", campaign_id, recipients)
        counted.append(campaign_id)
    return counted
