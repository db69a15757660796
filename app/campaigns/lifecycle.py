"""The life of an alert: draft → approved → scheduled → sending ⇄ paused → sent, or
cancelled.

Each action is allowed in some states only; anything else is a 409 that says which
state the campaign is in and what it allows. Every transition is audited.

- With approval required (the default), a secretariat member other than the author
  approves; editing an approved or scheduled campaign returns it to draft.
- Launching with a future `send_at` schedules; a periodic scan of the database
  (`launch_due_campaigns`) starts scheduled campaigns when they are due. No broker's
  delayed delivery is involved, so a restart loses no schedule.
- The recipients are fixed when the campaign enters `sending` (the send pipeline turns
  the audience into delivery rows then), not when it is scheduled.
"""

from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import inspect
from sqlmodel import Session, col, select

from app.accounts.principal import Principal, Role
from app.campaigns.models import Campaign, CampaignStatus
from app.core import jobs
from app.core.audit import record_audit
from app.core.errors import Conflict, Forbidden, ValidationFailed
from app.core.settings import get_settings
from app.core.types import utcnow
from app.delivery import store


class Action(StrEnum):
    edit = "edit"
    delete = "delete"
    approve = "approve"
    launch = "launch"
    pause = "pause"
    resume = "resume"
    cancel = "cancel"


_ALLOWED: dict[CampaignStatus, frozenset[Action]] = {
    CampaignStatus.draft: frozenset({Action.edit, Action.delete, Action.approve, Action.cancel}),
    CampaignStatus.approved: frozenset({Action.edit, Action.delete, Action.launch, Action.cancel}),
    # Launching a scheduled campaign again reschedules it, or starts it now.
    CampaignStatus.scheduled: frozenset({Action.edit, Action.launch, Action.cancel}),
    CampaignStatus.sending: frozenset({Action.pause, Action.cancel}),
    # A pause the pipeline made (relay down) can be made a person's, so it stays.
    CampaignStatus.paused: frozenset({Action.resume, Action.cancel}),
    CampaignStatus.sent: frozenset(),
    CampaignStatus.cancelled: frozenset(),
}

# A time a little in the past (a slow form, a clock a few seconds off) means "now".
_SEND_AT_GRACE = timedelta(minutes=5)
_SEND_AT_HORIZON = timedelta(days=366)
# Who the audit log names for what the periodic scan does.
SCHEDULER = Principal(actor="scheduler", role=Role.secretariat)


def allowed_actions(campaign: Campaign) -> frozenset[Action]:
    actions = set(_ALLOWED[campaign.status])
    if campaign.status is CampaignStatus.paused and campaign.paused_by_pipeline:
        actions.add(Action.pause)
    if campaign.status is CampaignStatus.draft and not get_settings().campaign_approval_required:
        actions.add(Action.launch)
    if campaign.status is CampaignStatus.cancelled and campaign.launched_at is None:
        actions.add(Action.delete)  # it never sent anything: nothing to keep
    return frozenset(actions)


def require_allowed(campaign: Campaign, action: Action) -> None:
    allowed = allowed_actions(campaign)
    if action in allowed:
        return
    hint = ""
    if action is Action.launch and campaign.status is CampaignStatus.draft:
        hint = " It must be approved first."
    options = ", ".join(sorted(allowed)) or "nothing more"
    raise Conflict(
        f"Cannot {action} this campaign: it is {campaign.status}.{hint} "
        f"From {campaign.status} you can: {options}.",
        field="status",
    )


def _transition(
    session: Session,
    principal: Principal,
    campaign: Campaign,
    to: CampaignStatus,
    action: str,
    note: str | None = None,
) -> None:
    before = campaign.status
    campaign.status = to
    campaign.updated_at = utcnow()
    record_audit(
        session,
        actor=principal.actor,
        action=f"campaign.{action}",
        target_type="campaign",
        target_id=campaign.id,
        before={"status": before},
        after={"status": to, **_times(campaign)},
        note=note,
    )
    session.flush()


def _times(campaign: Campaign) -> dict[str, datetime | str | None]:
    return {
        key: value
        for key, value in {
            "send_at": campaign.send_at,
            "send_timezone": campaign.send_timezone,
            "approved_by_id": str(campaign.approved_by_id) if campaign.approved_by_id else None,
        }.items()
        if value is not None
    }


def _read_under_lock(session: Session, campaign: Campaign) -> None:
    """Lock the campaign's row and read it again before deciding a transition.

    Another transaction may have changed the status since this one read it: a person's
    pause while the scan resumes the campaign, or a worker's pause for the relay just
    after a person's. The ORM writes only the columns this transaction changed, so a
    decision taken on the old state would silently undo theirs. Pending changes are
    written first, so the refresh keeps them (SQLite's up-front write lock already
    serialises writers; it ignores FOR UPDATE)."""
    if inspect(campaign).persistent:
        session.flush()
        session.refresh(campaign, with_for_update=True)


def approve(session: Session, principal: Principal, campaign: Campaign) -> None:
    _read_under_lock(session, campaign)
    require_allowed(campaign, Action.approve)
    if principal.user_id == campaign.author_id:
        raise Forbidden(
            "You wrote this alert: another secretariat member must approve it", field="author"
        )
    campaign.approved_by_id = principal.user_id
    campaign.approved_at = utcnow()
    _transition(session, principal, campaign, CampaignStatus.approved, "approved")


def launch(
    session: Session,
    principal: Principal,
    campaign: Campaign,
    *,
    send_at: datetime | None = None,
    timezone: str | None = None,
) -> None:
    """Start sending now, or schedule when `send_at` is in the future."""
    _read_under_lock(session, campaign)
    require_allowed(campaign, Action.launch)
    now = utcnow()
    zone = _zone_name(timezone, send_at)
    if send_at is not None:
        if send_at < now - _SEND_AT_GRACE:
            raise ValidationFailed(
                f"send_at is in the past ({send_at.isoformat()}); leave it out to send now",
                field="send_at",
            )
        if send_at > now + _SEND_AT_HORIZON:
            raise ValidationFailed("send_at must be within a year from now", field="send_at")
    if send_at is not None and send_at > now:
        campaign.send_at = send_at
        campaign.send_timezone = zone
        _transition(session, principal, campaign, CampaignStatus.scheduled, "scheduled")
        return
    campaign.send_at = None
    campaign.send_timezone = None
    start_sending(session, principal, campaign)


def start_sending(session: Session, principal: Principal, campaign: Campaign) -> None:
    """Enter `sending`: this is the moment the recipients are fixed, as delivery rows
    written in the same transaction. Workers are woken once it commits."""
    campaign.launched_at = utcnow()
    recipients = store.snapshot_recipients(session, campaign)
    _transition(
        session,
        principal,
        campaign,
        CampaignStatus.sending,
        "launched",
        note=f"{recipients} recipients",
    )
    jobs.enqueue_after_commit(session, "delivery.send_batch", campaign.id)


def finish(session: Session, campaign: Campaign, *, now: datetime | None = None) -> None:
    """Nothing left to send: every delivery is sent, failed or suppressed."""
    campaign.finished_at = now or utcnow()
    _transition(session, SCHEDULER, campaign, CampaignStatus.sent, "sent")


def pause(session: Session, principal: Principal, campaign: Campaign) -> None:
    """A person's pause (also of a campaign the pipeline paused): only a person lifts it."""
    _read_under_lock(session, campaign)
    if campaign.status is CampaignStatus.paused and campaign.paused_by_pipeline:
        campaign.paused_by_pipeline = False
        campaign.paused_reason = None
        _transition(session, principal, campaign, CampaignStatus.paused, "paused")
        return
    require_allowed(campaign, Action.pause)
    _transition(session, principal, campaign, CampaignStatus.paused, "paused")


def pause_for_relay(session: Session, campaign: Campaign, reason: str) -> bool:
    """The pipeline's own pause when the relay stops answering; the scan lifts it once
    the relay answers again. Returns whether it paused (it may have been paused already)."""
    _read_under_lock(session, campaign)
    if campaign.status is not CampaignStatus.sending:
        return False
    campaign.paused_by_pipeline = True
    campaign.paused_reason = reason[:500]
    _transition(
        session, SCHEDULER, campaign, CampaignStatus.paused, "paused", note=campaign.paused_reason
    )
    return True


def resume_after_relay(session: Session) -> list[int]:
    """Lift the pipeline's own pauses (the relay answers again); a person's stay."""
    campaigns = session.scalars(
        select(Campaign)
        .where(col(Campaign.status) == CampaignStatus.paused)
        .where(col(Campaign.paused_by_pipeline))
        .with_for_update(skip_locked=True)
    ).all()
    for campaign in campaigns:
        resume(session, SCHEDULER, campaign)
        jobs.enqueue_after_commit(session, "delivery.send_batch", campaign.id)
    return [campaign.id or 0 for campaign in campaigns]


def relay_paused_campaigns(session: Session) -> bool:
    return (
        session.scalar(
            select(col(Campaign.id))
            .where(col(Campaign.status) == CampaignStatus.paused)
            .where(col(Campaign.paused_by_pipeline))
            .limit(1)
        )
        is not None
    )


def resume(session: Session, principal: Principal, campaign: Campaign) -> None:
    _read_under_lock(session, campaign)
    require_allowed(campaign, Action.resume)
    campaign.paused_by_pipeline = False
    campaign.paused_reason = None
    _transition(session, principal, campaign, CampaignStatus.sending, "resumed")
    jobs.enqueue_after_commit(session, "delivery.send_batch", campaign.id)


def cancel(session: Session, principal: Principal, campaign: Campaign) -> None:
    _read_under_lock(session, campaign)
    require_allowed(campaign, Action.cancel)
    campaign.cancelled_at = utcnow()
    _transition(session, principal, campaign, CampaignStatus.cancelled, "cancelled")
    store.drop_cancelled(session)


def return_to_draft(session: Session, principal: Principal, campaign: Campaign) -> None:
    """After an edit: an approval covers what was approved, not what it became."""
    _read_under_lock(session, campaign)
    if campaign.status not in (CampaignStatus.approved, CampaignStatus.scheduled):
        return
    campaign.approved_by_id = None
    campaign.approved_at = None
    campaign.send_at = None
    campaign.send_timezone = None
    _transition(
        session,
        principal,
        campaign,
        CampaignStatus.draft,
        "returned_to_draft",
        note="Edited after approval: it needs approving again",
    )


def launch_due_campaigns(session: Session, now: datetime | None = None) -> list[int]:
    """The periodic scan: start every scheduled campaign whose time has come.

    The rows are locked as they are read (SKIP LOCKED on PostgreSQL; SQLite's write
    lock is taken up front), so two scanners at once (a restarted scheduler beside the
    old one) start each campaign once.
    """
    now = now or utcnow()
    due = session.scalars(
        select(Campaign)
        .where(col(Campaign.status) == CampaignStatus.scheduled)
        .where(col(Campaign.send_at) <= now)
        .order_by(col(Campaign.send_at), col(Campaign.id))
        .with_for_update(skip_locked=True)
    ).all()
    for campaign in due:
        start_sending(session, SCHEDULER, campaign)
    return [campaign.id or 0 for campaign in due]


def _zone_name(timezone: str | None, send_at: datetime | None) -> str | None:
    """The IANA zone the time was chosen in, or failing that its UTC offset."""
    if timezone:
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValidationFailed(
                f"Unknown time zone {timezone!r}: use an IANA name such as 'Europe/Zurich'",
                field="timezone",
            ) from None
        return timezone
    if send_at is not None:
        return _utc_offset_name(send_at.utcoffset())
    return None


def _utc_offset_name(offset: timedelta | None) -> str:
    """The offset as a zone name, such as UTC+05:30 (UTC for none); strftime's %:z,
    which would do it, needs Python 3.12."""
    if not offset:
        return "UTC"
    minutes = int(offset.total_seconds()) // 60
    hours, minutes = divmod(abs(minutes), 60)
    return f"UTC{'-' if offset < timedelta(0) else '+'}{hours:02d}:{minutes:02d}"
