"""An alert goes out through the real pipeline into an SMTP server; a bounce comes
back to the envelope sender the server recorded; the next alert leaves the address out."""

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from app.accounts.principal import Role
from app.delivery.models import Delivery
from app.delivery.sender import send_campaign_batch
from app.delivery.suppressions import is_suppressed
from app.inbound.models import InboundKind, InboundMessage
from app.members.models import BounceStatus, Contact
from app.tracking.models import ResponseEvent, ResponseKind
from tests.conftest import shared_app
from tests.delivery.smtp_sink import SmtpSink, running_smtp_sink
from tests.inbound.conftest import fixture_message
from tests.world import World

VERP = re.compile(r"bounces\+(?P<token>[0-9a-f]{32})@(?P<domain>.+)")
ALERT: dict[str, Any] = {
    "action_type": "contact_officials",
    "default_language": "en",
    "variants": [{"language": "en", "subject": "Act now", "body": "Dear {{ contact.name }}"}],
}


def launched(client: TestClient, client_as: Any, title: str) -> int:
    """An alert to every active member, approved by a colleague and launched now."""
    created = client.post("/api/campaigns", json=ALERT | {"title": title})
    assert created.status_code == 201, created.text
    campaign_id = int(created.json()["id"])
    colleague = client_as(Role.secretariat)
    assert colleague.post(f"/api/campaigns/{campaign_id}/approve").status_code == 200
    launch = client.post(f"/api/campaigns/{campaign_id}/launch")
    assert launch.status_code == 200, launch.text
    return campaign_id


@pytest.fixture
def smtp(setting: Callable[[str, str | None], None]) -> Iterator[SmtpSink]:
    with running_smtp_sink() as sink:
        setting("MAIL_BACKEND", "smtp")
        setting("SMTP_URL", sink.url())
        yield sink


def test_a_bounce_to_the_recorded_envelope_sender_marks_the_one_contact_and_keeps_her_out(
    client: TestClient,
    client_as: Any,
    session: Session,
    world: World,
    smtp: SmtpSink,
    inbound_token: str,
) -> None:
    campaign_id = launched(client, client_as, "Ratify APIC")
    report = send_campaign_batch(campaign_id, worker="test-worker")
    assert report.sent == 10

    # What the relay received for C: the envelope sender is all a real bounce has.
    [received] = [m for m in smtp.messages if m.rcpt_to == ["c@example.org"]]
    envelope_sender = VERP.fullmatch(received.mail_from)
    assert envelope_sender is not None
    dsn = fixture_message(
        "dsn_hard_5_1_1.eml",
        TOKEN=envelope_sender["token"],
        DOMAIN=envelope_sender["domain"],
        EMAIL=received.rcpt_to[0],
        MESSAGE_ID=str(received.parsed()["Message-ID"]),
    )
    assert f"To: {received.mail_from}".encode() in dsn

    states_before = _states(session, world)
    with TestClient(shared_app()) as mail_server:
        response = mail_server.post(
            "/api/inbound/bounces",
            content=dsn,
            headers={"Authorization": f"Bearer {inbound_token}"},
        )
    assert response.status_code == 201, response.text
    assert response.json()["delivery_found"] is True

    session.expire_all()
    delivery = session.scalars(
        select(Delivery).where(
            col(Delivery.campaign_id) == campaign_id, col(Delivery.email) == "c@example.org"
        )
    ).one()
    assert delivery.token == envelope_sender["token"]
    stored = session.scalars(select(InboundMessage)).one()
    assert (stored.kind, stored.delivery_id) == (InboundKind.hard_bounce, delivery.id)
    event = session.scalars(select(ResponseEvent)).one()
    assert (event.kind, event.delivery_id) == (ResponseKind.bounced_hard, delivery.id)
    c = session.get_one(Contact, world.contacts["C"].id)
    assert (c.bounce_status, c.hard_bounce_count) == (BounceStatus.hard, 1)
    assert is_suppressed(session, "c@example.org")
    states_after = _states(session, world)
    assert {k: v for k, v in states_after.items() if k != "C"} == {
        k: v for k, v in states_before.items() if k != "C"
    }

    # The next alert: C is left out (counted as bounced), everyone else still gets it.
    preview = client.post("/api/audiences/preview", json={"topics": []}).json()
    assert preview["total"] == 9
    next_campaign = launched(client, client_as, "The next alert")
    session.expire_all()
    recipients = set(
        session.scalars(
            select(Delivery.email).where(col(Delivery.campaign_id) == next_campaign)
        ).all()
    )
    assert "c@example.org" not in recipients
    assert len(recipients) == 9


def _states(session: Session, world: World) -> dict[str, tuple[Any, ...]]:
    session.expire_all()
    return {
        letter: (found.bounce_status, found.hard_bounce_count, found.subscription_status)
        for letter, known in world.contacts.items()
        if (found := session.get_one(Contact, known.id))
    }
