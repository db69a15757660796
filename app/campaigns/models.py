"""Action alerts: the campaign, its language variants, and the regions it reaches."""

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Text, UniqueConstraint
from sqlmodel import Field, Relationship, SQLModel

from app.accounts import models as _accounts  # noqa: F401  (tables the keys point to)
from app.core import models as _naming  # noqa: F401  (constraint names)
from app.core.types import UTCDateTime, enum_type, utcnow


class CampaignStatus(StrEnum):
    draft = "draft"
    approved = "approved"
    scheduled = "scheduled"
    sending = "sending"
    paused = "paused"
    sent = "sent"
    cancelled = "cancelled"


class ActionType(StrEnum):
    """What the alert asks members to do."""

    contact_officials = "contact_officials"
    parliamentary_engagement = "parliamentary_engagement"
    public_statement = "public_statement"
    media = "media"
    event = "event"
    sign_on = "sign_on"
    other = "other"


class Campaign(SQLModel, table=True):
    __tablename__ = "campaigns"

    id: int | None = Field(default=None, primary_key=True)
    title: str = Field(max_length=300)
    action_type: ActionType = Field(sa_type=enum_type(ActionType))
    status: CampaignStatus = Field(
        default=CampaignStatus.draft, sa_type=enum_type(CampaignStatus), index=True
    )
    # Topic slugs (app/campaigns/topics.py): contacts who opted out of one are left out.
    topics: list[str] = Field(default_factory=list, sa_type=JSON)
    # The audience filter as the API takes it (app/campaigns/audience.py).
    audience: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    default_language: str = Field(max_length=8)
    track_clicks: bool = True
    track_opens: bool = False
    author_id: int = Field(foreign_key="users.id", index=True)
    approved_by_id: int | None = Field(default=None, foreign_key="users.id")
    approved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # When a scheduled campaign starts sending, and the time zone it was set in (shown
    # to people; the instant itself is kept in UTC).
    send_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    send_timezone: str | None = Field(default=None, max_length=64)
    launched_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Why it is paused, when the pipeline paused it (the relay stopped answering): such
    # a pause is lifted by the scan once the relay answers; a person's never is.
    paused_reason: str | None = Field(default=None, max_length=500)
    paused_by_pipeline: bool = False
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    cancelled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)

    variants: list["CampaignVariant"] = Relationship(
        sa_relationship_kwargs={
            "lazy": "selectin",
            "cascade": "all, delete-orphan",
            "order_by": "CampaignVariant.id",
        }
    )
    region_rows: list["CampaignRegion"] = Relationship(
        sa_relationship_kwargs={"lazy": "selectin", "cascade": "all, delete-orphan"}
    )

    @property
    def regions(self) -> list[str]:
        return sorted(row.region_slug for row in self.region_rows)


class CampaignVariant(SQLModel, table=True):
    """The alert in one language: a subject and a Markdown body with tokens."""

    __tablename__ = "campaign_variants"
    __table_args__ = (UniqueConstraint("campaign_id", "language"),)

    id: int | None = Field(default=None, primary_key=True)
    # Optional only until the row is attached to its campaign.
    campaign_id: int | None = Field(
        default=None, foreign_key="campaigns.id", index=True, ondelete="CASCADE"
    )
    language: str = Field(max_length=8)
    subject: str = Field(max_length=300)
    body: str = Field(sa_type=Text)


class CampaignRegion(SQLModel, table=True):
    """A region the audience can reach: regional leads read the alerts of theirs."""

    __tablename__ = "campaign_regions"

    campaign_id: int | None = Field(
        default=None, foreign_key="campaigns.id", primary_key=True, ondelete="CASCADE"
    )
    region_slug: str = Field(foreign_key="regions.slug", primary_key=True, max_length=20)
