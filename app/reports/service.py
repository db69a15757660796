"""Participation figures, counted in the database and scoped to the caller.

Every query starts from a scoping function (app/accounts/scoping.py): the deliveries,
organisations or regions the principal may see. A regional lead who names another
region gets nothing back, never its figures; an alert she may not read is a 404.

What the figures mean, per delivery (one per recipient):

- delivered: sent (the relay said 250) and no hard bounce came back since;
- bounced: a hard or soft bounce came back, or sending failed for good. A soft bounce
  of a sent message leaves it delivered, so one delivery can be both;
- clicked, acted: a click, or an action reported, by a person: events that tracking
  marked `automated` (mail scanners following links) are left out. A delivery with an
  action report counts as acted even without its event;
- unsubscribed: the recipient unsubscribed through this alert;
- organisations: an organisation is reached when one of its contacts' messages was
  delivered, and has acted when any of its people reported an action (a report names
  the organisation; an `acted` event counts for the contact's organisation). Two
  reports, or two contacts acting, still make one organisation.
"""

import base64
import binascii
import json
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    Subquery,
    and_,
    case,
    exists,
    false,
    func,
    or_,
    select,
    tuple_,
    union,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import FunctionElement
from sqlmodel import Session, col
from sqlmodel.sql.expression import SelectOfScalar

from app.accounts.principal import Principal, Role
from app.accounts.scoping import (
    region_countries,
    visible_campaigns,
    visible_deliveries,
    visible_inbound_messages,
    visible_organizations,
    visible_regions,
)
from app.campaigns.models import Campaign
from app.core.errors import NotFound, ValidationFailed
from app.core.types import utcnow
from app.countries.models import Country, Region
from app.delivery.models import Delivery, DeliveryState
from app.inbound.models import InboundKind, InboundMessage
from app.members.models import Contact, MembershipStatus, Organization
from app.reports.models import ParticipationCount, ParticipationTally
from app.reports.schemas import (
    ActivityQuery,
    ActivityReport,
    ActivityWeek,
    CampaignReplies,
    CampaignReply,
    Figures,
    GroupBy,
    NotActedOrganization,
    NotActedPage,
    NotActedQuery,
    ParticipationGroup,
    ParticipationQuery,
    ParticipationReport,
    ReachedContact,
    ReportedAction,
    ResponseTimeline,
    TimelinePeriod,
    TimelineUnit,
)
from app.tracking.models import ActionReport, ResponseEvent, ResponseKind

# A query of any columns (the type checker cannot follow with_only_columns).
AnySelect = Select[*tuple[Any, ...]]

# The results page lists this many reported actions and replies, newest first.
PAGE_LIST_LIMIT = 200


def campaign_in_scope(
    session: Session, principal: Principal, campaign_id: int, *, location: str = "query"
) -> Campaign:
    campaign = session.scalars(
        visible_campaigns(principal).where(col(Campaign.id) == campaign_id)
    ).first()
    if campaign is None:
        raise NotFound(f"No campaign with id {campaign_id}", field="campaign_id", location=location)
    return campaign


# --- what each delivery did -----------------------------------------------------------------


def _responses(campaign_id: int) -> Subquery:
    """One row per delivery of the campaign that has any response: 1/0 flags."""
    kind = col(ResponseEvent.kind)
    by_person = col(ResponseEvent.automated).is_(False)

    def flag(condition: ColumnElement[bool], name: str) -> Any:
        return func.max(case((condition, 1), else_=0)).label(name)

    return (
        select(
            col(ResponseEvent.delivery_id).label("delivery_id"),
            flag(kind.in_([ResponseKind.bounced_hard, ResponseKind.bounced_soft]), "bounced"),
            flag(kind == ResponseKind.bounced_hard, "hard_bounced"),
            flag(and_(kind == ResponseKind.clicked, by_person), "clicked"),
            flag(and_(kind == ResponseKind.acted, by_person), "acted"),
            flag(kind == ResponseKind.unsubscribed, "unsubscribed"),
        )
        .where(col(ResponseEvent.campaign_id) == campaign_id)
        .group_by(col(ResponseEvent.delivery_id))
        .subquery("responses")
    )


def _reported_deliveries(campaign_id: int) -> Subquery:
    return (
        select(col(ActionReport.delivery_id).label("delivery_id"))
        .where(col(ActionReport.campaign_id) == campaign_id)
        .group_by(col(ActionReport.delivery_id))
        .subquery("reported")
    )


def _acted_organizations(campaign_id: int) -> Subquery:
    """Organisations that acted on the campaign: named by a report, or the organisation
    of a contact with an `acted` event from a person. UNION keeps each once."""
    reported: AnySelect = select(col(ActionReport.organization_id).label("organization_id")).where(
        col(ActionReport.campaign_id) == campaign_id
    )
    acted: AnySelect = (
        select(col(Contact.organization_id))
        .select_from(ResponseEvent)
        .join(Contact, col(Contact.id) == col(ResponseEvent.contact_id))
        .where(
            col(ResponseEvent.campaign_id) == campaign_id,
            col(ResponseEvent.kind) == ResponseKind.acted,
            col(ResponseEvent.automated).is_(False),
        )
    )
    return union(reported, acted).subquery("acted_organizations")


class _CampaignSources:
    """The subqueries a campaign's figures join onto its deliveries."""

    def __init__(self, campaign_id: int) -> None:
        self.responses = _responses(campaign_id)
        self.reported = _reported_deliveries(campaign_id)
        self.acted_organizations = _acted_organizations(campaign_id)

    def flag(self, name: str) -> ColumnElement[bool]:
        return func.coalesce(self.responses.c[name], 0) == 1

    @property
    def delivered(self) -> ColumnElement[bool]:
        return and_(
            col(Delivery.state) == DeliveryState.sent,
            func.coalesce(self.responses.c.hard_bounced, 0) == 0,
        )

    @property
    def bounced(self) -> ColumnElement[bool]:
        return or_(col(Delivery.state) == DeliveryState.failed, self.flag("bounced"))

    @property
    def acted(self) -> ColumnElement[bool]:
        return or_(self.flag("acted"), self.reported.c.delivery_id.is_not(None))

    def join_onto(self, query: AnySelect, *, reports: bool = True) -> AnySelect:
        """`query` selects from Delivery; add each delivery's responses."""
        query = query.outerjoin(self.responses, self.responses.c.delivery_id == col(Delivery.id))
        if reports:
            query = query.outerjoin(self.reported, self.reported.c.delivery_id == col(Delivery.id))
        return query


def _count_where(condition: ColumnElement[bool]) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


# --- participation ----------------------------------------------------------------------------

_MEASURES = (
    "recipients",
    "delivered",
    "bounced",
    "clicked",
    "acted",
    "unsubscribed",
    "organizations_reached",
    "organizations_acted",
)


def _figures(row: Any) -> dict[str, Any]:
    counts = {name: int(getattr(row, name) or 0) for name in _MEASURES}
    delivered = counts["delivered"]
    return {
        **counts,
        "click_rate": _rate(counts["clicked"], delivered),
        "act_rate": _rate(counts["acted"], delivered),
        "unsubscribe_rate": _rate(counts["unsubscribed"], delivered),
        "bounce_rate": _rate(counts["bounced"], counts["recipients"]),
        "organization_act_rate": _rate(
            counts["organizations_acted"], counts["organizations_reached"]
        ),
    }


def _group_columns(group_by: GroupBy) -> list[Any]:
    columns: list[Any] = [
        col(Country.region_slug).label("region"),
        col(Region.name).label("region_name"),
        col(Region.position).label("region_position"),
    ]
    if group_by is GroupBy.country:
        columns += [col(Country.iso3).label("country"), col(Country.name).label("country_name")]
    return columns


def organization_rows(principal: Principal, campaign_id: int) -> Subquery:
    """The campaign's figures per organisation, counted now: one row per organisation
    with deliveries in the principal's scope (and one, organization_id NULL, for the
    deliveries whose contact was erased: secretariat only).

    Aggregated in two steps: the deliveries per organisation (each delivery once, so
    plain sums), then each organisation's flags, reached and acted; so counting
    organisations is a sum too, where one step over the deliveries needed COUNT
    (DISTINCT …) sorts of a million rows. The refresher stores these very rows for
    large alerts (app/reports/tallies.py)."""
    sources = _CampaignSources(campaign_id)
    delivered = case((sources.delivered, 1), else_=0)
    per_delivery: list[Any] = [
        func.count(col(Delivery.id)).label("recipients"),
        func.sum(delivered).label("delivered"),
        _count_where(sources.bounced).label("bounced"),
        _count_where(sources.flag("clicked")).label("clicked"),
        _count_where(sources.acted).label("acted"),
        _count_where(sources.flag("unsubscribed")).label("unsubscribed"),
    ]
    # Outer join: a delivery whose contact was erased still counts (secretariat only:
    # for anyone else the scope itself asks for a contact she may see).
    deliveries = (
        sources.join_onto(
            visible_deliveries(principal)
            .with_only_columns(
                col(Contact.organization_id).label("organization_id"),
                *per_delivery,
                func.max(delivered).label("reached"),
            )
            .select_from(Delivery)
        )
        .outerjoin(Contact, col(Contact.id) == col(Delivery.contact_id))
        .where(col(Delivery.campaign_id) == campaign_id)
        .group_by(col(Contact.organization_id))
        .subquery("by_delivery")
    )
    organization = deliveries.c.organization_id
    acted = sources.acted_organizations
    return (
        select(
            organization.label("organization_id"),
            *_PLACE_COLUMNS,
            *(deliveries.c[name] for name in _MEASURES[:6]),
            case(
                (organization.is_not(None), func.coalesce(deliveries.c.reached, 0)), else_=0
            ).label("reached"),
            case((acted.c.organization_id.is_not(None), 1), else_=0).label("acted_organization"),
        )
        .outerjoin(Organization, col(Organization.id) == organization)
        .outerjoin(Country, col(Country.iso3) == col(Organization.country_iso3))
        .outerjoin(Region, col(Region.slug) == col(Country.region_slug))
        .outerjoin(acted, acted.c.organization_id == organization)
        .subquery("by_organization")
    )


def _tallied_rows(principal: Principal, campaign_id: int) -> Subquery:
    """The same rows as `organization_rows`, as the refresher last counted them, in the
    principal's scope."""
    rows = select(
        *(col(getattr(ParticipationTally, name)) for name in ORGANIZATION_ROW),
    ).where(col(ParticipationTally.campaign_id) == campaign_id)
    if principal.role is Role.regional_lead:
        # Her organisations are those in her region's countries: the rows carry the
        # country (as counted), so 250,000 rows need no look-up in the organisations.
        rows = rows.where(col(ParticipationTally.country_iso3).in_(region_countries(principal)))
    elif principal.role is not Role.secretariat:
        organization_ids = visible_organizations(principal).with_only_columns(col(Organization.id))
        rows = rows.where(col(ParticipationTally.organization_id).in_(organization_ids))
    return rows.subquery("by_organization")


def _per_country(by_organization: Subquery) -> Subquery:
    """The rows per organisation summed per country first. The rows carry their
    organisation's country, so by region or by country 250,000 rows fold into a couple
    of hundred in one hash aggregate, before any join (sorting them for the groups
    after the joins took 0.2 s)."""
    country = by_organization.c.country_iso3
    return (
        select(
            country.label("country_iso3"),
            *(func.sum(by_organization.c[name]).label(name) for name in _ROW_MEASURES),
        )
        .group_by(country)
        .subquery("by_country")
    )


# Where an organisation is, with the names a report shows: a row per organisation
# carries them, so that the report by organisation is read in order from the tallies'
# index, a page at a time, with no join.
_PLACE_COLUMNS: tuple[Any, ...] = (
    col(Country.region_slug).label("region"),
    col(Region.name).label("region_name"),
    col(Region.position).label("region_position"),
    col(Organization.country_iso3).label("country_iso3"),
    col(Country.name).label("country_name"),
    col(Organization.name).label("organization_name"),
)
_PLACES = tuple(column.name for column in _PLACE_COLUMNS)
# The columns of a row per organisation, live or tallied.
ORGANIZATION_ROW = ("organization_id", *_PLACES, *_MEASURES[:6], "reached", "acted_organization")
_ROW_MEASURES = (*_MEASURES[:6], "reached", "acted_organization")
# A report by organisation asked for with a cursor and no limit comes in pages of this.
ORGANIZATION_PAGE = 500


def participation(
    session: Session, principal: Principal, query: ParticipationQuery
) -> ParticipationReport:
    """The campaign's figures per region, country or organisation, and in total.

    The rows per organisation are counted now, or, for an alert large enough to have
    tallies, read from its last count (`counted_at` says which). By region or country
    they are summed per group; by organisation each is a group, the whole list or a
    page of it (`limit`, `cursor`). Each organisation (and the row of deliveries whose
    contact was erased) falls in exactly one group, so the total is the sum of the
    groups, added up here instead of by a second scan, unless the answer is a page."""
    campaign = campaign_in_scope(session, principal, query.campaign_id)
    count = session.get(ParticipationCount, query.campaign_id)
    if count is None:
        by_organization = organization_rows(principal, query.campaign_id)
    else:
        by_organization = _tallied_rows(principal, query.campaign_id)
    if query.group_by is GroupBy.organization:
        rows, total, next_cursor = _organization_groups(session, by_organization, query)
    else:
        rows = _place_groups(session, by_organization, query)
        total = _sums(rows)
        next_cursor = None
    return ParticipationReport(
        campaign_id=campaign.id or 0,
        campaign_title=campaign.title,
        group_by=query.group_by,
        region=query.region,
        counted_at=utcnow() if count is None else count.counted_at,
        live=count is None,
        groups=[
            ParticipationGroup(
                **_figures(row),
                **{
                    name: value
                    for name, value in row._mapping.items()
                    if name in ParticipationGroup.model_fields and name not in _MEASURES
                },
            )
            for row in rows
        ],
        total=Figures(**_figures(_Totals(total))),
        next_cursor=next_cursor,
    )


def _sums(rows: Sequence[Any]) -> dict[str, int]:
    return {name: sum(int(getattr(row, name) or 0) for row in rows) for name in _MEASURES}


def _summed(rows: Subquery) -> list[Any]:
    """The report's figures over rows per organisation (or per country): sums, the
    organisations reached and acted being their rows' flags summed."""
    return [
        *(func.sum(rows.c[name]).label(name) for name in _MEASURES[:6]),
        func.sum(rows.c.reached).label("organizations_reached"),
        func.sum(rows.c.acted_organization).label("organizations_acted"),
    ]


def _organization_measures(rows: Subquery) -> list[Any]:
    """A row per organisation read as a group: its own figures."""
    return [
        *(rows.c[name] for name in _MEASURES[:6]),
        rows.c.reached.label("organizations_reached"),
        rows.c.acted_organization.label("organizations_acted"),
    ]


def _place_groups(session: Session, by_organization: Subquery, query: ParticipationQuery) -> Any:
    """Per region or per country: the rows summed per country first, then per group."""
    by_country = _per_country(by_organization)
    groups = _group_columns(query.group_by)
    statement: AnySelect = (
        select(*groups, *_summed(by_country))
        .select_from(by_country)
        .outerjoin(Country, col(Country.iso3) == by_country.c.country_iso3)
        .outerjoin(Region, col(Region.slug) == col(Country.region_slug))
    )
    if query.region:
        statement = statement.where(col(Country.region_slug).in_(query.region))
    statement = statement.group_by(*groups).order_by(
        col(Region.position).nulls_last(),
        *([col(Country.name)] if query.group_by is GroupBy.country else []),
    )
    return session.execute(statement).all()


def _organization_groups(
    session: Session, by_organization: Subquery, query: ParticipationQuery
) -> tuple[Any, dict[str, int], str | None]:
    """Per organisation, in region, country and name order: every row, or a page of
    them after `query.cursor`, with the total of all rows and the next page's cursor.

    A page is read in the order of the tallies' index and stops at `limit` rows; the
    row of erased contacts' deliveries (no organisation, no place) comes last, on the
    last page."""
    rows = by_organization.c
    order = (rows.region_position, rows.country_name, rows.organization_name)
    statement: AnySelect = select(
        *(rows[name] for name in ("organization_id", *_PLACES) if name != "country_iso3"),
        rows.country_iso3.label("country"),
        *_organization_measures(by_organization),
    )
    if query.region:
        statement = statement.where(rows.region.in_(query.region))
    limit = query.limit or (ORGANIZATION_PAGE if query.cursor else None)
    if limit is None:
        found = session.execute(
            statement.order_by(rows.region_position.nulls_last(), *order[1:], rows.organization_id)
        ).all()
        return found, _sums(found), None
    placed = statement.where(rows.organization_id.is_not(None))
    if query.cursor:
        after = _decode_cursor(query.cursor, (int, str, str, int))
        placed = placed.where(tuple_(*order, rows.organization_id) > tuple_(*after))
    found = session.execute(placed.order_by(*order, rows.organization_id).limit(limit + 1)).all()
    page, more = list(found[:limit]), len(found) > limit
    if not more:
        page += session.execute(statement.where(rows.organization_id.is_(None))).all()
    next_cursor = None
    if more:
        last = page[-1]
        next_cursor = _encode_cursor(
            last.region_position, last.country_name, last.organization_name, last.organization_id
        )
    return page, _row_sums(session, by_organization, query), next_cursor


def _row_sums(
    session: Session, by_organization: Subquery, query: ParticipationQuery
) -> dict[str, int]:
    """The figures of every row in scope (a page's total is the whole list's)."""
    statement: AnySelect = select(*_summed(by_organization))
    if query.region:
        statement = statement.where(by_organization.c.region.in_(query.region))
    return _sums([session.execute(statement).one()])


class _Totals:
    """The groups' sums, read like a result row by `_figures`."""

    def __init__(self, counts: dict[str, int]) -> None:
        self.__dict__.update(counts)


# --- who has not acted ----------------------------------------------------------------------


def _encode_cursor(*values: str | int) -> str:
    """The sort key of a page's last row, for the next page to start after."""
    raw = json.dumps(list(values)).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str, shape: tuple[type, ...]) -> tuple[Any, ...]:
    """The sort key a cursor holds, each value of the type `shape` says, or a 422."""

    def fits(value: Any, kind: type) -> bool:
        if kind is str:
            # PostgreSQL refuses NUL in text: say which parameter is wrong instead.
            return isinstance(value, str) and "\x00" not in value
        return type(value) is int and 1 <= value <= 2_147_483_647

    try:
        value = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if (
            isinstance(value, list)
            and len(value) == len(shape)
            and all(fits(item, kind) for item, kind in zip(value, shape, strict=True))
        ):
            return tuple(value)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        pass
    raise ValidationFailed(
        "Malformed cursor: pass the next_cursor of the previous page unchanged",
        field="cursor",
        location="query",
    )


def _reached_organizations(campaign_id: int, sources: _CampaignSources) -> AnySelect:
    """Ids of the organisations that received the alert: a message delivered to one of
    their contacts."""
    return sources.join_onto(
        select(col(Contact.organization_id))
        .select_from(Delivery)
        .join(Contact, col(Contact.id) == col(Delivery.contact_id)),
        reports=False,
    ).where(col(Delivery.campaign_id) == campaign_id, sources.delivered)


def _not_acted_organizations(
    principal: Principal, campaign_id: int, regions: list[str], sources: _CampaignSources
) -> AnySelect:
    """Organisations in scope that received the alert and have not acted on it, in
    country then name order. Archived organisations are no longer members and are not
    chased."""
    reached = _reached_organizations(campaign_id, sources)
    acted = exists().where(sources.acted_organizations.c.organization_id == col(Organization.id))
    query: AnySelect = (
        visible_organizations(principal)
        .join(Country, col(Country.iso3) == col(Organization.country_iso3))
        .join(Region, col(Region.slug) == col(Country.region_slug))
        .with_only_columns(
            col(Organization.id),
            col(Organization.name),
            col(Organization.acronym),
            col(Country.iso3),
            col(Country.name).label("country_name"),
            col(Country.region_slug),
            col(Region.name).label("region_name"),
        )
        .where(
            col(Organization.id).in_(reached),
            ~acted,
            col(Organization.membership_status) != MembershipStatus.archived,
        )
    )
    if regions:
        query = query.where(col(Country.region_slug).in_(regions))
    return query


def not_acted(
    session: Session,
    principal: Principal,
    query: NotActedQuery,
    *,
    cursor: str | None = None,
) -> NotActedPage:
    """A page of the organisations to chase, each with its contacts the alert reached.
    `cursor` (else `query.cursor`) continues after the last organisation of a page."""
    campaign_in_scope(session, principal, query.campaign_id)
    cursor = cursor if cursor is not None else query.cursor
    sources = _CampaignSources(query.campaign_id)
    organizations = _not_acted_organizations(
        principal, query.campaign_id, list(query.region), sources
    )
    total = session.scalar(select(func.count()).select_from(organizations.subquery())) or 0
    order = (col(Country.name), col(Organization.name), col(Organization.id))
    if cursor:
        after = _decode_cursor(cursor, (str, str, int))
        organizations = organizations.where(tuple_(*order) > tuple_(*after))
    rows = session.execute(organizations.order_by(*order).limit(query.limit + 1)).all()
    page = rows[: query.limit]
    contacts = _reached_contacts(session, query.campaign_id, [row.id for row in page], sources)
    items = [
        NotActedOrganization(
            organization_id=row.id,
            name=row.name,
            acronym=row.acronym,
            country=row.iso3,
            country_name=row.country_name,
            region=row.region_slug,
            region_name=row.region_name,
            contacts=contacts.get(row.id, []),
        )
        for row in page
    ]
    next_cursor = None
    if len(rows) > query.limit and page:
        last = page[-1]
        next_cursor = _encode_cursor(last.country_name, last.name, last.id)
    return NotActedPage(
        campaign_id=query.campaign_id, items=items, next_cursor=next_cursor, total=total
    )


def quiet_organizations(
    principal: Principal, campaign_ids: Sequence[int]
) -> SelectOfScalar[Organization]:
    """Organisations in scope that received at least one of the alerts and acted on
    none of them: the members gone quiet. Reached and acted mean what they mean for
    `not_acted`, and archived organisations are left out the same way."""
    if not campaign_ids:
        return visible_organizations(principal).where(false())
    reached: list[AnySelect] = []
    acted: list[AnySelect] = []
    for campaign_id in campaign_ids:
        sources = _CampaignSources(campaign_id)
        reached.append(_reached_organizations(campaign_id, sources))
        acted.append(select(sources.acted_organizations.c.organization_id))
    acted_any = union(*acted).subquery("acted_any")
    return visible_organizations(principal).where(
        col(Organization.id).in_(union(*reached)),
        ~exists().where(acted_any.c.organization_id == col(Organization.id)),
        col(Organization.membership_status) != MembershipStatus.archived,
    )


def _reached_contacts(
    session: Session, campaign_id: int, organization_ids: list[int], sources: _CampaignSources
) -> dict[int, list[ReachedContact]]:
    if not organization_ids:
        return {}
    reached: AnySelect = select(
        col(Contact.id),
        col(Contact.organization_id),
        col(Contact.name),
        col(Contact.email),
        col(Contact.language),
        sources.flag("clicked").label("clicked"),
        sources.flag("unsubscribed").label("unsubscribed"),
    ).select_from(Delivery)
    reached = sources.join_onto(
        reached.join(Contact, col(Contact.id) == col(Delivery.contact_id)), reports=False
    )
    rows = session.execute(
        reached.where(
            col(Delivery.campaign_id) == campaign_id,
            sources.delivered,
            col(Contact.organization_id).in_(organization_ids),
        ).order_by(col(Contact.organization_id), col(Contact.id))
    ).all()
    contacts: dict[int, list[ReachedContact]] = {}
    for row in rows:
        contacts.setdefault(row.organization_id, []).append(
            ReachedContact(
                contact_id=row.id,
                name=row.name,
                email=row.email,
                language=row.language,
                clicked=bool(row.clicked),
                unsubscribed=bool(row.unsubscribed),
            )
        )
    return contacts


# --- activity over time -------------------------------------------------------------------------


class week_start(FunctionElement[Any]):
    """The Monday (UTC) of the ISO week a timestamp falls in."""

    inherit_cache = True
    name = "week_start"


@compiles(week_start, "postgresql")
def _week_start_postgresql(element: week_start, compiler: SQLCompiler, **kw: Any) -> str:
    moment = compiler.process(element.clauses, **kw)
    return f"CAST(date_trunc('week', ({moment}) AT TIME ZONE 'UTC') AS DATE)"


@compiles(week_start)
def _week_start_sqlite(element: week_start, compiler: SQLCompiler, **kw: Any) -> str:
    # Back six days, then forward to the next Monday: the Monday on or before the day.
    moment = compiler.process(element.clauses, **kw)
    return f"date({moment}, '-6 days', 'weekday 1')"


def _as_date(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def iso_week(monday: date) -> str:
    year, week, _ = monday.isocalendar()
    return f"{year}-W{week:02d}"


def activity(
    session: Session, principal: Principal, query: ActivityQuery, *, now: datetime | None = None
) -> ActivityReport:
    """Actions reported by people per ISO week and region, the last `weeks` weeks."""
    today = (now or utcnow()).astimezone(UTC).date()
    first_monday = today - timedelta(days=today.weekday()) - timedelta(weeks=query.weeks - 1)
    since = datetime(first_monday.year, first_monday.month, first_monday.day, tzinfo=UTC)
    regions_query = visible_regions(principal).order_by(col(Region.position))
    if query.region:
        regions_query = regions_query.where(col(Region.slug).in_(query.region))
    regions = [region.slug for region in session.scalars(regions_query)]

    week = week_start(col(ResponseEvent.occurred_at))
    counted = (
        visible_deliveries(principal)
        .with_only_columns(week.label("week"), col(Country.region_slug), func.count())
        .select_from(Delivery)
        .join(ResponseEvent, col(ResponseEvent.delivery_id) == col(Delivery.id))
        .outerjoin(Contact, col(Contact.id) == col(Delivery.contact_id))
        .outerjoin(Organization, col(Organization.id) == col(Contact.organization_id))
        .outerjoin(Country, col(Country.iso3) == col(Organization.country_iso3))
        .where(
            col(ResponseEvent.kind) == ResponseKind.acted,
            col(ResponseEvent.automated).is_(False),
            col(ResponseEvent.occurred_at) >= since,
        )
        .group_by(week, col(Country.region_slug))
    )
    if query.region:
        counted = counted.where(col(Country.region_slug).in_(query.region))
    by_week: dict[date, dict[str | None, int]] = {}
    for monday, region, count in session.execute(counted).all():
        by_week.setdefault(_as_date(monday), {})[region] = int(count)

    weeks = []
    for number in range(query.weeks):
        monday = first_monday + timedelta(weeks=number)
        counts = by_week.get(monday, {})
        weeks.append(
            ActivityWeek(
                week=iso_week(monday),
                starts_on=monday,
                actions=sum(counts.values()),
                by_region={slug: counts.get(slug, 0) for slug in regions},
            )
        )
    return ActivityReport(since=first_monday, regions=regions, weeks=weeks)


# --- what members reported and wrote back, for the results page --------------------------


def reported_actions(
    session: Session,
    principal: Principal,
    campaign_id: int | None,
    *,
    limit: int = PAGE_LIST_LIMIT,
) -> tuple[list[ReportedAction], int]:
    """The newest action reports of organisations in scope, and how many there are: on
    one alert, or (`campaign_id` None) on every alert the principal may read."""
    reports: AnySelect = (
        visible_organizations(principal)
        .with_only_columns(
            col(ActionReport.id),
            col(ActionReport.campaign_id),
            col(Campaign.title).label("campaign_title"),
            col(ActionReport.organization_id),
            col(Organization.name).label("organization_name"),
            col(Country.name).label("country_name"),
            col(Country.region_slug).label("region"),
            col(Contact.name).label("contact_name"),
            col(ActionReport.action_type),
            col(ActionReport.action_date),
            col(ActionReport.engaged_with),
            col(ActionReport.note),
            col(ActionReport.created_at).label("reported_at"),
        )
        .select_from(ActionReport)
        .join(Organization, col(Organization.id) == col(ActionReport.organization_id))
        .join(Country, col(Country.iso3) == col(Organization.country_iso3))
        .join(Campaign, col(Campaign.id) == col(ActionReport.campaign_id))
        .outerjoin(Contact, col(Contact.id) == col(ActionReport.contact_id))
    )
    if campaign_id is None:
        readable = visible_campaigns(principal).with_only_columns(col(Campaign.id))
        reports = reports.where(col(ActionReport.campaign_id).in_(readable))
    else:
        reports = reports.where(col(ActionReport.campaign_id) == campaign_id)
    total = session.scalar(select(func.count()).select_from(reports.subquery())) or 0
    rows = session.execute(
        reports.order_by(col(ActionReport.created_at).desc(), col(ActionReport.id).desc()).limit(
            limit
        )
    ).all()
    return [ReportedAction.model_validate(row._mapping) for row in rows], total


def campaign_replies(
    session: Session, principal: Principal, campaign_id: int, *, limit: int = PAGE_LIST_LIMIT
) -> CampaignReplies:
    """The newest replies people wrote to the alert that the principal may read (the
    scope of app/inbound: a regional lead reads her regions' contacts' replies), how
    many there are, and how many automatic ones (out of office) were left out."""
    replies: AnySelect = (
        visible_inbound_messages(principal)
        .with_only_columns(
            col(InboundMessage.id),
            col(InboundMessage.received_at),
            col(InboundMessage.from_address),
            col(InboundMessage.subject),
            col(InboundMessage.body_text),
            col(Contact.name).label("contact_name"),
            col(Organization.name).label("organization_name"),
        )
        .select_from(InboundMessage)
        .outerjoin(Contact, col(Contact.id) == col(InboundMessage.contact_id))
        .outerjoin(Organization, col(Organization.id) == col(Contact.organization_id))
        .where(
            col(InboundMessage.campaign_id) == campaign_id,
            col(InboundMessage.kind) == InboundKind.reply,
        )
    )
    counts = dict(
        session.execute(
            replies.with_only_columns(col(InboundMessage.automatic), func.count()).group_by(
                col(InboundMessage.automatic)
            )
        ).all()
    )
    rows = session.execute(
        replies.where(col(InboundMessage.automatic).is_(False))
        .order_by(col(InboundMessage.received_at).desc(), col(InboundMessage.id).desc())
        .limit(limit)
    ).all()
    return CampaignReplies(
        items=[CampaignReply.model_validate(row._mapping) for row in rows],
        total=counts.get(False, 0),
        automatic=counts.get(True, 0),
    )


# --- when people answered, for the results page -------------------------------------------


class hour_start(FunctionElement[Any]):
    """The hour (UTC) a timestamp falls in, as text: "2026-03-10 09:00"."""

    inherit_cache = True
    name = "hour_start"


@compiles(hour_start, "postgresql")
def _hour_start_postgresql(element: hour_start, compiler: SQLCompiler, **kw: Any) -> str:
    moment = compiler.process(element.clauses, **kw)
    return f"to_char(({moment}) AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:00')"


@compiles(hour_start)
def _hour_start_sqlite(element: hour_start, compiler: SQLCompiler, **kw: Any) -> str:
    moment = compiler.process(element.clauses, **kw)
    return f"strftime('%Y-%m-%d %H:00', {moment})"


# A timeline by hour covers two days at most, by day two months; longer, by week.
TIMELINE_UNITS = (
    (TimelineUnit.hour, timedelta(hours=1), timedelta(hours=48)),
    (TimelineUnit.day, timedelta(days=1), timedelta(days=61)),
)


def _timeline_unit(span: timedelta) -> tuple[TimelineUnit, timedelta]:
    for unit, step, longest in TIMELINE_UNITS:
        if span < longest:
            return unit, step
    return TimelineUnit.week, timedelta(weeks=1)


def _period_start(moment: datetime, unit: TimelineUnit) -> datetime:
    if unit is TimelineUnit.hour:
        return moment
    day = moment.replace(hour=0)
    return day if unit is TimelineUnit.day else day - timedelta(days=day.weekday())


def response_timeline(session: Session, principal: Principal, campaign_id: int) -> ResponseTimeline:
    """Each person's first click and first action on the alert, counted per hour in the
    database (a few hundred rows whatever the audience), then per period here."""
    campaign = campaign_in_scope(session, principal, campaign_id)
    firsts = (
        visible_deliveries(principal)
        .with_only_columns(
            col(ResponseEvent.kind).label("kind"),
            func.min(col(ResponseEvent.occurred_at)).label("first_at"),
        )
        .select_from(Delivery)
        .join(ResponseEvent, col(ResponseEvent.delivery_id) == col(Delivery.id))
        .where(
            col(ResponseEvent.campaign_id) == campaign_id,
            col(ResponseEvent.kind).in_([ResponseKind.clicked, ResponseKind.acted]),
            col(ResponseEvent.automated).is_(False),
        )
        .group_by(col(Delivery.id), col(ResponseEvent.kind))
        .subquery("firsts")
    )
    hour = hour_start(firsts.c.first_at)
    hours: dict[datetime, dict[str, int]] = {}
    for text, kind, count in session.execute(
        select(hour, firsts.c.kind, func.count()).group_by(hour, firsts.c.kind)
    ).all():
        moment = datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=UTC)
        hours.setdefault(moment, {})[str(kind)] = int(count)
    if campaign.launched_at is None and not hours:
        return ResponseTimeline(unit=TimelineUnit.hour, periods=[])
    moments = list(hours)
    if campaign.launched_at is not None:
        launched = campaign.launched_at.astimezone(UTC)
        moments.append(launched.replace(minute=0, second=0, microsecond=0))
    first, last = min(moments), max(moments)
    unit, step = _timeline_unit(last - first)
    periods: dict[datetime, TimelinePeriod] = {}
    moment = _period_start(first, unit)
    while moment <= last:
        periods[moment] = TimelinePeriod(starts_at=moment, clicked=0, acted=0)
        moment += step
    for moment, counts in hours.items():
        period = periods[_period_start(moment, unit)]
        period.clicked += counts.get(ResponseKind.clicked.value, 0)
        period.acted += counts.get(ResponseKind.acted.value, 0)
    return ResponseTimeline(unit=unit, periods=list(periods.values()))
