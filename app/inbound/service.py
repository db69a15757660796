"""Mail that comes back: keep it once, tie it to the alert it answers, act on it.

`receive_message` is the one way in for every source (the API, an mbox file, a
Maildir, an IMAP folder):

1. read the message (parsing.py): complaint, bounce, reply or unrecognised;
2. if its Message-ID was received before, stop: the same report twice changes
   nothing the second time;
3. find the delivery it names: a VERP token first, then the original's Message-ID
   (In-Reply-To/References for replies). An unknown token names nothing, and nothing
   is ever looked up by address: a bounce whose failed recipient is not the address
   the delivery went to (a forward, a list expansion) is kept but tied to no one;
4. keep one InboundMessage and, when a delivery is found, one ResponseEvent;
5. act: a hard bounce marks the contact and suppresses the address, soft bounces
   count up to SOFT_BOUNCE_LIMIT and then act as a hard one, a complaint suppresses the
   address and unsubscribes the contact. Each change is audited on the contact (and so
   on the organisation's timeline). Only the delivery's own contact is ever marked.

Services flush; the caller's unit of work commits (one per message).
"""

from typing import Any

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app.accounts.principal import Principal
from app.accounts.scoping import visible_campaigns, visible_inbound_messages
from app.campaigns.models import Campaign
from app.core.audit import record_audit, record_changes
from app.core.cursors import decode_id_cursor, encode_id_cursor
from app.core.errors import NotFound
from app.core.settings import get_settings
from app.core.types import utcnow
from app.delivery.models import Delivery, SuppressionReason
from app.delivery.suppressions import is_suppressed, suppress
from app.inbound.models import InboundKind, InboundMessage, InboundSource
from app.inbound.parsing import DIAGNOSTIC_LENGTH, Expectation, ReadMessage, clip, read_message
from app.inbound.schemas import (
    CampaignRef,
    Change,
    ContactRef,
    InboundReceipt,
    OrganizationRef,
    ReplyListQuery,
    ReplyPage,
    ReplyRead,
)
from app.members.models import BounceStatus, Contact, Organization, SubscriptionStatus
from app.members.service import BOUNCE_FIELDS
from app.tracking import service as tracking
from app.tracking.models import ResponseEvent, ResponseKind

# The audit log's actor when the mail server posts with INBOUND_TOKEN.
MAIL_SERVER_ACTOR = "inbound:mail-server"
_BOUNCES = (InboundKind.hard_bounce, InboundKind.soft_bounce)
_EVENT_KINDS = {
    InboundKind.hard_bounce: ResponseKind.bounced_hard,
    InboundKind.soft_bounce: ResponseKind.bounced_soft,
    InboundKind.complaint: ResponseKind.complained,
    InboundKind.reply: ResponseKind.replied,
}
_AUTOMATIC_REPLY = "automatic reply (out of office)"


def receive_message(
    session: Session,
    raw: bytes,
    source: InboundSource,
    *,
    actor: str,
    expect: Expectation = Expectation.auto,
) -> InboundReceipt:
    """Record one received message and act on it. Raises MalformedMessage (422) for
    bytes that are not an email message, before anything is written."""
    read = read_message(raw, expect)
    stored = _stored(session, read.message_id)
    if stored is not None:
        return _receipt(stored, duplicate=True, changes=[])
    delivery = find_delivery(session, read)
    kind, diagnostic, status = read.kind, read.diagnostic, None
    if delivery is not None and kind in _BOUNCES:
        failure = read.failure_of(delivery.email)
        if failure is None:
            # Someone else's address failed (the alert was forwarded or expanded by a
            # list): the delivery's contact is not the one to mark.
            diagnostic = f"not the address this alert went to: {diagnostic}"
            delivery = None
        else:
            kind = InboundKind.hard_bounce if failure.permanent else InboundKind.soft_bounce
            diagnostic, status = failure.describe(), failure.status
    message = InboundMessage(
        kind=kind,
        source=source,
        message_id=read.message_id,
        delivery_id=delivery.id if delivery else None,
        campaign_id=delivery.campaign_id if delivery else None,
        contact_id=delivery.contact_id if delivery else None,
        from_address=read.from_address,
        subject=read.subject,
        diagnostic=clip(diagnostic, DIAGNOSTIC_LENGTH) if diagnostic else None,
        body_text=read.body_text,
        automatic=read.automatic,
    )
    try:
        with session.begin_nested():
            session.add(message)
    except IntegrityError:
        # The same message, received at the same moment by another request or worker.
        stored = _stored(session, read.message_id)
        if stored is None:
            raise
        return _receipt(stored, duplicate=True, changes=[])
    changes: list[Change] = []
    if delivery is not None:
        changes = _act(session, delivery, message, read, actor, status)
    return _receipt(message, duplicate=False, changes=changes)


def find_delivery(session: Session, read: ReadMessage) -> Delivery | None:
    """The delivery the message names: by VERP token, else by the original's
    Message-ID. Never by address."""
    if read.tokens:
        by_token = {
            delivery.token: delivery
            for delivery in session.scalars(
                select(Delivery).where(col(Delivery.token).in_(read.tokens))
            )
        }
        for token in read.tokens:
            if token in by_token:
                return by_token[token]
    if read.referenced_ids:
        by_message_id = {
            delivery.message_id: delivery
            for delivery in session.scalars(
                select(Delivery).where(col(Delivery.message_id).in_(read.referenced_ids))
            )
        }
        for message_id in read.referenced_ids:
            if message_id in by_message_id:
                return by_message_id[message_id]
    return None


def _stored(session: Session, message_id: str) -> InboundMessage | None:
    return session.scalars(
        select(InboundMessage).where(col(InboundMessage.message_id) == message_id)
    ).first()


def _receipt(message: InboundMessage, *, duplicate: bool, changes: list[Change]) -> InboundReceipt:
    return InboundReceipt(
        id=message.id or 0,
        kind=message.kind,
        duplicate=duplicate,
        delivery_found=message.delivery_id is not None,
        automatic=message.automatic,
        changes=changes,
    )


# --- what a message does ----------------------------------------------------------------


def _act(
    session: Session,
    delivery: Delivery,
    message: InboundMessage,
    read: ReadMessage,
    actor: str,
    status: str | None,
) -> list[Change]:
    changes: list[Change] = []
    if message.kind in _BOUNCES:
        changes = _bounce(session, delivery, message, actor, status)
    elif message.kind is InboundKind.complaint:
        changes = _complaint(session, delivery, read, actor)
    elif message.kind is InboundKind.unsubscribe:
        # The same unsubscribe as the alert's link and one-click POST (it records the
        # event and applies to every contact of the address).
        recipient = tracking.recipient_of(session, delivery)
        if tracking.unsubscribe(session, recipient, via="mailto"):
            changes = ["contact_unsubscribed"]
    event_kind = _EVENT_KINDS.get(message.kind)
    if event_kind is not None:
        session.add(
            ResponseEvent(
                delivery_id=delivery.id or 0,
                campaign_id=delivery.campaign_id,
                contact_id=delivery.contact_id,
                kind=event_kind,
                automated=message.automatic,
                automated_reason=_AUTOMATIC_REPLY if message.automatic else None,
                detail=message.diagnostic,
            )
        )
        session.flush()
        changes.insert(0, "event_recorded")
    return changes


def _bounce(
    session: Session, delivery: Delivery, message: InboundMessage, actor: str, status: str | None
) -> list[Change]:
    """Count the bounce on the delivery's contact, once per delivery and kind: the
    same failure reported again (a relay's repeated delay warnings, a second copy with
    another Message-ID) is kept but not counted again."""
    permanent = message.kind is InboundKind.hard_bounce
    counted = (
        [ResponseKind.bounced_hard]
        if permanent
        else [ResponseKind.bounced_hard, ResponseKind.bounced_soft]
    )
    counted_before = _events(session, delivery, counted) > 0
    contact = _contact_of(session, delivery)
    before = _bounce_snapshot(contact)
    changes: list[Change] = []
    acts_as_hard = permanent
    # Only while the contact still has the address that failed: a corrected address
    # must not inherit the old one's bounces.
    if contact is not None and not counted_before and _same_address(contact, delivery):
        now = utcnow()
        contact.last_bounced_at = now
        contact.updated_at = now
        if permanent:
            changes.append("contact_hard_bounced")
        else:
            contact.soft_bounce_count += 1
            changes.append("contact_soft_bounced")
            if contact.soft_bounce_count >= get_settings().soft_bounce_limit:
                acts_as_hard = True
                changes.append("soft_bounce_limit_reached")
            elif contact.bounce_status is BounceStatus.ok:
                contact.bounce_status = BounceStatus.soft
        if acts_as_hard:
            contact.bounce_status = BounceStatus.hard
            contact.hard_bounce_count += 1
    if acts_as_hard and _suppress(session, delivery.email, SuppressionReason.hard_bounce):
        changes.append("address_suppressed")
    note = f"{'hard' if permanent else 'soft'} bounce report" + (f", {status}" if status else "")
    _audit(
        session,
        actor=actor,
        contact=contact,
        delivery=delivery,
        contact_action="contact.bounce_state",
        delivery_action="delivery.bounce",
        before=before,
        after=_bounce_snapshot(contact, suppression=_suppressed_reason(changes, "hard_bounce")),
        note=note,
    )
    return changes


def _complaint(session: Session, delivery: Delivery, read: ReadMessage, actor: str) -> list[Change]:
    """A person said "spam": never mail the address again, and unsubscribe her (her
    consent is withdrawn, whatever her address is now)."""
    contact = _contact_of(session, delivery)
    before = _subscription_snapshot(contact)
    changes: list[Change] = []
    if _suppress(session, delivery.email, SuppressionReason.complaint):
        changes.append("address_suppressed")
    if contact is not None and contact.subscription_status is not SubscriptionStatus.unsubscribed:
        contact.subscription_status = SubscriptionStatus.unsubscribed
        contact.paused_until = None
        contact.updated_at = utcnow()
        changes.append("contact_unsubscribed")
    _audit(
        session,
        actor=actor,
        contact=contact,
        delivery=delivery,
        contact_action="contact.update",
        delivery_action="delivery.complaint",
        before=before,
        after=_subscription_snapshot(contact, suppression=_suppressed_reason(changes, "complaint")),
        note=f"spam complaint (feedback report: {read.feedback_type})",
    )
    return changes


def _audit(
    session: Session,
    *,
    actor: str,
    contact: Contact | None,
    delivery: Delivery,
    contact_action: str,
    delivery_action: str,
    before: dict[str, Any],
    after: dict[str, Any],
    note: str,
) -> None:
    """On the contact (and so her organisation's timeline) when she still exists; else
    on the delivery, when the address was suppressed."""
    if contact is not None:
        record_changes(
            session,
            actor=actor,
            action=contact_action,
            target_type="contact",
            target_id=contact.id,
            organization_id=contact.organization_id,
            before=before,
            after=after,
            note=note,
        )
    elif after.get("suppression"):
        record_audit(
            session,
            actor=actor,
            action=delivery_action,
            target_type="delivery",
            target_id=delivery.id,
            after={"suppression": after["suppression"]},
            note=note,
        )
    session.flush()


def _contact_of(session: Session, delivery: Delivery) -> Contact | None:
    return session.get(Contact, delivery.contact_id) if delivery.contact_id else None


def _same_address(contact: Contact, delivery: Delivery) -> bool:
    return contact.email.strip().lower() == delivery.email.strip().lower()


def _events(session: Session, delivery: Delivery, kinds: list[ResponseKind]) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(ResponseEvent)
            .where(
                col(ResponseEvent.delivery_id) == delivery.id,
                col(ResponseEvent.kind).in_(kinds),
            )
        )
        or 0
    )


def _suppress(session: Session, email: str, reason: SuppressionReason) -> bool:
    """Suppress the address; return whether it was not suppressed already."""
    if is_suppressed(session, email):
        return False
    suppress(session, email, reason)
    return True


def _suppressed_reason(changes: list[Change], reason: str) -> str | None:
    return reason if "address_suppressed" in changes else None


def _bounce_snapshot(contact: Contact | None, suppression: str | None = None) -> dict[str, Any]:
    values = {name: getattr(contact, name) for name in BOUNCE_FIELDS} if contact else {}
    return values | {"suppression": suppression}


def _subscription_snapshot(
    contact: Contact | None, suppression: str | None = None
) -> dict[str, Any]:
    values = (
        {"subscription_status": contact.subscription_status, "paused_until": contact.paused_until}
        if contact
        else {}
    )
    return values | {"suppression": suppression}


# --- reading replies ----------------------------------------------------------------------


def list_replies(session: Session, principal: Principal, query: ReplyListQuery) -> ReplyPage:
    """Newest first, in the caller's scope; the cursor is the last id shown."""
    replies = visible_inbound_messages(principal).where(
        col(InboundMessage.kind) == InboundKind.reply
    )
    if query.campaign_id is not None:
        campaign = session.scalars(
            visible_campaigns(principal).where(col(Campaign.id) == query.campaign_id)
        ).first()
        if campaign is None:
            raise NotFound(
                f"No campaign with id {query.campaign_id}", field="campaign_id", location="query"
            )
        replies = replies.where(col(InboundMessage.campaign_id) == query.campaign_id)
    if query.automatic is not None:
        replies = replies.where(col(InboundMessage.automatic) == query.automatic)
    total = session.scalar(select(func.count()).select_from(replies.subquery())) or 0
    if query.cursor:
        replies = replies.where(col(InboundMessage.id) < decode_id_cursor(query.cursor))
    rows = list(
        session.scalars(replies.order_by(col(InboundMessage.id).desc()).limit(query.limit + 1))
    )
    items = rows[: query.limit]
    next_cursor = encode_id_cursor(items[-1].id or 0) if len(rows) > query.limit else None
    return ReplyPage(items=_reply_reads(session, items), next_cursor=next_cursor, total=total)


def _reply_reads(session: Session, messages: list[InboundMessage]) -> list[ReplyRead]:
    campaign_ids = {m.campaign_id for m in messages if m.campaign_id}
    contact_ids = {m.contact_id for m in messages if m.contact_id}
    campaigns = {
        c.id: c for c in session.scalars(select(Campaign).where(col(Campaign.id).in_(campaign_ids)))
    }
    contacts = {
        c.id: c for c in session.scalars(select(Contact).where(col(Contact.id).in_(contact_ids)))
    }
    organization_ids = {c.organization_id for c in contacts.values()}
    organizations = {
        o.id: o
        for o in session.scalars(
            select(Organization).where(col(Organization.id).in_(organization_ids))
        )
    }
    reads = []
    for message in messages:
        campaign = campaigns.get(message.campaign_id)
        contact = contacts.get(message.contact_id)
        organization = organizations.get(contact.organization_id) if contact else None
        reads.append(
            ReplyRead(
                id=message.id or 0,
                received_at=message.received_at,
                from_address=message.from_address,
                subject=message.subject,
                body_text=message.body_text,
                automatic=message.automatic,
                campaign=CampaignRef(id=campaign.id or 0, title=campaign.title)
                if campaign
                else None,
                contact=ContactRef(id=contact.id or 0, name=contact.name, email=contact.email)
                if contact
                else None,
                organization=OrganizationRef(id=organization.id or 0, name=organization.name)
                if organization
                else None,
            )
        )
    return reads
