"""Two one-click unsubscribes of one alert at once (a mail provider's retry, a second
click) record one unsubscribe, as one does: the second sees the first's change.

Found under wrk load (tests/faults/tracking_load.py): on PostgreSQL both requests read
the address as subscribed before either committed, and each recorded an `unsubscribed`
event and its audit entries (56 events for 10 addresses)."""

import contextlib
import threading
from pathlib import Path

import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from app.core import migrations
from app.core.audit import AuditEntry
from app.core.db import create_db_engine
from app.countries.treaty_data import load_countries, read_treaty_data
from app.members.models import Contact, SubscriptionStatus
from app.tracking import service
from app.tracking.models import ResponseEvent, ResponseKind
from app.tracking.signing import Purpose, sign
from tests.factories import make_contact, make_organization
from tests.tracking.conftest import make_campaign, make_delivery

ADDRESS = "focal.point@example.org"


def committed_delivery(url: str) -> tuple[Engine, str]:
    """An alert sent to an address that two member organisations list."""
    migrations.upgrade(url)
    engine = create_db_engine(url)
    with Session(engine) as session:
        load_countries(session, list(read_treaty_data()))
        first = make_organization(session, name="Kenya Rights Network", country="KEN")
        second = make_organization(session, name="Haki Women's Forum", country="KEN")
        contact = make_contact(session, first, name="Amina Diallo", email=ADDRESS)
        make_contact(session, second, name="Amina Diallo", email=ADDRESS)
        delivery = make_delivery(session, make_campaign(session), contact)
        session.commit()
        return engine, sign(delivery.token, Purpose.unsubscribe)


def race_two_unsubscribes(engine: Engine, signed: str) -> None:
    # Both requests find whom the link names before either changes anything, where the
    # database lets them (PostgreSQL); SQLite lets one writer in at a time.
    barrier = threading.Barrier(2, timeout=1 if engine.dialect.name == "sqlite" else 10)

    def one_click() -> None:
        with Session(engine) as session:
            recipient = service.open_link(session, signed, Purpose.unsubscribe)
            assert recipient is not None
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait()
            service.unsubscribe(session, recipient, via="one-click")
            session.commit()

    threads = [threading.Thread(target=one_click) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)


def assert_one_unsubscribe(engine: Engine) -> None:
    with Session(engine) as session:
        events = session.scalar(
            select(func.count()).where(col(ResponseEvent.kind) == ResponseKind.unsubscribed)
        )
        statuses = session.scalars(select(Contact.subscription_status)).all()
        changes = session.scalar(
            select(func.count()).where(col(AuditEntry.action) == "contact.update")
        )
    assert events == 1
    assert statuses == [SubscriptionStatus.unsubscribed] * 2
    assert changes == 2  # one per contact of the address, not one per request


@pytest.mark.postgres
def test_two_simultaneous_one_click_unsubscribes_record_one_on_postgresql(
    empty_postgres_database: str, quick_password_hashing: None
) -> None:
    engine, signed = committed_delivery(empty_postgres_database)
    try:
        race_two_unsubscribes(engine, signed)
        assert_one_unsubscribe(engine)
    finally:
        engine.dispose()


def test_two_simultaneous_one_click_unsubscribes_record_one_on_sqlite(
    tmp_path: Path, quick_password_hashing: None
) -> None:
    engine, signed = committed_delivery(f"sqlite:///{tmp_path}/race.db")
    try:
        race_two_unsubscribes(engine, signed)
        assert_one_unsubscribe(engine)
    finally:
        engine.dispose()
