"""What members do with an alert: every response tied to the delivery it answers.

`ResponseEvent` is the one record the reports count: opens, clicks, reported actions,
replies, unsubscribes, bounces and complaints, each with the delivery (and so the
campaign and contact) it belongs to. Tracking keeps no IP address. Traffic that looks
like a mail scanner is kept but marked `automated`, and human figures leave it out.

`ActionReport` holds what a member reports having done about an alert; each report is
also a `ResponseEvent` of kind `acted`.
"""

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Index, Text
from sqlmodel import Field, SQLModel

from app.core import models as _naming  # noqa: F401  (constraint names)
from app.core.types import UTCDateTime, enum_type, utcnow
from app.delivery import models as _delivery  # noqa: F401  (tables the keys point to)


class ResponseKind(StrEnum):
    opened = "opened"
    clicked = "clicked"
    acted = "acted"
    replied = "replied"
    unsubscribed = "unsubscribed"
    bounced_hard = "bounced_hard"
    bounced_soft = "bounced_soft"
    complained = "complained"


class ResponseEvent(SQLModel, table=True):
    __tablename__ = "response_events"
    __table_args__ = (
        # Reports group a campaign's events by kind; timelines read a contact's.
        Index("ix_response_events_campaign_kind", "campaign_id", "kind", "automated"),
        Index("ix_response_events_delivery_kind", "delivery_id", "kind"),
        # The participation report's flags per delivery, read from the index alone.
        Index(
            "ix_response_events_campaign_delivery",
            "campaign_id",
            "delivery_id",
            "kind",
            "automated",
        ),
        # An event from the Redis stream is stored once, even when the consumer that
        # stored it died before acknowledging it (app/tracking/stream.py).
        Index("uq_response_events_stream_entry", "stream_entry", unique=True),
    )

    id: int | None = Field(default=None, primary_key=True)
    delivery_id: int = Field(foreign_key="deliveries.id", ondelete="CASCADE")
    # Copied from the delivery so that reports need no join to count by campaign.
    campaign_id: int = Field(foreign_key="campaigns.id", ondelete="CASCADE")
    contact_id: int | None = Field(
        default=None, foreign_key="contacts.id", ondelete="SET NULL", index=True
    )
    kind: ResponseKind = Field(sa_type=enum_type(ResponseKind))
    occurred_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    # A mail scanner rather than a person (see why in automated_reason).
    automated: bool = False
    automated_reason: str | None = Field(default=None, max_length=100)
    # Clicks: which of the campaign's links (1-based, in the order the variant has them).
    link_number: int | None = None
    # Bounces, complaints, unsubscribes: where it came from and what was said.
    detail: str | None = Field(default=None, max_length=500)
    # The Redis stream entry it came from (clicks and opens, TRACKING_EVENTS=stream).
    stream_entry: str | None = Field(default=None, max_length=40)


class ReportedActionType(StrEnum):
    """What a member says they did."""

    met_officials = "met_officials"
    wrote_to_officials = "wrote_to_officials"
    parliamentary_engagement = "parliamentary_engagement"
    public_statement = "public_statement"
    media = "media"
    event = "event"
    signed_on = "signed_on"
    other = "other"


class ActionReport(SQLModel, table=True):
    __tablename__ = "action_reports"

    id: int | None = Field(default=None, primary_key=True)
    delivery_id: int = Field(foreign_key="deliveries.id", ondelete="CASCADE", index=True)
    campaign_id: int = Field(foreign_key="campaigns.id", ondelete="CASCADE", index=True)
    organization_id: int = Field(foreign_key="organizations.id", index=True)
    contact_id: int | None = Field(default=None, foreign_key="contacts.id", ondelete="SET NULL")
    action_type: ReportedActionType = Field(sa_type=enum_type(ReportedActionType))
    action_date: date
    # Who they engaged: "Ministry of Justice, legal adviser".
    engaged_with: str = Field(default="", max_length=300)
    note: str = Field(default="", sa_type=Text)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
