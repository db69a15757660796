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
from functools import cache
from typing import Any

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Connection,
    DateTime,
    Integer,
    Select,
    String,
    Table,
    and_,
    any_,
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
from app.core.types import UTCDateTime, utcnow
from app.delivery.models import Delivery, DeliveryState
from app.members.models import BounceStatus, Contact

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


def due_deliveries(
    campaign_id: int | ColumnElement[int],
    *,
    size: int | ColumnElement[int],
    now: datetime | ColumnElement[datetime],
) -> Select[Any]:
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
    connection: Connection,
    campaign_id: int,
    *,
    worker: str,
    size: int,
    lease_seconds: int,
    now: datetime | None = None,
) -> list[ClaimedDelivery]:
    """Lease the next due deliveries of a campaign that is sending. The caller commits
    at once, before any SMTP, so that other workers see the claim.

    In Core, with statements built once per process: a batch's claim is on the send
    path, and an ORM session around it cost more than the claim itself."""
    now = now or utcnow()
    status = connection.execute(
        _checkpoint_statements().status, {"status_of_campaign": campaign_id}
    ).scalar()
    if status != CampaignStatus.sending:
        return []
    claimed = connection.execute(
        _claim_statement(),
        {
            "claim_campaign": campaign_id,
            "claim_size": size,
            "claim_now": now,
            "claim_worker": worker,
            "claim_until": now + timedelta(seconds=lease_seconds),
        },
    ).all()
    return sorted((ClaimedDelivery(*row) for row in claimed), key=lambda claim: claim.id)


@cache
def _claim_statement() -> Any:
    # No parameter may be named after a column of deliveries (see record_results).
    deliveries: Table = Delivery.__table__  # type: ignore[attr-defined]
    due = due_deliveries(
        bindparam("claim_campaign", type_=Integer),
        size=bindparam("claim_size", type_=Integer),
        now=bindparam("claim_now", type_=UTCDateTime),
    )
    return (
        update(deliveries)
        .where(deliveries.c.id.in_(due.scalar_subquery()))
        .values(
            state=DeliveryState.sending,
            lease_owner=bindparam("claim_worker", type_=String),
            lease_expires_at=bindparam("claim_until", type_=UTCDateTime),
            attempts=deliveries.c.attempts + 1,
        )
        .returning(
            deliveries.c.id,
            deliveries.c.contact_id,
            deliveries.c.email,
            deliveries.c.language,
            deliveries.c.message_id,
            deliveries.c.token,
            deliveries.c.attempts,
        )
    )


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


@dataclass(frozen=True)
class Checkpoint:
    written: int  # outcomes written (rows this worker still owned)
    campaign_status: CampaignStatus | None  # the campaign's status as it was recorded


def record_results(
    connection: Connection,
    outcomes: Sequence[Outcome],
    *,
    worker: str,
    campaign_id: int | None = None,
    renew_ids: Sequence[int] = (),
    lease_seconds: int = 60,
    refused_contacts: Sequence[int] = (),
    now: datetime | None = None,
) -> Checkpoint:
    """A worker's checkpoint: write the outcomes for the rows it still owns, renew its
    lease on the rows it is still sending, count the relay's refusals as hard bounces
    of their contacts (not mailed again until the address is corrected), and read the
    campaign's status (a person may have paused it meanwhile). A refusal counts only
    where this checkpoint wrote the row's failure: a worker that lost its lease, or a
    checkpoint tried again after a commit that landed, counts no bounce.

    Every checkpoint of every batch runs this, so on PostgreSQL it is one statement, one
    round trip, built once per process: each outcome's row is joined to arrays
    (`unnest`), and the lease and the bounces are data-modifying CTEs beside it. On
    SQLite (the embedded default) the same statements run one after the other."""
    now = now or utcnow()
    rows = [_outcome_row(outcome, now) for outcome in outcomes]
    # A row with an outcome is no longer being sent: never renewed in the same breath
    # (two updates of one row in one PostgreSQL statement apply only one of them).
    written_ids = {row["outcome_id"] for row in rows}
    renew_ids = [delivery_id for delivery_id in renew_ids if delivery_id not in written_ids]
    lease_until = now + timedelta(seconds=lease_seconds)
    # No parameter may be named after a column of the tables updated: SQLAlchemy would
    # add it to their SET clause.
    if connection.dialect.name == "postgresql":
        written, status = connection.execute(
            _checkpoint_statement(),
            {
                "worker": worker,
                "status_of_campaign": campaign_id or 0,
                "outcome_ids": [row["outcome_id"] for row in rows],
                "outcome_states": [row["outcome_state"] for row in rows],
                "outcome_errors": [row["outcome_error"] for row in rows],
                "outcome_retry_at": [row["outcome_retry_at"] for row in rows],
                "outcome_sent_at": [row["outcome_sent_at"] for row in rows],
                "outcome_refunds": [row["outcome_refund"] for row in rows],
                "renew_ids": list(renew_ids),
                "lease_until": lease_until,
                "refused_contacts": list(refused_contacts),
                "now": now,
            },
        ).one()
        return Checkpoint(int(written), CampaignStatus(status) if status else None)
    statements = _checkpoint_statements()
    written = 0
    if refused_contacts and rows:  # first: the outcomes end the ownership it checks
        connection.execute(
            statements.bounce,
            {
                "refused_contacts": list(refused_contacts),
                "outcome_ids": list(written_ids),
                "worker": worker,
                "now": now,
            },
        )
    if rows:
        result = connection.execute(statements.outcome, [{**row, "worker": worker} for row in rows])
        written = int(result.rowcount or 0)
    if renew_ids:
        connection.execute(
            statements.renew,
            {"renew_ids": list(renew_ids), "worker": worker, "lease_until": lease_until},
        )
    status = connection.execute(
        statements.status, {"status_of_campaign": campaign_id or 0}
    ).scalar()
    return Checkpoint(written, CampaignStatus(status) if status else None)


def _outcome_row(outcome: Outcome, now: datetime) -> dict[str, Any]:
    sent = outcome.state is DeliveryState.sent
    return {
        "outcome_id": outcome.delivery_id,
        "outcome_state": outcome.state.value,
        "outcome_error": None if sent else (outcome.error or "")[:_ERROR_LENGTH] or None,
        "outcome_retry_at": _aware(outcome.retry_at),
        # The moment of the row's own 250: the progress rate and "first message out" are
        # measured from it.
        "outcome_sent_at": _aware(outcome.at or now) if sent else None,
        "outcome_refund": 1 if outcome.refund_attempt else 0,
    }


def _aware(moment: datetime | None) -> datetime | None:
    """As UTCDateTime checks a column's value (PostgreSQL's arrays bypass it)."""
    if moment is not None and moment.utcoffset() is None:
        raise ValueError("naive datetime given for a delivery's outcome")
    return moment


@dataclass(frozen=True)
class _CheckpointStatements:
    outcome: Any
    renew: Any
    bounce: Any
    status: Any


def _owned(deliveries: Table, worker: Any) -> ColumnElement[bool]:
    """Rows this worker still holds: after its lease ran out, nothing it writes counts."""
    return and_(deliveries.c.lease_owner == worker, deliveries.c.state == DeliveryState.sending)


def _checkpoint_changes(deliveries: Table, source: Any) -> dict[str, Any]:
    """What an outcome writes, from `source`'s columns (bind parameters on SQLite, the
    unnested arrays on PostgreSQL)."""
    return {
        "state": source.outcome_state,
        "last_error": source.outcome_error,
        "next_attempt_at": source.outcome_retry_at,
        "sent_at": func.coalesce(source.outcome_sent_at, deliveries.c.sent_at),
        # The relay was down: that try does not count toward SEND_MAX_ATTEMPTS.
        "attempts": deliveries.c.attempts - source.outcome_refund,
        "lease_owner": None,
        "lease_expires_at": None,
    }


@cache
def _checkpoint_statements() -> _CheckpointStatements:
    """The checkpoint's statements with bind parameters, built once (SQLAlchemy then
    reuses their compiled form)."""
    deliveries: Table = Delivery.__table__  # type: ignore[attr-defined]
    contacts: Table = Contact.__table__  # type: ignore[attr-defined]
    campaigns: Table = Campaign.__table__  # type: ignore[attr-defined]
    worker = bindparam("worker", type_=String)

    class _Params:
        outcome_state = bindparam("outcome_state", type_=String)
        outcome_error = bindparam("outcome_error", type_=String)
        outcome_retry_at = bindparam("outcome_retry_at", type_=UTCDateTime)
        outcome_sent_at = bindparam("outcome_sent_at", type_=UTCDateTime)
        outcome_refund = bindparam("outcome_refund", type_=Integer)

    return _CheckpointStatements(
        outcome=update(deliveries)
        .where(deliveries.c.id == bindparam("outcome_id"), _owned(deliveries, worker))
        .values(_checkpoint_changes(deliveries, _Params)),
        renew=update(deliveries)
        .where(
            deliveries.c.id.in_(bindparam("renew_ids", expanding=True)),
            _owned(deliveries, worker),
        )
        .values(lease_expires_at=bindparam("lease_until", type_=UTCDateTime)),
        bounce=_hard_bounces(
            contacts,
            and_(
                contacts.c.id.in_(bindparam("refused_contacts", expanding=True)),
                contacts.c.id.in_(
                    select(deliveries.c.contact_id).where(
                        deliveries.c.id.in_(bindparam("outcome_ids", expanding=True)),
                        _owned(deliveries, worker),
                    )
                ),
            ),
        ),
        status=select(campaigns.c.status).where(campaigns.c.id == bindparam("status_of_campaign")),
    )


def _hard_bounces(contacts: Table, refused: ColumnElement[bool]) -> Any:
    """A relay's 5xx for a recipient is a hard bounce: the contact is not mailed again
    until the address is corrected."""
    return (
        update(contacts)
        .where(refused)
        .values(
            bounce_status=BounceStatus.hard,
            hard_bounce_count=contacts.c.hard_bounce_count + 1,
            last_bounced_at=bindparam("now", type_=UTCDateTime),
        )
    )


@cache
def _checkpoint_statement() -> Any:
    """PostgreSQL's checkpoint in one statement (see record_results)."""
    deliveries: Table = Delivery.__table__  # type: ignore[attr-defined]
    contacts: Table = Contact.__table__  # type: ignore[attr-defined]
    campaigns: Table = Campaign.__table__  # type: ignore[attr-defined]
    worker = bindparam("worker", type_=String)

    def array(name: str, item: Any) -> Any:
        return cast(bindparam(name), ARRAY(item))

    outcomes = (
        func.unnest(
            array("outcome_ids", Integer),
            array("outcome_states", String),
            array("outcome_errors", String),
            array("outcome_retry_at", DateTime(timezone=True)),
            array("outcome_sent_at", DateTime(timezone=True)),
            array("outcome_refunds", Integer),
        )
        .table_valued(
            "outcome_id",
            "outcome_state",
            "outcome_error",
            "outcome_retry_at",
            "outcome_sent_at",
            "outcome_refund",
        )
        .render_derived(name="outcomes")
    )
    written = (
        update(deliveries)
        .where(deliveries.c.id == outcomes.c.outcome_id, _owned(deliveries, worker))
        .values(_checkpoint_changes(deliveries, outcomes.c))
        .returning(deliveries.c.id, deliveries.c.contact_id, deliveries.c.state)
        .cte("written")
    )
    renewed = (
        update(deliveries)
        .where(deliveries.c.id == any_(array("renew_ids", Integer)), _owned(deliveries, worker))
        .values(lease_expires_at=bindparam("lease_until", type_=UTCDateTime))
        .returning(deliveries.c.id)
        .cte("renewed")
    )
    bounced = (
        _hard_bounces(
            contacts,
            and_(
                contacts.c.id == any_(array("refused_contacts", Integer)),
                contacts.c.id.in_(
                    select(written.c.contact_id).where(
                        written.c.state == DeliveryState.failed.value
                    )
                ),
            ),
        )
        .returning(contacts.c.id)
        .cte("bounced")
    )
    # Data-modifying CTEs run to completion whether or not the query reads them.
    return select(
        select(func.count()).select_from(written).scalar_subquery(),
        select(campaigns.c.status)
        .where(campaigns.c.id == bindparam("status_of_campaign"))
        .scalar_subquery(),
    ).add_cte(renewed, bounced)


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


# Claims a row may lose to dead workers beyond its tries before it counts as the cause.
WORKER_DEATHS_FORGIVEN = 2


def expire_leases(session: Session, now: datetime | None = None) -> int:
    """Return the rows of workers that stopped renewing (killed, hung) to the queue.
    Their messages may have left already: that is the bounded duplicate, with the same
    Message-ID.

    A row whose lease runs out with its tries used up and WORKER_DEATHS_FORGIVEN claims
    beyond them fails instead: its worker died again and again, perhaps because of the
    row itself, and it must not go on killing workers. The margin is there so that a
    worker killed once while holding a row at its last try (after four greylistings,
    say, or with SEND_MAX_ATTEMPTS=1) does not fail a recipient nobody tried. (Only
    expired leases take a row past its tries: every other way back to the queue, a
    4xx, the relay down or a release, stays below them.)"""
    expired = and_(
        col(Delivery.state) == DeliveryState.sending,
        col(Delivery.lease_expires_at) < (now or utcnow()),
    )
    claims_allowed = get_settings().send_max_attempts + WORKER_DEATHS_FORGIVEN
    given_up = session.execute(
        update(Delivery)
        .where(expired, col(Delivery.attempts) >= claims_allowed)
        .values(
            state=DeliveryState.failed,
            last_error=f"gave up: claimed {claims_allowed} times and never finished",
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
