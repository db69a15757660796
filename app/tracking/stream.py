"""The faster event path for clicks and opens (TRACKING_EVENTS=stream, production).

The request checks the link and finds its delivery (one indexed read, no transaction),
appends the event to a Redis stream (XADD) and answers. A consumer
(`drain`, the Celery task `tracking.store_events` every second) reads the
stream as a consumer group, inserts the events in bulk, marks bursts (every link of a
message within the window, app/tracking/automated.py) for the clicks it stored, commits,
and only then acknowledges them. So:

- an answered click is in Redis before its answer goes out; a consumer killed before its
  commit leaves its entries pending, and the next run claims them (XAUTOCLAIM) after
  `CLAIM_IDLE_MS`; one killed between its commit and its XACK has its entries stored
  again, and the unique `stream_entry` column drops them (nothing counted twice);
- what Redis itself loses is lost: a Redis without persistence (no AOF, no RDB) loses the
  events not yet stored when it restarts, at most about a second's worth while the
  consumer keeps up. docker-compose.yml runs Redis with `appendonly yes` (fsync every
  second): a crash of Redis's machine may lose up to a second of answered events, a
  restart of Redis loses nothing. Where that matters more than speed, keep
  TRACKING_EVENTS=direct: each event is committed to PostgreSQL before its answer.

The embedded default (SQLite, no Redis) keeps the direct path (clicks.py).
"""

import logging
import os
import socket
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import redis
from sqlalchemy import Connection, insert, text
from sqlalchemy.dialects import postgresql

from app.core.settings import get_settings
from app.tracking.models import ResponseEvent, ResponseKind

STREAM = "coalition:tracking:events"
STORE_TASK = "tracking.store_events"
GROUP = "store"
# A consumer's entries not acknowledged after this long are another's to store.
CLAIM_IDLE_MS = 30_000
BATCH = 2000
_STORE_LOCK = 0x7472_6163  # pg_advisory_xact_lock's key for storing a batch

_FIELDS = (
    "delivery_id",
    "campaign_id",
    "contact_id",
    "kind",
    "occurred_at",
    "automated_reason",
    "link_number",
    "link_count",
)
logger = logging.getLogger(__name__)
# A stream entry: its id and its fields.
Entry = tuple[str, dict[str, str]]
_client: redis.Redis | None = None


def client() -> redis.Redis:
    global _client
    if _client is None:
        _client = redis.Redis.from_url(
            get_settings().redis_url, socket_timeout=5, health_check_interval=30
        )
    return _client


def reset_client() -> None:
    """After a fork, or when the settings change (tests)."""
    global _client
    if _client is not None:
        _client.close()
    _client = None


def append(event: dict[str, Any], link_count: int = 0) -> bool:
    """Put one event on the stream; False when Redis does not take it (down, full): the
    caller then stores it directly, so that a Redis outage slows clicks down but loses
    none and answers no error."""
    fields = {
        "delivery_id": event["delivery_id"],
        "campaign_id": event["campaign_id"],
        "contact_id": event["contact_id"] if event["contact_id"] is not None else "",
        "kind": event["kind"],
        "occurred_at": event["occurred_at"].isoformat(),
        "automated_reason": event["automated_reason"] or "",
        "link_number": event["link_number"] if event["link_number"] is not None else "",
        "link_count": link_count,
    }
    try:
        client().xadd(STREAM, fields)  # type: ignore[arg-type]
    except redis.RedisError as error:
        logger.warning("tracking event stored directly: Redis refused it (%s)", error)
        return False
    return True


def _ensure_group(redis_client: redis.Redis) -> None:
    try:
        redis_client.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
    except redis.ResponseError as error:
        if "BUSYGROUP" not in str(error):
            raise


def consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def read_batch(redis_client: redis.Redis, *, batch: int = BATCH) -> list[Entry]:
    """The next entries for this consumer: first those another consumer left pending
    for longer than CLAIM_IDLE_MS (it died before acknowledging), then this consumer's
    own pending ones (a run whose commit failed), then new ones."""
    _ensure_group(redis_client)
    name = consumer_name()
    claimed: Any = redis_client.xautoclaim(
        STREAM, GROUP, name, min_idle_time=CLAIM_IDLE_MS, start_id="0-0", count=batch
    )
    entries = _entries(claimed[1] if claimed else [])
    if not entries:
        entries = _entries(
            _stream_of(redis_client.xreadgroup(GROUP, name, {STREAM: "0"}, count=batch))
        )
    if not entries:
        entries = _entries(
            _stream_of(redis_client.xreadgroup(GROUP, name, {STREAM: ">"}, count=batch))
        )
    return entries


def _stream_of(answer: Any) -> Any:
    """The entries of XREADGROUP's answer for our one stream (RESP2: a list of
    [name, entries]; RESP3: a dict of name to entries)."""
    if not answer:
        return []
    if isinstance(answer, dict):
        return next(iter(answer.values()), [])
    return answer[0][1]


def _entries(raw: Any) -> list[Entry]:
    # A deleted entry still pending comes back without its fields: nothing to store.
    return [(_text(entry_id), _decoded(fields)) for entry_id, fields in raw if fields]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _decoded(fields: dict[Any, Any]) -> dict[str, str]:
    return {_text(key): _text(value) for key, value in fields.items()}


def _row(entry_id: str, fields: dict[str, str]) -> dict[str, Any]:
    reason = fields["automated_reason"] or None
    return {
        "delivery_id": int(fields["delivery_id"]),
        "campaign_id": int(fields["campaign_id"]),
        "contact_id": int(fields["contact_id"]) if fields["contact_id"] else None,
        "kind": fields["kind"],
        "occurred_at": datetime.fromisoformat(fields["occurred_at"]),
        "automated": reason is not None,
        "automated_reason": reason,
        "link_number": int(fields["link_number"]) if fields["link_number"] else None,
        "detail": None,
        "stream_entry": entry_id,
    }


def store(connection: Connection, entries: list[Entry]) -> int:
    """Insert the entries' events (those already stored by a consumer that died before
    acknowledging are skipped) and mark the bursts among the clicks; returns how many
    were new. The caller commits, then acknowledges."""
    from app.tracking.clicks import mark_bursts

    rows = [_row(entry_id, fields) for entry_id, fields in entries]
    if not rows:
        return 0
    table = ResponseEvent.__table__  # type: ignore[attr-defined]
    if connection.dialect.name == "postgresql":
        # One batch at a time, whichever worker runs it: each sees the clicks the ones
        # before it stored (the burst rule).
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _STORE_LOCK})
        statement: Any = (
            postgresql.insert(table)
            .on_conflict_do_nothing(index_elements=["stream_entry"])
            .returning(table.c.id)
        )
        inserted = len(connection.execute(statement, rows).all())
    else:
        statement = insert(table).prefix_with("OR IGNORE")
        inserted = connection.execute(statement, rows).rowcount
    clicks = [
        (row["delivery_id"], row["occurred_at"], int(fields["link_count"] or 0))
        for row, (_entry, fields) in zip(rows, entries, strict=True)
        if row["kind"] == ResponseKind.clicked.value
    ]
    mark_bursts(connection, [click for click in clicks if click[2] >= 2])
    return inserted


def acknowledge(redis_client: redis.Redis, entry_ids: Iterable[str]) -> None:
    """After the commit: the entries are stored, drop them from the stream."""
    ids = list(entry_ids)
    if ids:
        pipe = redis_client.pipeline(transaction=False)
        pipe.xack(STREAM, GROUP, *ids)
        pipe.xdel(STREAM, *ids)
        pipe.execute()


def pending(redis_client: redis.Redis) -> int:
    """Entries appended and not yet stored (the benchmark waits for 0)."""
    return int(redis_client.xlen(STREAM))


def drain(*, batch: int = BATCH, budget: timedelta = timedelta(seconds=20)) -> int:
    """Store what the stream holds, a batch per transaction, for at most `budget`;
    returns how many events were new."""
    from app.core.db import connection_scope

    redis_client = client()
    started = datetime.now()
    stored = 0
    while datetime.now() - started < budget:
        entries = read_batch(redis_client, batch=batch)
        if not entries:
            break
        with connection_scope() as connection:
            stored += store(connection, entries)
        acknowledge(redis_client, [entry_id for entry_id, _fields in entries])
    return stored


def is_enabled(dialect: str) -> bool:
    """Whether clicks and opens on a database of this dialect go through the stream."""
    return get_settings().tracking_events == "stream" and dialect != "sqlite"
