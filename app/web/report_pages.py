"""The results page of an action alert: who received it, clicked, acted, has not acted
and wrote back, as figures, charts and lists.

A thin handler over app/reports, which scopes every figure: a regional lead sees her
regions' members only, and an alert she may not read does not exist for her (404).
"""

import re
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from app.accounts.auth import StaffUser
from app.accounts.principal import Role
from app.core.errors import NotFound
from app.core.http import SessionDep
from app.reports import service as reports
from app.reports.charts import FunnelStep, Series, funnel_chart, grouped_bar_chart
from app.reports.schemas import (
    Figures,
    GroupBy,
    NotActedQuery,
    ParticipationGroup,
    ParticipationQuery,
)
from app.web.router import not_found_page
from app.web.templating import label, templates

router = APIRouter(include_in_schema=False)

_MAX_ID = 2**31 - 1
# Organisations listed on the page; the CSV holds them all.
NOT_ACTED_SHOWN = 100
ERASED = "Contact erased"


def _parse_id(text: str) -> int | None:
    if not re.fullmatch(r"[0-9]{1,10}", text):
        return None
    return int(text) if 0 < int(text) <= _MAX_ID else None


def percent(rate: float | None) -> str:
    """A rate as people read it: "67%", or a dash when there was nothing to divide."""
    return "—" if rate is None else f"{rate * 100:.0f}%"


def _group_name(group: ParticipationGroup) -> str:
    return group.country_name or group.region_name or ERASED


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

    def export(path: str, **params: str) -> str:
        return f"/api/reports/{path}?" + urlencode({"campaign_id": identifier, **params})

    context = {
        "section": "campaigns",
        "campaign": campaign,
        "launched": campaign.launched_at is not None,
        "is_lead": principal.role is Role.regional_lead,
        "lead_regions": sorted(label(region) for region in principal.regions),
        "total": total,
        "by_region": by_region.groups,
        "by_country": by_country.groups,
        "group_name": _group_name,
        "charts": charts,
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
