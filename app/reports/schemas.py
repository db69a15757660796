"""Query strings and answers of the participation reports."""

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from app.countries.regions import RegionSlug
from app.tracking.models import ReportedActionType

_MAX_ID = 2_147_483_647


class GroupBy(StrEnum):
    region = "region"
    country = "country"
    organization = "organization"


class CampaignReportQuery(BaseModel):
    """One alert's figures, optionally narrowed to some regions. A region outside the
    caller's scope narrows to nothing: it never widens what she sees."""

    model_config = ConfigDict(extra="forbid")

    campaign_id: int = Field(ge=1, le=_MAX_ID, description="The alert")
    region: list[RegionSlug] = Field(
        default_factory=list, description="Only these regions (repeat for several)"
    )


class ParticipationQuery(CampaignReportQuery):
    group_by: GroupBy = Field(default=GroupBy.region, description="One row per what")
    limit: int | None = Field(
        default=None,
        ge=1,
        le=5000,
        description="By organisation: this many organisations a page (absent: all of them)",
    )
    cursor: str | None = Field(
        default=None,
        max_length=400,
        description="By organisation: `next_cursor` of the previous page",
    )

    @field_validator("limit", "cursor")
    @classmethod
    def _pages_are_by_organization(cls, value: Any, info: ValidationInfo) -> Any:
        if value is not None and info.data.get("group_by") is not GroupBy.organization:
            raise ValueError(f"{info.field_name} pages a report by organisation only")
        return value


class NotActedQuery(CampaignReportQuery):
    limit: int = Field(default=100, ge=1, le=500, description="Page size")
    cursor: str | None = Field(
        default=None, max_length=400, description="`next_cursor` of the previous page"
    )


class ActivityQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    weeks: int = Field(default=12, ge=1, le=104, description="How many ISO weeks, this one last")
    region: list[RegionSlug] = Field(default_factory=list, description="Only these regions")


class Figures(BaseModel):
    """Counts of deliveries (one per recipient) unless the name says organisations.
    Rates are fractions (0.25 is 25%), null when there is nothing to divide by."""

    recipients: int = Field(description="Deliveries: everyone the alert was addressed to")
    delivered: int = Field(description="Sent, and no hard bounce came back")
    bounced: int = Field(description="A hard or soft bounce came back, or sending failed")
    clicked: int = Field(description="Clicked a link (mail scanners left out)")
    acted: int = Field(description="Reported an action (mail scanners left out)")
    unsubscribed: int = Field(description="Unsubscribed from this alert")
    organizations_reached: int = Field(description="Organisations with a delivered message")
    organizations_acted: int = Field(
        description="Organisations that reported an action (one however many reports)"
    )
    click_rate: float | None = Field(description="clicked / delivered")
    act_rate: float | None = Field(description="acted / delivered")
    unsubscribe_rate: float | None = Field(description="unsubscribed / delivered")
    bounce_rate: float | None = Field(description="bounced / recipients")
    organization_act_rate: float | None = Field(
        description="organizations_acted / organizations_reached"
    )


class ParticipationGroup(Figures):
    """One row: the fields of the grouping (and those above it) are set. A row with no
    region holds deliveries whose contact has since been erased (secretariat only)."""

    region: str | None
    region_name: str | None
    country: str | None = None
    country_name: str | None = None
    organization_id: int | None = None
    organization_name: str | None = None


class ParticipationReport(BaseModel):
    campaign_id: int
    campaign_title: str
    group_by: GroupBy
    region: list[RegionSlug]
    counted_at: datetime = Field(
        description="When these figures were counted: now, or for an alert of more than "
        "REPORT_LIVE_LIMIT recipients, at the workers' last count (every "
        "REPORT_REFRESH_SECONDS)"
    )
    live: bool = Field(description="Counted for this request (false: the last count)")
    groups: list[ParticipationGroup]
    total: Figures = Field(description="Every group's, also when `groups` is one page")
    next_cursor: str | None = Field(
        default=None, description="By organisation with a limit: the next page's cursor, if any"
    )


class ReachedContact(BaseModel):
    contact_id: int
    name: str
    email: str
    language: str
    clicked: bool = Field(description="Clicked a link of this alert")
    unsubscribed: bool = Field(description="Unsubscribed from this alert: do not chase by email")


class NotActedOrganization(BaseModel):
    organization_id: int
    name: str
    acronym: str | None
    country: str
    country_name: str
    region: str
    region_name: str
    contacts: list[ReachedContact] = Field(description="Its contacts the alert reached")


class NotActedPage(BaseModel):
    campaign_id: int
    items: list[NotActedOrganization]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page")
    total: int = Field(description="How many organisations have not acted, over all pages")


class ActivityWeek(BaseModel):
    week: str = Field(description="ISO week, e.g. 2026-W07")
    starts_on: date = Field(description="Its Monday")
    actions: int = Field(description="Every action reported that week")
    by_region: dict[str, int] = Field(description="The same, per region in view")


class ActivityReport(BaseModel):
    """Actions members reported (mail scanners left out), per ISO week (UTC) and region.
    For the secretariat, `actions` also counts reports whose contact has since been
    erased, which no region holds any more."""

    since: date
    regions: list[str]
    weeks: list[ActivityWeek]


class ReportedAction(BaseModel):
    """What a member said they did, for the results page and the dashboard."""

    id: int
    campaign_id: int
    campaign_title: str
    organization_id: int
    organization_name: str
    country_name: str
    region: str
    contact_name: str | None
    action_type: ReportedActionType
    action_date: date
    engaged_with: str
    note: str
    reported_at: datetime


class CampaignReply(BaseModel):
    """A reply to the alert, for the results page."""

    id: int
    received_at: datetime
    from_address: str | None
    subject: str | None
    body_text: str | None
    contact_name: str | None
    organization_name: str | None


class CampaignReplies(BaseModel):
    items: list[CampaignReply] = Field(description="The newest replies people wrote")
    total: int = Field(description="Replies people wrote, over all")
    automatic: int = Field(description="Automatic replies (out of office), not listed")


class TimelineUnit(StrEnum):
    hour = "hour"
    day = "day"
    week = "week"


class TimelinePeriod(BaseModel):
    starts_at: datetime = Field(description="The start (UTC) of the hour, day or ISO week")
    clicked: int = Field(description="People who first clicked a link in this period")
    acted: int = Field(description="People who first reported an action in this period")


class ResponseTimeline(BaseModel):
    """When people answered an alert, from its launch to the latest answer: each person
    counted once, in the period of her first click and of her first action (mail
    scanners left out). By hour over two days at most, else by day over two months at
    most, else by ISO week; periods without an answer are there, with zeros."""

    unit: TimelineUnit
    periods: list[TimelinePeriod]
