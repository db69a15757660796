"""Outgoing mail: transactional messages, campaign deliveries, and the addresses never
mailed."""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.campaigns import models as _campaigns  # noqa: F401  (tables the keys point to)
from app.core import models as _naming  # noqa: F401  (constraint names)
from app.core.types import UTCDateTime, enum_type, utcnow


class OutboxMessage(SQLModel, table=True):
    """One transactional email. The embedded default keeps it here for staff to read;
    production hands it to the SMTP relay after the transaction that wrote it commits."""

    __tablename__ = "outbox_messages"

    id: int | None = Field(default=None, primary_key=True)
    to_address: str = Field(max_length=320, index=True)
    subject: str = Field(max_length=300)
    text_body: str = Field(sa_type=Text)
    html_body: str | None = Field(default=None, sa_type=Text)
    purpose: str = Field(max_length=40, index=True)  # e.g. "sign_in_link", "welcome"
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str | None = Field(default=None, max_length=500)


class SuppressionReason(StrEnum):
    unsubscribed = "unsubscribed"
    hard_bounce = "hard_bounce"
    complaint = "complaint"
    erased = "erased"


class Suppression(SQLModel, table=True):
    """An address that must not be mailed, kept as a hash so that erasing a person
    leaves nothing readable while still keeping them off every list."""

    __tablename__ = "suppressions"

    id: int | None = Field(default=None, primary_key=True)
    email_hash: str = Field(max_length=64, unique=True)
    reason: SuppressionReason = Field(sa_type=enum_type(SuppressionReason))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class DeliveryState(StrEnum):
    queued = "queued"  # waiting (also after a temporary failure, until next_attempt_at)
    sending = "sending"  # claimed by a worker whose lease has not expired
    sent = "sent"  # the relay answered 250
    failed = "failed"  # permanent failure, or too many temporary ones
    suppressed = "suppressed"  # left out at send time (unsubscribed, bounced...)


class Delivery(SQLModel, table=True):
    """One alert to one contact: the record of truth for who got what.

    Written at launch (one row per recipient, in one statement) and then only by the
    worker holding its lease. The Message-ID is fixed here, so that a message sent
    twice after a crash is recognisably the same message."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("campaign_id", "contact_id"),
        # The claim query: a campaign's queued rows that are due, in this order.
        Index("ix_deliveries_claim", "campaign_id", "state", "next_attempt_at", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaigns.id")
    # Kept when the contact is erased later: the row still counts in the figures.
    contact_id: int | None = Field(default=None, foreign_key="contacts.id", ondelete="SET NULL")
    email: str = Field(max_length=320)
    language: str = Field(max_length=8)
    message_id: str = Field(max_length=200, unique=True)
    # Unguessable, so that links and the bounce address name the delivery without
    # revealing or enumerating others (signed again where it appears in a link).
    token: str = Field(max_length=40, unique=True)
    state: DeliveryState = Field(default=DeliveryState.queued, sa_type=enum_type(DeliveryState))
    attempts: int = 0
    next_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    lease_owner: str | None = Field(default=None, max_length=100)
    lease_expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
