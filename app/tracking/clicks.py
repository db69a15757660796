"""Clicks and opens: the hot path, answered thousands of times a second after a send.

What a click must do is small: check the link's signature, find the delivery by its
token, pick link n of the delivery's variant, store one event, and redirect. The ORM
version of it (the delivery, its campaign with every relationship, the contact, the
organisation, the variant's Markdown parsed again, the event, a burst query) cost ten
statements and about 60 ms a click on a busy two-core machine. Here:

- statements are SQLAlchemy Core, built once;
- a launched campaign's facts (whether it counts clicks and opens, the compiled list
  of links per language) are kept in this process: once a campaign is sending, nothing
  about it can be edited (app/campaigns/lifecycle.py allows edits only in draft,
  approved and scheduled), so the cache is never stale. A campaign still editable is
  read afresh each time (its deliveries exist only once launched, so this is rare);
- one statement finds the delivery (locked, for clicks: one message's clicks one after
  the other, so that each sees the ones before it for the burst rule), one inserts the
  event, and one marks a burst in place when the campaign has several links;
- or, with TRACKING_EVENTS=stream (production, PostgreSQL), the delivery is read
  outside any transaction and the event appended to a Redis stream that the workers
  store in bulk, bursts marked there (stream.py).

The answer is the same as before in every case: the same 404 for every link that is not
valid, previews' links count nothing, and only an address written in the alert's variant
can be redirected to.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from threading import Lock
from typing import Any

from sqlalchemy import Connection, Engine, Row, bindparam, func, insert, select, update
from sqlalchemy.sql import Select

from app.campaigns.models import Campaign, CampaignStatus, CampaignVariant
from app.campaigns.rendering import tracked_links
from app.core.db import SessionFactory, get_engine, session_scope
from app.core.errors import NotFound
from app.core.settings import get_settings
from app.core.types import utcnow
from app.delivery.links import PREVIEW_TOKEN
from app.delivery.models import Delivery
from app.tracking import automated, stream
from app.tracking.models import ResponseEvent, ResponseKind
from app.tracking.signing import Purpose, unsign

LINK_NOT_VALID = "This link is not valid"
_MAX_LINK_NUMBER_DIGITS = 4
# Statuses a campaign never leaves for an editable one: its facts can be kept.
_SETTLED = frozenset(
    {CampaignStatus.sending, CampaignStatus.paused, CampaignStatus.sent, CampaignStatus.cancelled}
)

_deliveries = Delivery.__table__  # type: ignore[attr-defined]
_events = ResponseEvent.__table__  # type: ignore[attr-defined]
_campaigns = Campaign.__table__  # type: ignore[attr-defined]
_variants = CampaignVariant.__table__  # type: ignore[attr-defined]

_FIND_DELIVERY: Select[Any] = select(
    _deliveries.c.id,
    _deliveries.c.campaign_id,
    _deliveries.c.contact_id,
    _deliveries.c.language,
    _deliveries.c.sent_at,
    _campaigns.c.launched_at,
).where(
    _deliveries.c.token == bindparam("token"),
    _campaigns.c.id == _deliveries.c.campaign_id,
)
# Locks the delivery only, never its campaign (every click of the alert would queue).
_FIND_DELIVERY_LOCKED = _FIND_DELIVERY.with_for_update(of=_deliveries)
_CAMPAIGN = select(_campaigns.c.status, _campaigns.c.track_clicks, _campaigns.c.track_opens).where(
    _campaigns.c.id == bindparam("campaign_id")
)
_VARIANTS = select(_variants.c.language, _variants.c.body).where(
    _variants.c.campaign_id == bindparam("campaign_id")
)
_INSERT_EVENT = insert(_events)


def _burst_window(events: Any) -> Any:
    return (
        (events.c.delivery_id == bindparam("burst_delivery"))
        & (events.c.kind == ResponseKind.clicked.value)
        & (events.c.occurred_at >= bindparam("burst_since"))
        & (events.c.occurred_at <= bindparam("burst_now"))
    )


_burst_events = _events.alias("burst")
# Every link of the message followed within the window: mark all those clicks (the
# earlier ones too) in one statement, only when the window holds every link number.
_MARK_BURST = (
    update(_events)
    .where(
        _burst_window(_events),
        _events.c.automated.is_(False),
        select(func.count(func.distinct(_burst_events.c.link_number)))
        .where(_burst_window(_burst_events))
        .scalar_subquery()
        >= bindparam("burst_links"),
    )
    .values(automated=True, automated_reason=bindparam("burst_reason"))
)


@dataclass(frozen=True)
class CampaignFacts:
    status: CampaignStatus
    track_clicks: bool
    track_opens: bool
    links: dict[str, tuple[str, ...]]  # language -> the variant's tracked links


# By campaign id and launch time: an id is never given twice on PostgreSQL, but SQLite
# may give a deleted row's id again (and tests roll back).
_facts: dict[tuple[int, datetime | None], CampaignFacts] = {}
_facts_lock = Lock()


def campaign_facts(
    connection: Connection, campaign_id: int, launched_at: datetime | None
) -> CampaignFacts:
    key = (campaign_id, launched_at)
    cached = _facts.get(key)
    if cached is not None:
        return cached
    row = connection.execute(_CAMPAIGN, {"campaign_id": campaign_id}).one()
    links = {
        language: tracked_links(body)
        for language, body in connection.execute(_VARIANTS, {"campaign_id": campaign_id})
    }
    facts = CampaignFacts(CampaignStatus(row.status), row.track_clicks, row.track_opens, links)
    if facts.status in _SETTLED:
        with _facts_lock:
            if len(_facts) > 10_000:  # years of alerts; a bound all the same
                _facts.clear()
            _facts[key] = facts
    return facts


@contextmanager
def link_connection() -> Iterator[Connection]:
    """The connection a click or an open runs on. The direct path writes: one
    transaction, SQLite's write lock taken up front (a read that turns into a write can be
    refused). The stream path only reads one row: no transaction at all on PostgreSQL
    (no BEGIN, no COMMIT: two round trips fewer)."""
    bind = SessionFactory.kw.get("bind") or get_engine()
    if isinstance(bind, Engine) and stream.is_enabled(bind.dialect.name):
        with _autocommit(bind).connect() as connection:
            yield connection
        return
    with session_scope() as session:
        yield session.connection()


_autocommit_engines: dict[Engine, Engine] = {}


def _autocommit(engine: Engine) -> Engine:
    if engine not in _autocommit_engines:
        _autocommit_engines[engine] = engine.execution_options(isolation_level="AUTOCOMMIT")
    return _autocommit_engines[engine]


def forget_campaigns() -> None:
    """Drop the kept facts (tests that rewrite a campaign's rows in place)."""
    with _facts_lock:
        _facts.clear()


def _delivery(connection: Connection, signed: str, purpose: Purpose, *, lock: bool) -> Row[Any]:
    """The delivery a link names; NotFound for a preview's link and for anything else
    that is not a delivery's link for this purpose."""
    token = unsign(signed, purpose)
    if token is None or token == PREVIEW_TOKEN:
        raise NotFound(LINK_NOT_VALID)
    query = (
        _FIND_DELIVERY_LOCKED if lock and connection.dialect.name != "sqlite" else _FIND_DELIVERY
    )
    delivery = connection.execute(query, {"token": token}).first()
    if delivery is None:
        raise NotFound(LINK_NOT_VALID)
    return delivery


def _event(
    delivery: Row[Any], kind: ResponseKind, now: datetime, reason: str | None
) -> dict[str, Any]:
    return {
        "delivery_id": delivery.id,
        "campaign_id": delivery.campaign_id,
        "contact_id": delivery.contact_id,
        "kind": kind.value,
        "occurred_at": now,
        "automated": reason is not None,
        "automated_reason": reason,
        "link_number": None,
        "detail": None,
    }


def follow_click(
    connection: Connection,
    signed: str,
    link_number: str,
    request: automated.Request,
    *,
    now: datetime | None = None,
) -> str:
    """Where link n of the recipient's alert leads, after recording the click (when the
    campaign counts clicks). Only an address written in that alert's variant can come
    out of here: nothing in the request chooses it."""
    if not (
        link_number.isascii()
        and link_number.isdigit()
        and len(link_number) <= _MAX_LINK_NUMBER_DIGITS
    ):
        raise NotFound(LINK_NOT_VALID)
    # The direct path locks the delivery: one message's clicks one after the other, so
    # that each sees the ones before it (the burst rule). The stream's consumer stores
    # them one batch at a time, so the request need not.
    delivery = _delivery(
        connection, signed, Purpose.click, lock=not stream.is_enabled(connection.dialect.name)
    )
    facts = campaign_facts(connection, delivery.campaign_id, delivery.launched_at)
    links = facts.links.get(delivery.language, ())
    number = int(link_number)
    if not 1 <= number <= len(links):
        raise NotFound(LINK_NOT_VALID)
    if facts.track_clicks:
        _record_click(connection, delivery, number, len(links), request, now or utcnow())
    return links[number - 1]


def _record_click(
    connection: Connection,
    delivery: Row[Any],
    number: int,
    link_count: int,
    request: automated.Request,
    now: datetime,
) -> None:
    settings = get_settings()
    reason = automated.click_reason(
        request,
        sent_at=delivery.sent_at,
        now=now,
        window_seconds=settings.tracking_scanner_window_seconds,
    )
    event = _event(delivery, ResponseKind.clicked, now, reason) | {"link_number": number}
    if stream.is_enabled(connection.dialect.name) and stream.append(event, link_count):
        return
    connection.execute(_INSERT_EVENT, event)
    if link_count >= 2:
        mark_bursts(connection, [(delivery.id, now, link_count)])


def mark_bursts(connection: Connection, clicks: list[tuple[int, datetime, int]]) -> None:
    """For each click (delivery id, when, the message's link count, at least 2): when
    every link of the message was followed within the burst window before it, mark all
    those clicks automated, the earlier ones too. A person follows one link, then maybe
    another much later; a scanner follows all of them at once (app/tracking/automated.py).
    A message with one link cannot tell."""
    if not clicks:
        return
    window = get_settings().tracking_burst_window_seconds
    reason = automated.burst_reason(window)
    connection.execute(
        _MARK_BURST,
        [
            {
                "burst_delivery": delivery_id,
                "burst_since": when - timedelta(seconds=window),
                "burst_now": when,
                "burst_links": link_count,
                "burst_reason": reason,
            }
            for delivery_id, when, link_count in clicks
        ],
    )


def record_open(
    connection: Connection,
    signed: str,
    request: automated.Request,
    *,
    now: datetime | None = None,
) -> None:
    """Count an open of the recipient's alert, when the campaign counts opens."""
    delivery = _delivery(connection, signed, Purpose.open, lock=False)
    if not campaign_facts(connection, delivery.campaign_id, delivery.launched_at).track_opens:
        return
    event = _event(delivery, ResponseKind.opened, now or utcnow(), automated.open_reason(request))
    if not (stream.is_enabled(connection.dialect.name) and stream.append(event)):
        connection.execute(_INSERT_EVENT, event)
