"""The periodic scan: the reason a lost Celery message costs seconds, never recipients.

Every few seconds (the `coalition scheduler` process) it starts scheduled campaigns
that are due, returns the rows of dead workers to the queue, marks campaigns with
nothing left as sent, wakes workers for every campaign that still has work, and asks
again for transactional mail whose hint was lost.
"""

from dataclasses import dataclass, field
from datetime import datetime

from app.campaigns import lifecycle
from app.core import jobs
from app.core.db import session_scope
from app.core.settings import get_settings
from app.core.types import utcnow
from app.delivery import store
from app.delivery.mailer import DELIVER_TASK, undelivered_message_ids
from app.delivery.messenger import SmtpMessenger, TemporaryFailure

SEND_BATCH_TASK = "delivery.send_batch"


@dataclass
class ScanReport:
    started: list[int] = field(default_factory=list)
    leases_expired: int = 0
    finished: list[int] = field(default_factory=list)
    woken: list[int] = field(default_factory=list)
    mail_retried: int = 0
    resumed: list[int] = field(default_factory=list)


def run_scan(now: datetime | None = None) -> ScanReport:
    """One pass, each step in a transaction of its own so that one failing step (a
    campaign whose launch fails) does not hold back the others."""
    now = now or utcnow()
    report = ScanReport()
    with session_scope() as session:
        report.started = lifecycle.launch_due_campaigns(session, now)
    report.resumed = _resume_if_relay_answers()
    with session_scope() as session:
        report.leases_expired = store.expire_leases(session, now)
        store.drop_cancelled(session)
    with session_scope() as session:
        report.finished = store.finish_campaigns(session, now)
    with session_scope(writes=False) as session:
        report.woken = store.campaigns_with_work(session)
        lost_mail = undelivered_message_ids(session, now)
    for campaign_id in report.woken:
        jobs.dispatch(SEND_BATCH_TASK, campaign_id)
    if lost_mail:
        jobs.dispatch(DELIVER_TASK, lost_mail)
        report.mail_retried = len(lost_mail)
    return report


def _resume_if_relay_answers() -> list[int]:
    """Probe the relay for campaigns the pipeline paused; resume them if it answers."""
    with session_scope(writes=False) as session:
        if not lifecycle.relay_paused_campaigns(session):
            return []
    settings = get_settings()
    if settings.mail_backend == "smtp":
        try:
            SmtpMessenger(settings).probe()
        except TemporaryFailure:
            return []  # still down: ask again at the next scan
    with session_scope() as session:
        return lifecycle.resume_after_relay(session)
