"""Transactional mail (sign-in links, welcome messages) and the addresses never mailed."""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Text
from sqlmodel import Field, SQLModel

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
