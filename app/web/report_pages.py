"""The results page of an action alert: who received it, clicked, acted, has not acted
and wrote back, as figures, charts and lists.

A thin handler over app/reports, which scopes every figure: a regional lead sees her
regions' members only, and an alert she may not read does not exist for her (404).
"""

import re
from datetime import timedelta
from urllib.parse import urlencode

from babel.dates import format_timedelta
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup

from app.accounts.auth import StaffUser
from app.accounts.principal import Role
from app.core.errors import NotFound
from app.core.http import SessionDep
from app.core.settings import get_settings
from app.reports import service as reports
from app.reports.charts import (
    Column,
    FunnelStep,
    Series,
    column_chart,
    funnel_chart,
    grouped_bar_chart,
)
from app.reports.schemas import (
    Figures,
    GroupBy,
    NotActedQuery,
    ParticipationGroup,
    ParticipationQuery,
    ResponseTimeline,
    TimelinePeriod,
    TimelineUnit,
)
from app.web.router import not_found_page
from app.web.templating import label, templates

router = APIRouter(include_in_schema=False)

_MAX_ID = 2**31 - 1
# Organisations listed on the page; the CSV holds them all.
NOT_ACTED_SHOWN = 100
ERASED = "Contact erased"
# Countries drawn in the chart (the table below it lists them all).
TOP_COUNTRIES = 10
UNIT_WORDS = {TimelineUnit.hour: "hour", TimelineUnit.day: "day", TimelineUnit.week: "week"}


def _parse_id(text: str) -> int | None:
    if not re.fullmatch(r"[0-9]{1,10}", text):
        return None
    return int(text) if 0 < int(text) <= _MAX_ID else None


def percent(rate: float | None) -> str:
    """A rate as people read it: "67%", or a dash when there was nothing to divide."""
    return "—" if rate is None else f"{rate * 100:.0f}%"


def _group_name(group: ParticipationGroup) -> str:
    return group.country_name or group.region_name or ERASED


def _top_countries(groups: list[ParticipationGroup]) -> list[ParticipationGroup]:
    """The countries with the most members who acted (then the most reached)."""
    reached = [group for group in groups if group.delivered]
    return sorted(reached, key=lambda group: (-group.acted, -group.delivered, _group_name(group)))[
        :TOP_COUNTRIES
    ]


def period_name(period: TimelinePeriod, unit: TimelineUnit) -> str:
    """A period in full, for the table under the charts: "Tue 10 Mar 2026, 09:00"."""
    moment = period.starts_at
    day = f"{moment:%a} {moment.day} {moment:%b %Y}"
    if unit is TimelineUnit.hour:
        return f"{day}, {moment:%H:%M}"
    return f"Week of {day}" if unit is TimelineUnit.week else day


def _column_name(period: TimelinePeriod, unit: TimelineUnit) -> str:
    """A period under its column, short: "09:00", or "10 Mar"."""
    moment = period.starts_at
    return f"{moment:%H:%M}" if unit is TimelineUnit.hour else f"{moment.day} {moment:%b}"


def _timeline_charts(timeline: ResponseTimeline) -> dict[str, Markup]:
    unit = UNIT_WORDS[timeline.unit]
    charts: dict[str, Markup] = {}
    for measure, words in (("acted", "reported an action"), ("clicked", "clicked a link")):
        counts = [getattr(period, measure) for period in timeline.periods]
        if any(counts):
            charts[f"{measure}_over_time"] = column_chart(
                f"chart-{measure}-over-time",
                f"People who first {words}, per {unit} (UTC)",
                [
                    Column(_column_name(period, timeline.unit), count)
                    for period, count in zip(timeline.periods, counts, strict=True)
                ],
                unit=("person", "people"),
            )
    return charts


def _funnel(total: Figures) -> list[FunnelStep]:
    return [
        FunnelStep("Delivered", total.delivered),
        FunnelStep("Clicked a link", total.clicked),
        FunnelStep("Reported an action", total.acted),
    ]


@router.get("/campaigns/{campaign_id}/results", response_class=HTMLResponse)
def results_page(
    request: Request, session: SessionDep, principal: StaffUser, campaign_id: str
) -> Response:
    identifier = _parse_id(campaign_id)
    if identifier is None:
        return not_found_page(request, f"There is no action alert with id {campaign_id!r}.")
    try:
        campaign = reports.campaign_in_scope(session, principal, identifier, location="path")
    except NotFound:
        return not_found_page(request, f"There is no action alert with id {identifier}.")

    by_region = reports.participation(
        session, principal, ParticipationQuery(campaign_id=identifier, group_by=GroupBy.region)
    )
    by_country = reports.participation(
        session, principal, ParticipationQuery(campaign_id=identifier, group_by=GroupBy.country)
    )
    not_acted = reports.not_acted(
        session, principal, NotActedQuery(campaign_id=identifier, limit=NOT_ACTED_SHOWN)
    )
    actions, actions_total = reports.reported_actions(session, principal, identifier)
    replies = reports.campaign_replies(session, principal, identifier)
    timeline = reports.response_timeline(session, principal, identifier)

    total = by_region.total
    charts = {}
    if total.recipients:
        charts["funnel"] = funnel_chart("chart-funnel", "From delivered to acted", _funnel(total))
    if by_region.groups:
        charts["regions"] = grouped_bar_chart(
            "chart-regions",
            "Clicks and actions per region, as a share of messages delivered",
            [_group_name(group) for group in by_region.groups],
            [
                Series("Clicked", [group.click_rate for group in by_region.groups]),
                Series("Acted", [group.act_rate for group in by_region.groups]),
            ],
        )
    if top_countries := _top_countries(by_country.groups):
        charts["countries"] = grouped_bar_chart(
            "chart-countries",
            "Clicks and actions in the countries where most members acted, as a share of "
            "messages delivered",
            [_group_name(group) for group in top_countries],
            [
                Series("Clicked", [group.click_rate for group in top_countries]),
                Series("Acted", [group.act_rate for group in top_countries]),
            ],
        )
    charts.update(_timeline_charts(timeline))

    def export(path: str, **params: str) -> str:
        return f"/api/reports/{path}?" + urlencode({"campaign_id": identifier, **params})

    context = {
        "section": "campaigns",
        "campaign": campaign,
        "launched": campaign.launched_at is not None,
        "is_lead": principal.role is Role.regional_lead,
        "lead_regions": sorted(label(region) for region in principal.regions),
        "total": total,
        "counted": {
            "live": by_region.live,
            "counted_at": by_region.counted_at,
            "every": format_timedelta(
                timedelta(seconds=get_settings().report_refresh_seconds), locale="en"
            ),
        },
        "by_region": by_region.groups,
        "by_country": by_country.groups,
        "group_name": _group_name,
        "charts": charts,
        "top_countries": len(top_countries),
        "timeline": timeline,
        "unit_word": UNIT_WORDS[timeline.unit],
        "period_name": period_name,
        "actions": actions,
        "actions_total": actions_total,
        "not_acted": not_acted,
        "replies": replies,
        "percent": percent,
        "exports": {
            "by_region": export("participation.csv", group_by="region"),
            "by_country": export("participation.csv", group_by="country"),
            "by_organization": export("participation.csv", group_by="organization"),
            "not_acted": export("not-acted.csv"),
        },
    }
    return templates.TemplateResponse(request, "reports/results.html", context)
