"""The Celery app, configured from the same settings as the API.

Production uses Redis as the broker (CELERY_BROKER_URL, e.g. redis://127.0.0.1:6379/1).
The embedded default needs no server: kombu's SQLAlchemy transport on a SQLite file of
its own beside the database (so migrations never see its tables), with one worker
process. Messages are hints only (see app/core/jobs.py): no results are stored and no
task relies on ETA/countdown; the periodic scan finds due and unfinished work in the
database.
"""

from pathlib import Path
from typing import Any

from celery import Celery
from celery.signals import worker_init, worker_process_init
from sqlalchemy.engine import make_url

from app.campaigns.rendering import warm_up
from app.core.db import dispose_engine, get_engine
from app.core.settings import DEFAULT_VAR_DIR, Settings, get_settings
from app.reports.tallies import COUNT_TASK
from app.tracking.stream import STORE_TASK

SCAN_INTERVAL_SECONDS = 5.0
STORE_INTERVAL_SECONDS = 1.0


def broker_url(settings: Settings) -> str:
    if settings.celery_broker_url:
        return settings.celery_broker_url
    if settings.is_sqlite:
        database = Path(settings.database_url.split("///", 1)[-1])
        folder = database.parent if database.name not in ("", ":memory:") else DEFAULT_VAR_DIR
    else:
        folder = DEFAULT_VAR_DIR
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqla+sqlite:///{folder / 'broker.sqlite'}"


def create_celery_app(settings: Settings | None = None) -> Celery:
    settings = settings or get_settings()
    app = Celery("coalition", include=["workers.tasks"])
    app.conf.update(
        broker_url=broker_url(settings),
        broker_connection_retry_on_startup=True,
        # A hint that cannot be delivered is not worth waiting for: the scan re-sends.
        broker_connection_timeout=2,
        task_ignore_result=True,
        result_backend=None,
        # One hint at a time per process: a batch is already many messages.
        worker_prefetch_multiplier=1,
        task_acks_late=False,
        worker_hijack_root_logger=False,
        # Beat saves its state after every task it sends: the scheduler's health check
        # reads the file's age.
        beat_sync_every=1,
        beat_schedule={
            "delivery.scan": {"task": "delivery.scan", "schedule": SCAN_INTERVAL_SECONDS},
            # Large alerts' participation figures (app/reports/tallies.py).
            COUNT_TASK: {"task": COUNT_TASK, "schedule": settings.report_refresh_seconds},
            # Clicks and opens waiting in Redis (app/tracking/stream.py), when they go
            # that way.
            **(
                {STORE_TASK: {"task": STORE_TASK, "schedule": STORE_INTERVAL_SECONDS}}
                if settings.tracking_events == "stream"
                else {}
            ),
        },
        timezone="UTC",
    )
    return app


celery_app = create_celery_app()


@worker_init.connect
def _load_before_the_pool_forks(**_kwargs: Any) -> None:
    """What every process needs, loaded once before the pool forks: otherwise each
    process loads it on its first task, and the first message of an alert waits (the
    database driver took about a second of CPU a process here, the catalogues and the
    message layout 0.3 s). No engine or connection yet: those must not cross a fork."""
    make_url(get_settings().database_url).get_dialect()
    warm_up()


@worker_process_init.connect
def _fresh_database_connections(**_kwargs: Any) -> None:
    """Connections must not cross a fork: each worker process opens its own, now, so
    that the first task finds it ready."""
    dispose_engine()
    with get_engine().connect():
        pass
