"""The periodic scan: the reason a lost Celery message costs seconds, never recipients.

Every few seconds (the `coalition scheduler` process) it starts scheduled campaigns
that are due, returns the rows of dead workers to the queue, marks campaigns with
nothing left as sent, and wakes workers for every campaign that still has work.
"""

from dataclasses import dataclass, field
from datetime import datetime

from app.campaigns import lifecycle
from app.core import jobs
from app.core.db import session_scope
from app.core.types import utcnow
from app.delivery import store

SEND_BATCH_TASK = "delivery.send_batch"


@dataclass
class ScanReport:
    started: list[int] = field(default_factory=list)
    leases_expired: int = 0
    finished: list[int] = field(default_factory=list)
    woken: list[int] = field(default_factory=list)


def run_scan(now: datetime | None = None) -> ScanReport:
    """One pass, each step in a transaction of its own so that one failing step (a
    campaign whose launch fails) does not hold back the others."""
    now = now or utcnow()
    report = ScanReport()
    with session_scope() as session:
        report.started = lifecycle.launch_due_campaigns(session, now)
    with session_scope() as session:
        report.leases_expired = store.expire_leases(session, now)
    with session_scope() as session:
        report.finished = store.finish_campaigns(session, now)
    with session_scope(writes=False) as session:
        report.woken = store.campaigns_with_work(session)
    for campaign_id in report.woken:
        jobs.dispatch(SEND_BATCH_TASK, campaign_id)
    return report
