"""Mail that comes back: bounce reports, spam complaints and replies to alerts.

Each message received is kept once (its Message-ID makes a second delivery of the same
report a no-op), with what it was recognised as and the delivery it answers when the
VERP address or the In-Reply-To/References headers name one. Replies keep their text
for staff to read; bounces and complaints keep the diagnostic, not the whole message.
"""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Text
from sqlmodel import Field, SQLModel

from app.core import models as _naming  # noqa: F401  (constraint names)
from app.core.types import UTCDateTime, enum_type, utcnow
from app.delivery import models as _delivery  # noqa: F401  (tables the keys point to)


class InboundKind(StrEnum):
    hard_bounce = "hard_bounce"
    soft_bounce = "soft_bounce"
    complaint = "complaint"
    reply = "reply"
    # Mail to the List-Unsubscribe mailto address (RFC 2369), whatever it says.
    unsubscribe = "unsubscribe"
    unrecognised = "unrecognised"


class InboundSource(StrEnum):
    api = "api"
    mbox = "mbox"
    maildir = "maildir"
    imap = "imap"


class InboundMessage(SQLModel, table=True):
    __tablename__ = "inbound_messages"

    id: int | None = Field(default=None, primary_key=True)
    kind: InboundKind = Field(sa_type=enum_type(InboundKind), index=True)
    source: InboundSource = Field(sa_type=enum_type(InboundSource))
    # The received message's own Message-ID (or a digest of it when it has none).
    message_id: str = Field(max_length=300, unique=True)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    delivery_id: int | None = Field(
        default=None, foreign_key="deliveries.id", ondelete="SET NULL", index=True
    )
    campaign_id: int | None = Field(
        default=None, foreign_key="campaigns.id", ondelete="SET NULL", index=True
    )
    contact_id: int | None = Field(
        default=None, foreign_key="contacts.id", ondelete="SET NULL", index=True
    )
    from_address: str | None = Field(default=None, max_length=320)
    subject: str | None = Field(default=None, max_length=300)
    # The failed recipient and the relay's words (bounces), the feedback type (ARF).
    diagnostic: str | None = Field(default=None, max_length=500)
    # Replies only: the text a person wrote.
    body_text: str | None = Field(default=None, sa_type=Text)
    # Sent by a program, not a person (an out-of-office note, RFC 3834 Auto-Submitted):
    # kept for staff to read, but not counted as the member replying.
    automatic: bool = False
