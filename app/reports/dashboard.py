"""The secretariat's dashboard: what is going out, what came back, and what in the
registry needs someone's attention.

Read-only, and scoped like every report: each query starts from app/accounts/scoping.py,
so the same functions give a regional lead her regions' figures and no others. The
lists are short (the newest or oldest few, with how many there are in all); the pages
they link to hold the rest.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import exists, func, or_, select
from sqlmodel import Session, col

from app.accounts.principal import Principal
from app.accounts.scoping import (
    visible_campaigns,
    visible_contacts,
    visible_deliveries,
    visible_organizations,
)
from app.campaigns.models import Campaign, CampaignStatus
from app.core.types import utcnow
from app.countries.models import Country
from app.delivery.models import Delivery
from app.members.models import BounceStatus, Contact, ContactRole, MembershipStatus, Organization
from app.tracking.models import ResponseEvent, ResponseKind

# Scheduled alerts this close to their sending time count as in flight.
SCHEDULED_SOON = timedelta(days=7)
# Response activity is counted over this many days, today included.
RECENT = timedelta(days=7)
IN_FLIGHT_LIMIT = 20


@dataclass(frozen=True)
class AlertsInFlight:
    going_out: list[Campaign]  # sending or paused, the earliest launched first
    scheduled: list[Campaign]  # due within SCHEDULED_SOON, the soonest first


def alerts_in_flight(
    session: Session, principal: Principal, *, now: datetime | None = None
) -> AlertsInFlight:
    """The alerts going out now, and those set to go out soon."""
    now = now or utcnow()
    going_out = visible_campaigns(principal).where(
        col(Campaign.status).in_([CampaignStatus.sending, CampaignStatus.paused])
    )
    scheduled = visible_campaigns(principal).where(
        col(Campaign.status) == CampaignStatus.scheduled,
        col(Campaign.send_at) < now + SCHEDULED_SOON,
    )
    return AlertsInFlight(
        going_out=list(
            session.scalars(
                going_out.order_by(col(Campaign.launched_at), col(Campaign.id)).limit(
                    IN_FLIGHT_LIMIT
                )
            )
        ),
        scheduled=list(
            session.scalars(
                scheduled.order_by(col(Campaign.send_at), col(Campaign.id)).limit(IN_FLIGHT_LIMIT)
            )
        ),
    )


@dataclass(frozen=True)
class ResponseActivity:
    """Responses to alerts over the last days, counted as events: two clicks by one
    person are two. Clicks and actions by mail scanners are left out, as in every
    figure of app/reports."""

    since: datetime
    clicked: int
    acted: int
    unsubscribed: int
    bounced_hard: int
    bounced_soft: int
    complained: int


def response_activity(
    session: Session, principal: Principal, *, now: datetime | None = None
) -> ResponseActivity:
    since = (now or utcnow()) - RECENT
    by_person = or_(
        col(ResponseEvent.kind).not_in([ResponseKind.clicked, ResponseKind.acted]),
        col(ResponseEvent.automated).is_(False),
    )
    counted = (
        visible_deliveries(principal)
        .with_only_columns(col(ResponseEvent.kind), func.count())
        .select_from(Delivery)
        .join(ResponseEvent, col(ResponseEvent.delivery_id) == col(Delivery.id))
        .where(col(ResponseEvent.occurred_at) >= since, by_person)
        .group_by(col(ResponseEvent.kind))
    )
    counts = {ResponseKind(kind): int(count) for kind, count in session.execute(counted).all()}
    return ResponseActivity(
        since=since,
        clicked=counts.get(ResponseKind.clicked, 0),
        acted=counts.get(ResponseKind.acted, 0),
        unsubscribed=counts.get(ResponseKind.unsubscribed, 0),
        bounced_hard=counts.get(ResponseKind.bounced_hard, 0),
        bounced_soft=counts.get(ResponseKind.bounced_soft, 0),
        complained=counts.get(ResponseKind.complained, 0),
    )


# --- registry health ------------------------------------------------------------------------


@dataclass(frozen=True)
class MemberWithoutContacts:
    id: int
    name: str
    country_name: str


@dataclass(frozen=True)
class BouncedFocalPoint:
    contact_id: int
    name: str
    email: str
    last_bounced_at: datetime | None
    organization_id: int
    organization_name: str


def members_without_contacts(
    session: Session, principal: Principal, *, limit: int = 10
) -> tuple[list[MemberWithoutContacts], int]:
    """Active members with no contact at all: no alert can reach them. The longest
    without first (oldest record), and how many there are."""
    has_contact = exists().where(col(Contact.organization_id) == col(Organization.id))
    members = visible_organizations(principal).where(
        col(Organization.membership_status) == MembershipStatus.active, ~has_contact
    )
    total = session.scalar(select(func.count()).select_from(members.subquery())) or 0
    rows = session.execute(
        members.join(Country, col(Country.iso3) == col(Organization.country_iso3))
        .with_only_columns(col(Organization.id), col(Organization.name), col(Country.name))
        .order_by(col(Organization.created_at), col(Organization.id))
        .limit(limit)
    ).all()
    return [
        MemberWithoutContacts(id=identifier, name=name, country_name=country)
        for identifier, name, country in rows
    ], total


def bounced_focal_points(
    session: Session, principal: Principal, *, limit: int = 10
) -> tuple[list[BouncedFocalPoint], int]:
    """Focal points of active members whose address bounced for good (alerts are no
    longer sent to it until it is corrected), the latest bounce first."""
    focal_points = (
        visible_contacts(principal)
        .join(Organization, col(Organization.id) == col(Contact.organization_id))
        .where(
            col(Contact.role) == ContactRole.focal_point,
            col(Contact.bounce_status) == BounceStatus.hard,
            col(Organization.membership_status) == MembershipStatus.active,
        )
    )
    total = session.scalar(select(func.count()).select_from(focal_points.subquery())) or 0
    rows = session.execute(
        focal_points.with_only_columns(
            col(Contact.id),
            col(Contact.name),
            col(Contact.email),
            col(Contact.last_bounced_at),
            col(Organization.id).label("organization_id"),
            col(Organization.name).label("organization_name"),
        )
        .order_by(col(Contact.last_bounced_at).desc().nulls_last(), col(Contact.id))
        .limit(limit)
    ).all()
    return [
        BouncedFocalPoint(
            contact_id=row.id,
            name=row.name,
            email=row.email,
            last_bounced_at=row.last_bounced_at,
            organization_id=row.organization_id,
            organization_name=row.organization_name,
        )
        for row in rows
    ], total
