"""TRACKING_EVENTS=stream: clicks and opens go through a Redis stream that the workers
store in bulk (app/tracking/stream.py). What an answer promises still holds: each
answered click or open is stored once, bursts and scanners are still marked, and a
Redis that refuses the event gets it stored directly instead."""

from collections.abc import Iterator
from datetime import timedelta

import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy import Connection
from sqlmodel import Session, col, select

from app.core.settings import get_settings
from app.delivery.models import Delivery
from app.tracking import stream
from app.tracking.models import ResponseEvent, ResponseKind
from app.tracking.signing import Purpose
from tests.conftest import missing_service
from tests.tracking.conftest import ENGLISH_LINKS, link

BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
REDIS_URL = "redis://127.0.0.1:6379/15"


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError:
        missing_service(f"Redis is not running at {REDIS_URL}")
    client.delete(stream.STREAM)
    yield client
    client.delete(stream.STREAM)
    client.close()


@pytest.fixture
def stream_path(
    monkeypatch: pytest.MonkeyPatch, redis_client: redis.Redis, connection: Connection
) -> Iterator[redis.Redis]:
    if connection.dialect.name == "sqlite":
        pytest.skip("the stream path is for PostgreSQL; SQLite keeps the direct path")
    monkeypatch.setenv("TRACKING_EVENTS", "stream")
    monkeypatch.setenv("REDIS_URL", REDIS_URL)
    get_settings.cache_clear()
    stream.reset_client()
    yield redis_client
    stream.reset_client()
    get_settings.cache_clear()


def events(session: Session, delivery: Delivery) -> list[ResponseEvent]:
    session.expire_all()
    return list(
        session.scalars(
            select(ResponseEvent)
            .where(col(ResponseEvent.delivery_id) == delivery.id)
            .order_by(col(ResponseEvent.id))
        )
    )


def store_all(connection: Connection, client: redis.Redis) -> int:
    """What the worker's task does, in the test's transaction."""
    stored = 0
    while entries := stream.read_batch(client):
        stored += stream.store(connection, entries)
        stream.acknowledge(client, [entry_id for entry_id, _fields in entries])
    return stored


def test_a_click_is_answered_from_the_stream_and_stored_by_the_worker(
    public: TestClient,
    session: Session,
    connection: Connection,
    delivery: Delivery,
    stream_path: redis.Redis,
) -> None:
    click = public.get(f"{link(delivery, Purpose.click)}/1", headers={"User-Agent": BROWSER})
    opened = public.get(link(delivery, Purpose.open) + ".gif", headers={"User-Agent": ""})

    assert (click.status_code, click.headers["location"]) == (303, ENGLISH_LINKS[0])
    assert opened.status_code == 200
    assert events(session, delivery) == []  # not yet: in Redis
    assert stream.pending(stream_path) == 2

    assert store_all(connection, stream_path) == 2

    stored = events(session, delivery)
    assert [(e.kind, e.link_number, e.automated, e.automated_reason) for e in stored] == [
        (ResponseKind.clicked, 1, False, None),
        (ResponseKind.opened, None, True, "no user agent"),
    ]
    assert stored[0].campaign_id == delivery.campaign_id
    assert stored[0].contact_id == delivery.contact_id
    assert stream.pending(stream_path) == 0


def test_the_worker_marks_a_burst_of_every_link(
    public: TestClient,
    session: Session,
    connection: Connection,
    delivery: Delivery,
    stream_path: redis.Redis,
) -> None:
    for number in (1, 2):
        public.get(f"{link(delivery, Purpose.click)}/{number}", headers={"User-Agent": BROWSER})

    store_all(connection, stream_path)

    marked = events(session, delivery)
    assert [(e.link_number, e.automated_reason) for e in marked] == [
        (1, "every link within 2 s"),
        (2, "every link within 2 s"),
    ]


def test_entries_stored_by_a_consumer_that_died_before_acknowledging_are_not_stored_twice(
    public: TestClient,
    session: Session,
    connection: Connection,
    delivery: Delivery,
    stream_path: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    public.get(f"{link(delivery, Purpose.click)}/1", headers={"User-Agent": BROWSER})
    entries = stream.read_batch(stream_path)
    assert stream.store(connection, entries) == 1  # committed, then the consumer died

    # Another consumer claims what the dead one left pending, stores it again: skipped.
    monkeypatch.setattr(stream, "CLAIM_IDLE_MS", 0)
    monkeypatch.setattr(stream, "consumer_name", lambda: "another")
    again = stream.read_batch(stream_path)
    assert [entry_id for entry_id, _fields in again] == [entry_id for entry_id, _ in entries]
    assert stream.store(connection, again) == 0
    stream.acknowledge(stream_path, [entry_id for entry_id, _fields in again])

    assert len(events(session, delivery)) == 1
    assert stream.pending(stream_path) == 0


def test_when_redis_refuses_the_event_is_stored_directly(
    public: TestClient,
    session: Session,
    delivery: Delivery,
    stream_path: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")  # nothing listens there
    get_settings.cache_clear()
    stream.reset_client()

    response = public.get(f"{link(delivery, Purpose.click)}/1", headers={"User-Agent": BROWSER})

    assert response.status_code == 303
    [event] = events(session, delivery)
    assert (event.link_number, event.automated) == (1, False)


def test_an_invalid_link_gets_the_same_404_and_appends_nothing(
    public: TestClient, delivery: Delivery, stream_path: redis.Redis
) -> None:
    signed = link(delivery, Purpose.click)
    answers = [
        public.get(f"{signed}/9", headers={"User-Agent": BROWSER}),
        public.get(f"{signed[:-3]}abc/1", headers={"User-Agent": BROWSER}),
    ]

    assert {answer.status_code for answer in answers} == {404}
    assert stream.pending(stream_path) == 0


def test_events_clicked_long_apart_are_a_persons(
    public: TestClient,
    session: Session,
    connection: Connection,
    delivery: Delivery,
    stream_path: redis.Redis,
) -> None:
    public.get(f"{link(delivery, Purpose.click)}/1", headers={"User-Agent": BROWSER})
    store_all(connection, stream_path)
    for event in events(session, delivery):
        event.occurred_at -= timedelta(minutes=5)
    session.flush()

    public.get(f"{link(delivery, Purpose.click)}/2", headers={"User-Agent": BROWSER})
    store_all(connection, stream_path)

    assert [e.automated for e in events(session, delivery)] == [False, False]


@pytest.mark.parametrize(("events", "scheduled"), [("stream", True), ("direct", False)])
def test_the_scheduler_wakes_the_store_only_for_the_stream(events: str, scheduled: bool) -> None:
    from app.core.settings import Settings
    from workers.celery_app import create_celery_app

    app = create_celery_app(Settings(tracking_events=events))  # type: ignore[arg-type]

    assert (stream.STORE_TASK in app.conf.beat_schedule) is scheduled
