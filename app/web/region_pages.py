"""The region dashboard: how one region's members answered the latest alerts, whom to
chase, which applications wait and where the registry has gaps.

A thin handler over app/reports/region.py, which narrows every figure to the region
chosen. A regional lead reads her own regions (one at a time, with a chooser when she
has several), the secretariat any region; a region outside the caller's is a 404, and
members have their portal instead.
"""

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup

from app.accounts.auth import AnyUser
from app.accounts.principal import Role
from app.core.errors import NotFound
from app.core.http import SessionDep
from app.reports import region as region_figures
from app.reports.charts import Series, grouped_bar_chart
from app.reports.region import AlertParticipation
from app.reports.schemas import ParticipationGroup
from app.web.report_pages import percent
from app.web.router import not_found_page
from app.web.templating import templates

router = APIRouter(include_in_schema=False)

# Countries drawn per alert (those with the most recipients); the table lists them all.
CHART_COUNTRIES = 10


def _reached_rate(group: ParticipationGroup) -> float | None:
    return group.delivered / group.recipients if group.recipients else None


def _country_chart(alert: AlertParticipation) -> Markup | None:
    groups = sorted(alert.by_country.groups, key=lambda group: -group.recipients)
    groups = groups[:CHART_COUNTRIES]
    if not groups:
        return None
    return grouped_bar_chart(
        f"chart-alert-{alert.campaign.id}",
        f"{alert.campaign.title}: reached, clicked and acted per country",
        [group.country_name or "—" for group in groups],
        [
            Series("Reached", [_reached_rate(group) for group in groups]),
            Series("Clicked", [group.click_rate for group in groups]),
            Series("Acted", [group.act_rate for group in groups]),
        ],
    )


@router.get("/region", response_class=HTMLResponse)
def region_page(request: Request, session: SessionDep, principal: AnyUser) -> Response:
    if principal.role is Role.member:
        return RedirectResponse("/portal", status_code=303)
    regions = region_figures.regions_in_view(session, principal)
    slug = request.query_params.get("region") or None
    try:
        region = region_figures.choose_region(regions, slug)
    except NotFound:
        return not_found_page(
            request, f"There is no region {slug!r} among yours: choose one on the region page."
        )
    context: dict[str, Any] = {
        "section": "region",
        "regions": regions,
        "region": region,
        "is_secretariat": principal.role is Role.secretariat,
        "percent": percent,
    }
    if region is None:
        return templates.TemplateResponse(request, "region/dashboard.html", context)

    dashboard = region_figures.region_dashboard(session, principal, region)
    latest = dashboard.alerts[0].campaign if dashboard.alerts else None
    context |= {
        "dashboard": dashboard,
        "charts": {alert.campaign.id: _country_chart(alert) for alert in dashboard.alerts},
        "reached_rate": _reached_rate,
        "list_rows": region_figures.LIST_ROWS,
        "chart_countries": CHART_COUNTRIES,
        "latest": latest,
        # The API's CSV, narrowed to this region: a lead of several regions, or the
        # secretariat, downloads this region's list only.
        "not_acted_csv": (
            "/api/reports/not-acted.csv?"
            + urlencode({"campaign_id": latest.id, "region": region.slug})
            if latest
            else None
        ),
    }
    return templates.TemplateResponse(request, "region/dashboard.html", context)
