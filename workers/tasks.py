"""Thin tasks: named, ids only, idempotent, one service call each."""

from app.core import jobs
from app.core.db import get_engine
from app.core.settings import get_settings
from app.delivery.mailer import DELIVER_TASK, deliver
from app.delivery.scan import SEND_BATCH_TASK, ScanReport, run_scan
from app.delivery.sender import send_campaign_batch
from app.reports import tallies
from app.tracking import stream
from workers.celery_app import celery_app


@celery_app.task(name=SEND_BATCH_TASK)
def send_batch(campaign_id: int) -> int:
    """Send one batch of a campaign. A full batch means there may be more: wake another
    worker before sending, so that idle workers join in."""
    report = send_campaign_batch(campaign_id, on_claimed=_wake_another_if_full)
    return report.sent


def _wake_another_if_full(campaign_id: int, claimed: int) -> None:
    if claimed >= get_settings().send_batch_size:
        jobs.dispatch(SEND_BATCH_TASK, campaign_id)


@celery_app.task(name="delivery.scan")
def scan() -> dict[str, object]:
    report: ScanReport = run_scan()
    return report.__dict__


@celery_app.task(name=DELIVER_TASK)
def deliver_mail(message_ids: list[int]) -> None:
    """Hand transactional messages (sign-in links, tests, approvals) to the relay."""
    deliver(message_ids)


@celery_app.task(name=stream.STORE_TASK)
def store_tracking_events() -> int:
    """Store the clicks and opens waiting in the Redis stream (TRACKING_EVENTS=stream)."""
    if not stream.is_enabled(get_engine().dialect.name):
        return 0
    return stream.drain()


@celery_app.task(name=tallies.COUNT_TASK)
def count_participation() -> list[int]:
    """Count the participation figures of the large alerts that are due."""
    return tallies.count_due()
