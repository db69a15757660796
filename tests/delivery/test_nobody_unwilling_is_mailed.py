"""No message ever reaches an address that asked not to be mailed, whatever the order.

Hypothesis drives random interleavings of what recipients and mailbox providers do
(unsubscribe with one click, pause, opt out of topics, subscribe again, a hard bounce,
a spam complaint) with launches and sends, through the public pages and the inbound
endpoint as they are used in production, and checks every message the relay takes
against a model of what each address asked for at that moment. Two organisations
share one of the three addresses, so a wish made through one contact must hold for
the other too.
"""

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection
from sqlmodel import Session, col, select

from app.accounts.principal import Role
from app.campaigns.topics import Topic
from app.delivery.messenger import Done, OutgoingMessage
from app.delivery.models import Delivery, DeliveryState
from app.delivery.sender import send_campaign_batch
from app.tracking.signing import Purpose, form_token, sign
from tests.campaigns.test_campaigns_api import create
from tests.conftest import shared_app
from tests.factories import make_contact, make_organization
from tests.inbound.conftest import fixture_message

COUNTRY = "ISL"  # nobody else in the test registry is there: the audience is ours alone
ADDRESSES = ("first@iceland.example.org", "shared@iceland.example.org", "last@iceland.example.org")
ALL_TOPICS = frozenset(Topic)
_examples = itertools.count()
_reports = itertools.count()


@dataclass
class Wishes:
    """What one address asked for, as far as the model knows."""

    unsubscribed: bool = False
    paused: bool = False
    suppressed: bool = False  # a hard bounce or a complaint: for good
    opted_out: frozenset[Topic] = frozenset()

    def refuses(self, topics: frozenset[Topic]) -> bool:
        return self.suppressed or self.unsubscribed or self.paused or bool(self.opted_out & topics)


@dataclass
class Relay:
    """Accepts everything and remembers who got what."""

    received: list[str] = field(default_factory=list)

    def send(self, message: OutgoingMessage, done: Done) -> None:
        self.received.append(message.to)
        done(None)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


address_index = st.integers(min_value=0, max_value=len(ADDRESSES) - 1)
topic_sets = st.frozensets(st.sampled_from(sorted(Topic)), max_size=3)
steps = st.lists(
    st.one_of(
        st.tuples(st.just("unsubscribe"), address_index),
        st.tuples(st.just("pause"), address_index, st.sampled_from(["pause_1", "pause_6"])),
        st.tuples(st.just("receive"), address_index),
        st.tuples(st.just("opt_out"), address_index, topic_sets),
        st.tuples(st.just("hard_bounce"), address_index),
        st.tuples(st.just("complaint"), address_index),
        st.tuples(st.just("launch"), topic_sets),
        st.tuples(st.just("send")),
    ),
    min_size=1,
    max_size=14,
)


@pytest.fixture(autouse=True)
def _quick(quick_password_hashing: None) -> None:
    """Campaigns need two secretariat users."""


@pytest.fixture
def mail_server(connection: Connection) -> Iterator[TestClient]:
    """A client with no session and no cookies: a mailbox provider's one-click POST, a
    recipient's browser."""
    with TestClient(shared_app(), follow_redirects=False) as public:
        yield public


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=steps)
def test_no_message_reaches_an_address_that_refused_it(
    steps: list[tuple[Any, ...]],
    connection: Connection,
    session: Session,
    client: TestClient,
    client_as: Any,
    mail_server: TestClient,
) -> None:
    example = connection.begin_nested()  # each example starts from the same registry
    try:
        run_example(steps, session, client, client_as(Role.secretariat), mail_server)
    finally:
        example.rollback()
        session.expire_all()


def run_example(
    steps: list[tuple[Any, ...]],
    session: Session,
    staff: TestClient,
    colleague: TestClient,
    mail_server: TestClient,
) -> None:
    number = next(_examples)
    first = make_organization(session, name=f"Iceland Rights {number}", country=COUNTRY)
    second = make_organization(session, name=f"Iceland Justice {number}", country=COUNTRY)
    make_contact(session, first, name="Anna Jónsdóttir", email=ADDRESSES[0])
    make_contact(session, first, name="Björk Sigurðardóttir", email=ADDRESSES[1])
    make_contact(session, second, name="Björk Sigurðardóttir", email=ADDRESSES[1])
    make_contact(session, second, name="Gunnar Ólafsson", email=ADDRESSES[2])
    session.flush()
    wishes = [Wishes() for _ in ADDRESSES]
    topics_of: dict[int, frozenset[Topic]] = {}
    relay = Relay()

    def launch(topics: frozenset[Topic]) -> None:
        campaign = create(
            staff,
            title=f"Alert {len(topics_of) + 1}",
            audience={"countries": [COUNTRY]},
            topics=sorted(topics),
        )
        assert colleague.post(f"/api/campaigns/{campaign['id']}/approve").status_code == 200
        launched = staff.post(f"/api/campaigns/{campaign['id']}/launch")
        assert launched.status_code == 200, launched.text
        topics_of[campaign["id"]] = topics

    def send() -> None:
        for campaign_id, topics in topics_of.items():
            before = len(relay.received)
            while send_campaign_batch(campaign_id, worker="w", messenger=relay).claimed:
                pass
            for address in relay.received[before:]:
                refused = wishes[ADDRESSES.index(address)]
                assert not refused.refuses(topics), (address, refused, sorted(topics))

    # Every address has received an alert before anyone acts on one.
    launch(frozenset())
    send()
    for step in [*steps, ("send",)]:
        kind, *arguments = step
        if kind == "launch":
            launch(arguments[0])
        elif kind == "send":
            send()
        else:
            index = arguments[0]
            delivery = last_delivery(session, ADDRESSES[index])
            if delivery is None:  # nothing has reached this address: no link to follow
                continue
            act(kind, arguments, delivery, wishes[index], staff, mail_server)


def last_delivery(session: Session, address: str) -> Delivery | None:
    return session.scalars(
        select(Delivery)
        .where(col(Delivery.email) == address, col(Delivery.state) == DeliveryState.sent)
        .order_by(col(Delivery.id).desc())
    ).first()


def act(
    kind: str,
    arguments: list[Any],
    delivery: Delivery,
    wish: Wishes,
    staff: TestClient,
    mail_server: TestClient,
) -> None:
    """One thing a recipient or a mailbox provider does about an alert received, and
    what the model learns from it."""
    if kind == "unsubscribe":
        response = mail_server.post(
            f"/unsubscribe/{sign(delivery.token, Purpose.unsubscribe)}",
            data={"List-Unsubscribe": "One-Click"},
        )
        assert response.status_code == 200, response.text
        wish.unsubscribed, wish.paused = True, False
    elif kind in ("pause", "receive", "opt_out"):
        alerts = {"pause": arguments[-1] if kind == "pause" else "", "receive": "receive"}.get(
            kind, "stop" if wish.unsubscribed else ("keep_pause" if wish.paused else "receive")
        )
        opted_out = arguments[1] if kind == "opt_out" else wish.opted_out
        response = mail_server.post(
            f"/preferences/{sign(delivery.token, Purpose.preferences)}",
            data={
                "alerts": alerts,
                "language": "en",
                "topics": sorted(ALL_TOPICS - opted_out),
                "form_token": form_token(delivery.token, Purpose.preferences),
            },
        )
        assert response.status_code == 303, response.text
        wish.opted_out = opted_out
        if kind == "pause":
            wish.unsubscribed, wish.paused = False, True
        elif kind == "receive":
            wish.unsubscribed, wish.paused = False, False
    else:
        fixture = "dsn_hard_5_1_1.eml" if kind == "hard_bounce" else "arf_complaint.eml"
        report = fixture_message(fixture, delivery)
        # Each report is a new one, with a Message-ID of its own (a report received
        # twice changes nothing the second time).
        own_id = str(message_from_bytes(report)["Message-ID"]).encode()
        report = report.replace(own_id, f"<report.{next(_reports)}@example.net>".encode(), 1)
        response = staff.post("/api/inbound/bounces", content=report)
        assert response.status_code == 201, response.text
        assert response.json()["delivery_found"] is True
        wish.suppressed = True
