"""What the inbound endpoints answer, and the replies list's query."""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.inbound.models import InboundKind

# What receiving a message changed, as the receipt lists it.
Change = Literal[
    "event_recorded",
    "contact_hard_bounced",
    "contact_soft_bounced",
    "soft_bounce_limit_reached",
    "contact_unsubscribed",
    "address_suppressed",
]


class InboundReceipt(BaseModel):
    """What a posted message was recognised as. It names no delivery, contact or
    address: the sender learns only whether the message matched one of our alerts."""

    id: int = Field(description="The stored inbound message")
    kind: InboundKind
    duplicate: bool = Field(description="Received before: nothing was changed this time")
    delivery_found: bool = Field(description="It names one of our alerts' deliveries")
    automatic: bool = Field(description="A program's reply (out of office), not a person's")
    changes: list[Change]


class ReplyListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    campaign_id: int | None = Field(default=None, ge=1, le=2_147_483_647)
    automatic: bool | None = Field(
        default=None, description="Only programs' replies (true) or only people's (false)"
    )
    limit: int = Field(default=50, ge=1, le=200)
    cursor: str | None = Field(default=None, max_length=100)


class CampaignRef(BaseModel):
    id: int
    title: str


class ContactRef(BaseModel):
    id: int
    name: str
    email: str


class OrganizationRef(BaseModel):
    id: int
    name: str


class ReplyRead(BaseModel):
    id: int
    received_at: datetime
    from_address: str | None
    subject: str | None
    body_text: str | None
    automatic: bool
    # The alert it answers, when its headers name one of our deliveries.
    campaign: CampaignRef | None
    contact: ContactRef | None
    organization: OrganizationRef | None


class ReplyPage(BaseModel):
    items: list[ReplyRead]
    next_cursor: str | None
    total: int
