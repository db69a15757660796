"""The region dashboard's figures: how one region's members answered the latest alerts,
whom to chase, which applications wait, and where the registry has gaps.

A view of one region is what the lead of that region would see: `region_view` narrows
the caller to that one region, and every figure then comes from the scoping and report
services unchanged (app/accounts/scoping.py, app/reports/service.py,
app/members/applications.py). The secretariat, or a lead of several regions, reads one
region at a time this way; a region outside the caller's scope is a 404.

Every list is a capped, set-based query plus a count: a region may hold a hundred
thousand organisations.
"""

from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import exists, func, select
from sqlmodel import Session, col
from sqlmodel.sql.expression import SelectOfScalar

from app.accounts.principal import Principal, Role
from app.accounts.scoping import visible_campaigns, visible_organizations, visible_regions
from app.campaigns.models import Campaign
from app.core.errors import NotFound
from app.countries.models import Country, Region
from app.members import applications
from app.members.applications import ApplicationView
from app.members.models import BounceStatus, Contact, ContactRole, MembershipStatus, Organization
from app.members.schemas import ApplicationState
from app.reports import service as reports
from app.reports.schemas import (
    GroupBy,
    NotActedPage,
    NotActedQuery,
    ParticipationQuery,
    ParticipationReport,
)

# The alerts shown, and those a member must have ignored to count as gone quiet.
LATEST_ALERTS = 3
# Rows per list on the dashboard; each says how many there are in all.
LIST_ROWS = 20


@dataclass(frozen=True)
class AlertParticipation:
    campaign: Campaign
    by_country: ParticipationReport


@dataclass(frozen=True)
class GapRow:
    organization_id: int
    name: str
    country_name: str
    # What the list counts for each organisation (contacts, bounced addresses), if any.
    count: int | None = None


@dataclass(frozen=True)
class GapList:
    rows: list[GapRow]
    total: int


@dataclass(frozen=True)
class RegionDashboard:
    region: Region
    member_count: int
    alerts: list[AlertParticipation]  # newest first
    not_acted: NotActedPage | None  # on the newest alert, if there is one
    applications: list[ApplicationView]
    applications_total: int
    country_names: dict[str, str]  # the region's countries, by ISO code
    no_focal_point: GapList  # with each organisation's number of contacts
    hard_bounced: GapList  # with each organisation's number of hard-bounced addresses
    quiet: GapList  # reached by the latest alerts, acted on none


def regions_in_view(session: Session, principal: Principal) -> list[Region]:
    """The regions the principal may open a dashboard for, in their usual order."""
    return list(session.scalars(visible_regions(principal).order_by(col(Region.position))))


def region_view(session: Session, principal: Principal, region: Region) -> Principal:
    """The principal narrowed to one region, as its lead: only ever narrower than the
    principal (a region she may not see is a 404), and only for reading, so the audit
    actor stays hers."""
    in_view = session.scalar(
        visible_regions(principal).where(col(Region.slug) == region.slug).exists().select()
    )
    if not in_view:
        raise NotFound(f"No region {region.slug!r} among yours", field="region", location="query")
    return replace(
        principal,
        role=Role.regional_lead,
        regions=frozenset({region.slug}),
        organization_id=None,
        is_admin=False,
        contact_id=None,
    )


def choose_region(regions: list[Region], slug: str | None) -> Region | None:
    """Among the regions in view (`regions_in_view`), the one asked for, or the first
    when none is named; None when there is none at all. A region out of view does not
    exist for the caller."""
    if slug is None:
        return regions[0] if regions else None
    # Compared here, not in SQL: a slug is whatever the visitor typed.
    chosen = next((region for region in regions if region.slug == slug), None)
    if chosen is None:
        raise NotFound(f"No region {slug!r} among yours", field="region", location="query")
    return chosen


def latest_alerts(session: Session, view: Principal) -> list[Campaign]:
    """The alerts most recently launched to the region, newest first."""
    return list(
        session.scalars(
            visible_campaigns(view)
            .where(col(Campaign.launched_at).is_not(None))
            .order_by(col(Campaign.launched_at).desc(), col(Campaign.id).desc())
            .limit(LATEST_ALERTS)
        )
    )


def _members(view: Principal) -> SelectOfScalar[Organization]:
    # Archived organisations are no longer members: their gaps are nobody's task.
    return visible_organizations(view).where(
        col(Organization.membership_status) != MembershipStatus.archived
    )


def _gap_list(
    session: Session, organizations: SelectOfScalar[Organization], count: Any = None
) -> GapList:
    """The first organisations of a gap by country and name, and how many there are.
    `count` is a column correlated to the organisation (computed for listed rows only)."""
    total = session.scalar(select(func.count()).select_from(organizations.subquery())) or 0
    columns = [col(Organization.id), col(Organization.name), col(Country.name)]
    rows = session.execute(
        organizations.join(Country, col(Country.iso3) == col(Organization.country_iso3))
        .with_only_columns(*columns, *([count] if count is not None else []))
        .order_by(col(Country.name), col(Organization.name), col(Organization.id))
        .limit(LIST_ROWS)
    ).all()
    return GapList(
        rows=[
            GapRow(
                organization_id=row[0],
                name=row[1],
                country_name=row[2],
                count=int(row[3]) if count is not None else None,
            )
            for row in rows
        ],
        total=total,
    )


def _contacts_where(*conditions: Any) -> Any:
    """How many of the organisation's contacts meet the conditions, per listed row."""
    return (
        select(func.count(col(Contact.id)))
        .where(col(Contact.organization_id) == col(Organization.id), *conditions)
        .correlate(Organization)
        .scalar_subquery()
    )


def no_focal_point(session: Session, view: Principal) -> GapList:
    has_focal_point = exists().where(
        col(Contact.organization_id) == col(Organization.id),
        col(Contact.role) == ContactRole.focal_point,
    )
    return _gap_list(session, _members(view).where(~has_focal_point), _contacts_where())


def hard_bounced(session: Session, view: Principal) -> GapList:
    bounced = col(Contact.bounce_status) == BounceStatus.hard
    has_bounced = exists().where(col(Contact.organization_id) == col(Organization.id), bounced)
    return _gap_list(session, _members(view).where(has_bounced), _contacts_where(bounced))


def region_dashboard(session: Session, principal: Principal, region: Region) -> RegionDashboard:
    """Everything the dashboard shows for one region the principal may see."""
    view = region_view(session, principal, region)
    alerts = latest_alerts(session, view)
    participation = [
        AlertParticipation(
            campaign=campaign,
            by_country=reports.participation(
                session,
                view,
                ParticipationQuery(campaign_id=campaign.id or 0, group_by=GroupBy.country),
            ),
        )
        for campaign in alerts
    ]
    not_acted = (
        reports.not_acted(
            session, view, NotActedQuery(campaign_id=alerts[0].id or 0, limit=LIST_ROWS)
        )
        if alerts
        else None
    )
    pending, pending_total = applications.list_applications(
        session, view, ApplicationState.pending, limit=LIST_ROWS
    )
    members = _members(view).subquery()
    member_count = session.scalar(select(func.count()).select_from(members)) or 0
    quiet = reports.quiet_organizations(view, [campaign.id or 0 for campaign in alerts])
    return RegionDashboard(
        region=region,
        member_count=member_count,
        alerts=participation,
        not_acted=not_acted,
        applications=pending,
        applications_total=pending_total,
        country_names=dict(
            session.execute(
                select(col(Country.iso3), col(Country.name)).where(
                    col(Country.region_slug) == region.slug
                )
            ).all()
        ),
        no_focal_point=no_focal_point(session, view),
        hard_bounced=hard_bounced(session, view),
        quiet=_gap_list(session, quiet),
    )
