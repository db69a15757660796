"""Background jobs are enqueued only after the transaction that asked for them commits.

A rolled-back request enqueues nothing, and a worker never wakes up to rows it cannot
see yet. The messages are hints: the database holds the work, and the periodic scan
(`delivery.scan`) re-enqueues whatever a lost message would have started, so a broker
that is down costs seconds and never fails the request that asked.
"""

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlmodel import Session

from app.core.db import SessionFactory

log = logging.getLogger(__name__)

_PENDING = "core.jobs_pending"  # session.info key

Dispatcher = Callable[[str, tuple[Any, ...]], None]
_dispatcher: Dispatcher | None = None


def use_dispatcher(dispatcher: Dispatcher | None) -> None:
    """Where committed jobs go: the broker (None, the default) or, in tests, a recorder."""
    global _dispatcher
    _dispatcher = dispatcher


def enqueue_after_commit(session: Session, task_name: str, *args: Any) -> None:
    pending: list[tuple[str, tuple[Any, ...]]] = session.info.setdefault(_PENDING, [])
    if (task_name, args) not in pending:
        pending.append((task_name, args))


@event.listens_for(SessionFactory, "after_commit")
def _send_after_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return  # only a SAVEPOINT was released
    for task_name, args in session.info.pop(_PENDING, []):
        dispatch(task_name, *args)


def dispatch(task_name: str, *args: Any) -> None:
    """Enqueue now (for callers outside a transaction, such as the periodic scan)."""
    if _dispatcher is not None:
        _dispatcher(task_name, args)
    else:
        send_now(task_name, *args)


@event.listens_for(SessionFactory, "after_rollback")
def _forget_after_rollback(session: Session) -> None:
    if not session.in_nested_transaction():
        session.info.pop(_PENDING, None)


def send_now(task_name: str, *args: Any) -> None:
    """Hand a task to the broker; log and carry on if it cannot be reached."""
    from workers.celery_app import celery_app  # the Celery app imports the services

    try:
        celery_app.send_task(task_name, args=list(args), retry=False)
    except Exception:  # the scan will pick the work up; the request must not fail
        log.warning("Could not enqueue %s%s; the periodic scan will", task_name, args)


def warm_up() -> None:
    """Make the first job of a process as quick as the next: import the Celery app and
    its result backend and connect to the broker now, at the process's start. Done in
    the first request to enqueue (an alert's launch), they held its first message back
    by 0.2 to 0.7 s. A broker that is down is only logged: the scan catches up."""
    if _dispatcher is not None:
        return  # jobs go elsewhere (tests)
    from workers.celery_app import celery_app

    celery_app.backend  # noqa: B018  (imported on first use)
    try:
        with celery_app.producer_or_acquire() as producer:
            producer.connection.ensure_connection(max_retries=1)
    except Exception:
        log.warning("The broker is not reachable yet; jobs will be sent when it is")
