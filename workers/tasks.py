"""Thin tasks: named, ids only, idempotent, one service call each."""

from app.core import jobs
from app.core.settings import get_settings
from app.delivery.mailer import DELIVER_TASK, deliver
from app.delivery.scan import SEND_BATCH_TASK, ScanReport, run_scan
from app.delivery.sender import send_campaign_batch
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
