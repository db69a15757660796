from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from app.accounts.auth import StaffUser
from app.core.http import SessionDep, error_responses
from app.reports import exports, service
from app.reports.exports import CsvFile
from app.reports.schemas import (
    ActivityQuery,
    ActivityReport,
    CampaignReportQuery,
    NotActedPage,
    NotActedQuery,
    ParticipationQuery,
    ParticipationReport,
)

router = APIRouter(prefix="/api/reports", tags=["reports"])

_CSV: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {}}, "description": "CSV with a byte-order mark"}
}
# The campaign_id in the query may name no campaign, or one outside the caller's regions.
_NO_CAMPAIGN = error_responses(404)


def _download(export: CsvFile) -> StreamingResponse:
    return StreamingResponse(
        export.chunks,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{export.filename}"'},
    )


@router.get("/participation", response_model=ParticipationReport, responses=_NO_CAMPAIGN)
def participation(
    session: SessionDep, principal: StaffUser, query: Annotated[ParticipationQuery, Query()]
) -> ParticipationReport:
    """An alert's figures per region, country or organisation, and in total: recipients,
    delivered, bounced, clicked, acted, unsubscribed, organisations reached and acted,
    and rates over delivered. Regional leads get their regions' members only."""
    return service.participation(session, principal, query)


@router.get("/participation.csv", response_class=StreamingResponse, responses=_CSV | _NO_CAMPAIGN)
def participation_csv(
    session: SessionDep, principal: StaffUser, query: Annotated[ParticipationQuery, Query()]
) -> StreamingResponse:
    """The same figures as CSV, one row per group and a row of totals last."""
    return _download(exports.participation_csv(service.participation(session, principal, query)))


@router.get("/not-acted", response_model=NotActedPage, responses=_NO_CAMPAIGN)
def not_acted(
    session: SessionDep, principal: StaffUser, query: Annotated[NotActedQuery, Query()]
) -> NotActedPage:
    """Member organisations that received the alert and have reported no action, by
    country and name, each with its contacts the alert reached: the list for chasing."""
    return service.not_acted(session, principal, query)


@router.get("/not-acted.csv", response_class=StreamingResponse, responses=_CSV | _NO_CAMPAIGN)
def not_acted_csv(
    session: SessionDep, principal: StaffUser, query: Annotated[CampaignReportQuery, Query()]
) -> StreamingResponse:
    """The whole not-acted list as CSV, one row per contact reached."""
    return _download(exports.not_acted_csv(session, principal, query))


@router.get("/activity", response_model=ActivityReport)
def activity(
    session: SessionDep, principal: StaffUser, query: Annotated[ActivityQuery, Query()]
) -> ActivityReport:
    """Actions members reported per ISO week (UTC) and region, over the last `weeks`
    weeks, this one included: for the dashboard."""
    return service.activity(session, principal, query)
