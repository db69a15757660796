"""The database as the send queue: the launch snapshot, claims with leases, results, and
the periodic scan that makes Celery messages mere hints.

- `snapshot_recipients` turns a campaign's audience into delivery rows in one
  INSERT … SELECT, inside the transaction that moves the campaign to `sending`.
- `claim_batch` hands a worker the next due rows with a lease, in its own short
  transaction (FOR UPDATE SKIP LOCKED on PostgreSQL, so workers never wait on each
  other; SQLite's write lock serialises claims anyway).
- `record_results` writes what happened, only for rows the worker still owns: a
  worker whose lease expired (it hung, or was presumed dead) cannot overwrite the
  outcome of the worker that took over.
- `expire_leases` returns the rows of dead workers to the queue; `finish_campaigns`
  marks campaigns with nothing left as sent.
"""

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    DateTime,
    Integer,
    Select,
    String,
    Table,
    and_,
    bindparam,
    cast,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import FunctionElement
from sqlmodel import Session, col

from app.accounts.principal import Principal, Role
from app.campaigns.audience import AudienceFilter, LanguageChoice, mailed_recipient_rows
from app.campaigns.models import Campaign, CampaignStatus
from app.core.settings import get_settings
from app.core.types import utcnow
from app.delivery.models import Delivery, DeliveryState

# The launch fixes the whole audience, whoever pressed the button.
_WHOLE_REGISTRY = Principal(actor="system:snapshot", role=Role.secretariat)
_ERROR_LENGTH = 500


class random_token(FunctionElement[str]):
    """32 hex characters from the database's strong random source, one per row."""

    type = String()
    inherit_cache = True
    name = "random_token"


@compiles(random_token, "postgresql")
def _random_token_postgresql(element: random_token, compiler: SQLCompiler, **kw: Any) -> str:
    return "replace(gen_random_uuid()::text, '-', '')"


@compiles(random_token)
def _random_token_sqlite(element: random_token, compiler: SQLCompiler, **kw: Any) -> str:
    return "lower(hex(randomblob(16)))"


def mail_domain() -> str:
    settings = get_settings()
    if settings.mail_domain:
        return settings.mail_domain
    address = settings.mail_from.rpartition("<")[2].rstrip(">").strip()
    return address.rpartition("@")[2] or "localhost"


def snapshot_recipients(session: Session, campaign: Campaign) -> int:
    """Insert one queued delivery per recipient; return how many.

    The audience query is the preview's, so the count shown before launch is the number
    of rows written here. The Message-ID is fixed now: campaign, contact and a random
    part chosen once per launch, so it is unique and not guessable from ids alone."""
    languages = LanguageChoice(
        languages=tuple(variant.language for variant in campaign.variants),
        default=campaign.default_language,
    )
    recipients = mailed_recipient_rows(
        _WHOLE_REGISTRY,
        AudienceFilter.model_validate(campaign.audience),
        topics=campaign.topics,
        languages=languages,
    ).subquery()
    nonce = secrets.token_hex(6)
    message_id = (
        literal(f"<alert.{campaign.id}.", String)
        + cast(recipients.c.contact_id, String)
        + literal(f".{nonce}@{mail_domain()}>", String)
    )
    now = utcnow()
    rows = select(
        literal(campaign.id),
        recipients.c.contact_id,
        recipients.c.email,
        recipients.c.language,
        message_id,
        random_token(),
        literal(DeliveryState.queued.value),
        literal(0),
        literal(now, Delivery.__table__.c.created_at.type),  # type: ignore[attr-defined]
    ).order_by(recipients.c.contact_id)
    if session.get_bind().dialect.name == "postgresql":
        # The audience is sorted by address (one recipient per address), then by contact
        # so that the rows enter (campaign, contact) and the Message-ID in key order:
        # sorts of a million rows that fit in memory instead of spilling to disk.
        session.execute(text("SET LOCAL work_mem = '256MB'"))
    result = session.execute(
        insert(Delivery).from_select(
            [
                "campaign_id",
                "contact_id",
                "email",
                "language",
                "message_id",
                "token",
                "state",
                "attempts",
                "created_at",
            ],
            rows,
        )
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class ClaimedDelivery:
    id: int
    contact_id: int | None
    email: str
    language: str
    message_id: str
    token: str
    attempts: int


def due_deliveries(campaign_id: int, *, size: int, now: datetime) -> Select[Any]:
    """The next `size` queued rows of the campaign that are due, locked (others skipped).

    In the claim index's own order (ix_deliveries_claim: campaign, state,
    next_attempt_at, id), so PostgreSQL reads the rows it takes and stops: due retries
    first, then fresh rows. Ordered by id alone, it read past every row already sent
    (or sorted every queued one) at each claim: 29 ms a claim at 100,000 recipients,
    a third of the send."""
    return (
        select(col(Delivery.id))
        .where(
            col(Delivery.campaign_id) == campaign_id,
            col(Delivery.state) == DeliveryState.queued,
            or_(col(Delivery.next_attempt_at).is_(None), col(Delivery.next_attempt_at) <= now),
        )
        .order_by(col(Delivery.next_attempt_at).asc().nulls_last(), col(Delivery.id))
        .limit(size)
        .with_for_update(skip_locked=True)
    )


def claim_batch(
    session: Session,
    campaign_id: int,
    *,
    worker: str,
    size: int,
    lease_seconds: int,
    now: datetime | None = None,
) -> list[ClaimedDelivery]:
    """Lease the next due deliveries of a campaign that is sending. The caller commits
    at once, before any SMTP, so that other workers see the claim."""
    now = now or utcnow()
    status = session.scalar(select(col(Campaign.status)).where(col(Campaign.id) == campaign_id))
    if status != CampaignStatus.sending:
        return []
    due = due_deliveries(campaign_id, size=size, now=now)
    claimed = session.execute(
        update(Delivery)
        .where(col(Delivery.id).in_(due.scalar_subquery()))
        .values(
            state=DeliveryState.sending,
            lease_owner=worker,
            lease_expires_at=now + timedelta(seconds=lease_seconds),
            attempts=col(Delivery.attempts) + 1,
        )
        .returning(
            col(Delivery.id),
            col(Delivery.contact_id),
            col(Delivery.email),
            col(Delivery.language),
            col(Delivery.message_id),
            col(Delivery.token),
            col(Delivery.attempts),
        )
        .execution_options(synchronize_session=False)
    ).all()
    return sorted((ClaimedDelivery(*row) for row in claimed), key=lambda claim: claim.id)


@dataclass(frozen=True)
class Outcome:
    """What happened to one delivery: sent, to try again later, failed for good, or
    left out at send time."""

    delivery_id: int
    state: DeliveryState
    error: str | None = None
    retry_at: datetime | None = None
    # The relay was down: the try does not count toward SEND_MAX_ATTEMPTS, so an outage
    # never fails a recipient.
    refund_attempt: bool = False
    # When the relay answered 250 (sent rows); the checkpoint's time if not given.
    at: datetime | None = None


def record_results(
    session: Session,
    outcomes: list[Outcome],
    *,
    worker: str,
    renew_ids: Sequence[int] = (),
    lease_seconds: int = 60,
    now: datetime | None = None,
) -> int:
    """Write outcomes for the rows this worker still owns and renew its lease on the
    rows it is still sending; return how many outcomes were written."""
    now = now or utcnow()
    owned = and_(col(Delivery.lease_owner) == worker, col(Delivery.state) == DeliveryState.sending)
    written = 0
    sent = [(o.delivery_id, o.at or now) for o in outcomes if o.state is DeliveryState.sent]
    if sent:
        written += _record_sent(session, sent, owned)
    for outcome in outcomes:
        if outcome.state is DeliveryState.sent:
            continue
        result = session.execute(
            update(Delivery)
            .where(col(Delivery.id) == outcome.delivery_id, owned)
            .values(
                state=outcome.state,
                last_error=(outcome.error or "")[:_ERROR_LENGTH] or None,
                next_attempt_at=outcome.retry_at,
                lease_owner=None,
                lease_expires_at=None,
                attempts=col(Delivery.attempts) - (1 if outcome.refund_attempt else 0),
            )
            .execution_options(synchronize_session=False)
        )
        written += int(result.rowcount or 0)  # type: ignore[attr-defined]
    if renew_ids:
        session.execute(
            update(Delivery)
            .where(col(Delivery.id).in_(list(renew_ids)), owned)
            .values(lease_expires_at=now + timedelta(seconds=lease_seconds))
            .execution_options(synchronize_session=False)
        )
    return written


_SENT_VALUES = {
    "state": DeliveryState.sent,
    "last_error": None,
    "lease_owner": None,
    "lease_expires_at": None,
}


def _record_sent(
    session: Session, sent: list[tuple[int, datetime]], owned: ColumnElement[bool]
) -> int:
    """Mark rows sent, each with the moment of its own 250 (the progress rate and "first
    message out" are measured from it).

    On PostgreSQL one statement joins the rows to two arrays (`unnest`), a third of the
    client work of one UPDATE per row, whose statement SQLAlchemy compiles once. SQLite
    (the embedded default) runs the per-row statement as an executemany."""
    ids = [delivery_id for delivery_id, _ in sent]
    times = [at for _, at in sent]
    if session.get_bind().dialect.name == "postgresql":
        rows = (
            func.unnest(
                cast(bindparam("sent_ids", ids), ARRAY(Integer)),
                cast(bindparam("sent_times", times), ARRAY(DateTime(timezone=True))),
            )
            .table_valued("sent_id", "sent_at")
            .render_derived(name="sent_rows")
        )
        result = session.execute(
            update(Delivery)
            .where(col(Delivery.id) == rows.c.sent_id, owned)
            .values(sent_at=rows.c.sent_at, **_SENT_VALUES)
            .execution_options(synchronize_session=False)
        )
    else:
        # Core, for an executemany (the ORM would make it a bulk update by primary key).
        deliveries: Table = Delivery.__table__  # type: ignore[attr-defined]
        result = session.connection().execute(
            update(deliveries)
            .where(deliveries.c.id == bindparam("sent_id"), owned)
            .values(sent_at=bindparam("sent_at"), **_SENT_VALUES),
            [{"sent_id": i, "sent_at": at} for i, at in sent],
        )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def release(session: Session, delivery_ids: list[int], *, worker: str) -> None:
    """Give back rows claimed but not attempted (the campaign was paused meanwhile)."""
    if not delivery_ids:
        return
    session.execute(
        update(Delivery)
        .where(
            col(Delivery.id).in_(delivery_ids),
            col(Delivery.lease_owner) == worker,
            col(Delivery.state) == DeliveryState.sending,
        )
        .values(
            state=DeliveryState.queued,
            lease_owner=None,
            lease_expires_at=None,
            attempts=col(Delivery.attempts) - 1,
        )
        .execution_options(synchronize_session=False)
    )


def expire_leases(session: Session, now: datetime | None = None) -> int:
    """Return the rows of workers that stopped renewing (killed, hung) to the queue.
    Their messages may have left already: that is the bounded duplicate, with the same
    Message-ID.

    A row whose lease ran out at its last allowed attempt fails instead: claimed that
    many times and never finished, its worker died each time, perhaps because of the
    row itself, and it must not go on killing workers. (Only an expired lease leaves a
    row at the limit: every other way back to the queue, a 4xx, the relay down or a
    release, stays below it.)"""
    expired = and_(
        col(Delivery.state) == DeliveryState.sending,
        col(Delivery.lease_expires_at) < (now or utcnow()),
    )
    max_attempts = get_settings().send_max_attempts
    given_up = session.execute(
        update(Delivery)
        .where(expired, col(Delivery.attempts) >= max_attempts)
        .values(
            state=DeliveryState.failed,
            last_error=f"gave up: claimed {max_attempts} times and never finished",
            lease_owner=None,
            lease_expires_at=None,
        )
        .execution_options(synchronize_session=False)
    )
    requeued = session.execute(
        update(Delivery)
        .where(expired)
        .values(state=DeliveryState.queued, lease_owner=None, lease_expires_at=None)
        .execution_options(synchronize_session=False)
    )
    return int(given_up.rowcount or 0) + int(requeued.rowcount or 0)  # type: ignore[attr-defined]


def drop_cancelled(session: Session) -> int:
    """Rows of cancelled campaigns that were never sent end as suppressed ("cancelled"),
    so that the figures add up; rows a worker holds follow when it gives them back."""
    cancelled = select(col(Campaign.id)).where(col(Campaign.status) == CampaignStatus.cancelled)
    result = session.execute(
        update(Delivery)
        .where(
            col(Delivery.campaign_id).in_(cancelled), col(Delivery.state) == DeliveryState.queued
        )
        .values(
            state=DeliveryState.suppressed, last_error="campaign cancelled", next_attempt_at=None
        )
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def campaigns_with_work(session: Session) -> list[int]:
    """Campaigns that are sending and have rows queued or leased."""
    pending = (
        select(col(Delivery.campaign_id))
        .where(col(Delivery.state).in_([DeliveryState.queued, DeliveryState.sending]))
        .distinct()
    )
    return list(
        session.scalars(
            select(col(Campaign.id))
            .where(col(Campaign.status) == CampaignStatus.sending)
            .where(col(Campaign.id).in_(pending))
            .order_by(col(Campaign.id))
        )
    )


def finish_campaigns(session: Session, now: datetime | None = None) -> list[int]:
    """Mark as sent every sending campaign with nothing queued or leased."""
    from app.campaigns import lifecycle  # lifecycle calls into this module at launch

    pending = select(col(Delivery.campaign_id)).where(
        col(Delivery.state).in_([DeliveryState.queued, DeliveryState.sending])
    )
    done = session.scalars(
        select(Campaign)
        .where(col(Campaign.status) == CampaignStatus.sending)
        .where(col(Campaign.id).not_in(pending))
        .with_for_update(skip_locked=True)
    ).all()
    for campaign in done:
        lifecycle.finish(session, campaign, now=now)
    return [campaign.id or 0 for campaign in done]


@dataclass(frozen=True)
class Progress:
    queued: int = 0
    sending: int = 0
    sent: int = 0
    failed: int = 0
    suppressed: int = 0
    # Messages per second over the last RATE_WINDOW.
    rate: float = 0.0

    @property
    def total(self) -> int:
        return self.queued + self.sending + self.sent + self.failed + self.suppressed


RATE_WINDOW = timedelta(seconds=10)


def campaign_progress(session: Session, campaign_id: int, now: datetime | None = None) -> Progress:
    now = now or utcnow()
    counts = dict(
        session.execute(
            select(col(Delivery.state), func.count())
            .where(col(Delivery.campaign_id) == campaign_id)
            .group_by(col(Delivery.state))
        ).all()
    )
    recent = session.scalar(
        select(func.count()).where(
            col(Delivery.campaign_id) == campaign_id,
            col(Delivery.state) == DeliveryState.sent,
            col(Delivery.sent_at) > now - RATE_WINDOW,
        )
    )
    return Progress(
        **{state.value: int(counts.get(state, 0)) for state in DeliveryState},
        rate=round((recent or 0) / RATE_WINDOW.total_seconds(), 1),
    )
