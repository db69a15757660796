"""The send pipeline under a real Celery worker, started as `coalition worker` and
`coalition scheduler` processes against a database they share with the test: the
embedded default (SQLite, kombu's SQLAlchemy broker, the outbox) sends a launched alert
to everyone with no server at all.

Production (PostgreSQL, Redis, SMTP) under faults (SIGKILLed workers, a broker
restart, a flaky then absent relay, killed database connections, a killed scheduler)
is in tests/faults/, on the same machinery (tests/faults/harness.py).
"""

from pathlib import Path

import pytest
from sqlmodel import Session, col, func, select

from app.campaigns.models import CampaignStatus
from app.delivery.models import DeliveryState, OutboxMessage
from tests.faults.harness import base_env, prepare, process, wait_for

# Its own databases and processes: CI runs it in one of its two passes only.
pytestmark = pytest.mark.standalone


def test_the_embedded_default_sends_with_no_server_at_all(tmp_path: Path) -> None:
    database = tmp_path / "embedded" / "coalition.db"
    env = base_env(f"sqlite:///{database}", MAIL_BACKEND="outbox")
    env.pop("CELERY_BROKER_URL", None)
    installation = prepare(env["DATABASE_URL"], organizations=15)
    log = tmp_path / "processes.log"
    state = tmp_path / "beat-state"
    with (
        process("worker", env=env, log=log),
        process("scheduler", "--state-file", str(state), env=env, log=log),
    ):
        wait_for(
            lambda: installation.status() is CampaignStatus.sent,
            timeout=90,
            what="the campaign to be sent",
            log=log,
        )
    assert (database.parent / "broker.sqlite").exists()  # the broker's own file
    assert installation.count(DeliveryState.sent) == installation.recipients > 20
    with Session(installation.engine) as session:
        stored = session.scalar(
            select(func.count()).where(col(OutboxMessage.purpose) == "campaign")
        )
    assert stored == installation.recipients
