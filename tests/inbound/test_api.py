"""The inbound endpoints: who may post, what a post answers, size and shape of the
body, and who reads which replies."""

import html
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, func, select

from app.accounts.principal import Role
from app.core.audit import AuditEntry
from app.core.settings import Settings
from app.inbound.models import InboundMessage, InboundSource
from app.inbound.service import MAIL_SERVER_ACTOR, receive_message
from app.members.models import BounceStatus, Contact
from app.tracking.models import ResponseEvent
from tests.conftest import shared_app
from tests.inbound.conftest import Alert, fixture_message
from tests.world import World

BOUNCES = "/api/inbound/bounces"
REPLIES = "/api/inbound/replies"


@pytest.fixture
def mail_server(connection: Any) -> Iterator[TestClient]:
    """A client of its own (not signed in): the mail server."""
    with TestClient(shared_app()) as test_client:
        yield test_client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def nothing_recorded(session: Session, world: World) -> bool:
    session.expire_all()
    contacts_untouched = all(
        session.get_one(Contact, c.id).bounce_status is c.bounce_status
        for c in world.contacts.values()
    )
    no_messages = session.scalar(select(func.count()).select_from(InboundMessage)) == 0
    no_events = session.scalar(select(func.count()).select_from(ResponseEvent)) == 0
    return contacts_untouched and no_messages and no_events


def test_without_the_secret_nothing_changes(
    session: Session, world: World, alert: Alert, inbound_token: str, mail_server: TestClient
) -> None:
    raw = fixture_message("dsn_hard_5_1_1.eml", alert.deliveries["C"])
    for headers in ({}, bearer("wrong-" + inbound_token), bearer(inbound_token[:-1])):
        for path in (BOUNCES, REPLIES):
            response = mail_server.post(path, content=raw, headers=headers)
            assert response.status_code == 401, response.text
            assert response.headers["WWW-Authenticate"] == "Bearer"
    assert nothing_recorded(session, world)


def test_with_no_inbound_token_set_only_a_secretariat_login_works(
    session: Session,
    world: World,
    alert: Alert,
    mail_server: TestClient,
    setting: Callable[[str, str | None], None],
) -> None:
    setting("INBOUND_TOKEN", None)
    raw = fixture_message("dsn_hard_5_1_1.eml", alert.deliveries["C"])
    # An empty setting must not make an empty (or any) bearer token a key.
    for headers in ({"Authorization": "Bearer "}, bearer("anything at all")):
        assert mail_server.post(BOUNCES, content=raw, headers=headers).status_code == 401
    assert nothing_recorded(session, world)


def test_a_guessable_inbound_token_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="INBOUND_TOKEN must be at least 32"):
        Settings(demo_mode=True, inbound_token="short-secret")
    assert Settings(demo_mode=True, inbound_token="").inbound_token == ""


def test_the_mail_server_posts_a_bounce_with_its_secret(
    session: Session, world: World, alert: Alert, inbound_token: str, mail_server: TestClient
) -> None:
    delivery = alert.deliveries["C"]
    raw = fixture_message("dsn_hard_5_1_1.eml", delivery)
    response = mail_server.post(
        BOUNCES, content=raw, headers=bearer(inbound_token) | {"Content-Type": "message/rfc822"}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body == {
        "id": body["id"],
        "kind": "hard_bounce",
        "duplicate": False,
        "delivery_found": True,
        "automatic": False,
        "changes": ["event_recorded", "contact_hard_bounced", "address_suppressed"],
    }
    # The answer names no delivery, contact, address or campaign.
    for secret in (delivery.token, delivery.email, delivery.message_id, str(delivery.id)):
        assert secret not in response.text.replace(f'"id":{body["id"]}', "")
    session.expire_all()
    assert session.get_one(Contact, world.contacts["C"].id).bounce_status is BounceStatus.hard
    entry = session.scalars(
        select(AuditEntry).where(col(AuditEntry.action) == "contact.bounce_state")
    ).one()
    assert entry.actor == MAIL_SERVER_ACTOR

    again = mail_server.post(BOUNCES, content=raw, headers=bearer(inbound_token))
    assert again.status_code == 200
    assert again.json() | {"changes": None} == body | {"duplicate": True, "changes": None}
    assert again.json()["changes"] == []


def test_a_secretariat_login_may_post_too_but_not_a_lead_or_member(
    session: Session,
    world: World,
    alert: Alert,
    client: TestClient,
    client_as: Callable[..., TestClient],
) -> None:
    raw = fixture_message("reply_in_reply_to.eml", alert.deliveries["B"])
    for role in (Role.regional_lead, Role.member):
        assert client_as(role).post(REPLIES, content=raw).status_code == 403
    assert nothing_recorded(session, world)
    response = client.post(REPLIES, content=raw)
    assert response.status_code == 201, response.text
    assert response.json()["kind"] == "reply"
    assert response.json()["delivery_found"] is True


def test_the_reply_endpoint_still_recognises_a_bounce(
    alert: Alert, inbound_token: str, mail_server: TestClient
) -> None:
    raw = fixture_message("dsn_soft_4_2_2.eml", alert.deliveries["K"])
    response = mail_server.post(REPLIES, content=raw, headers=bearer(inbound_token))
    assert response.json()["kind"] == "soft_bounce"


def test_a_message_too_large_is_refused_unread(
    session: Session,
    world: World,
    inbound_token: str,
    mail_server: TestClient,
    setting: Callable[[str, str | None], None],
) -> None:
    setting("INBOUND_MAX_BYTES", "2048")
    raw = b"From: p@rights.example\r\nSubject: big\r\n\r\n" + b"x" * 4000
    declared = mail_server.post(REPLIES, content=raw, headers=bearer(inbound_token))
    assert declared.status_code == 413
    assert declared.json()["detail"][0]["loc"] == ["body", "message"]
    # Streamed without a Content-Length: counted as it arrives.
    streamed = mail_server.post(
        REPLIES, content=iter([raw[:1500], raw[1500:]]), headers=bearer(inbound_token)
    )
    assert streamed.status_code == 413
    assert nothing_recorded(session, world)
    small = mail_server.post(REPLIES, content=raw[:2000], headers=bearer(inbound_token))
    assert small.status_code == 201


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"", "empty"),
        (b'{"kind": "bounce"}', "not an email message"),
        (b"\x00\x01\x02\xff" * 100, "not an email message"),
    ],
)
def test_a_malformed_body_is_a_clear_422(
    session: Session,
    world: World,
    inbound_token: str,
    mail_server: TestClient,
    body: bytes,
    words: str,
) -> None:
    for path in (BOUNCES, REPLIES):
        response = mail_server.post(path, content=body, headers=bearer(inbound_token))
        assert response.status_code == 422, response.text
        [problem] = response.json()["detail"]
        assert problem["loc"] == ["body", "message"]
        assert words in problem["msg"]
    assert nothing_recorded(session, world)


# --- reading replies ------------------------------------------------------------------------


@pytest.fixture
def replies(session: Session, alert: Alert) -> dict[str, int]:
    """Replies from B (Kenya), C (Nigeria), F (Brazil) and I (France), an out-of-office
    note from K (Jordan), and one that names no alert; their ids."""
    ids = {}
    for letter in "BCFI":
        raw = fixture_message("reply_in_reply_to.eml", alert.deliveries[letter]).replace(
            b"CAF3kq8reply.4471", f"reply.{letter}".encode()
        )
        ids[letter] = receive_message(session, raw, InboundSource.api, actor="test").id
    ids["K"] = receive_message(
        session,
        fixture_message("auto_reply_out_of_office.eml", alert.deliveries["K"]),
        InboundSource.api,
        actor="test",
    ).id
    stray = fixture_message("reply_in_reply_to.eml", alert.deliveries["B"]).replace(
        alert.deliveries["B"].message_id.encode(), b"<unknown@elsewhere.example>"
    )
    ids["stray"] = receive_message(
        session, stray.replace(b"CAF3kq8reply.4471", b"stray"), InboundSource.api, actor="test"
    ).id
    session.flush()
    return ids


def test_the_secretariat_reads_every_reply_with_what_it_answers(
    client: TestClient, world: World, alert: Alert, replies: dict[str, int]
) -> None:
    page = client.get(REPLIES).json()
    assert page["total"] == 6
    assert [item["id"] for item in page["items"]] == sorted(replies.values(), reverse=True)
    by_id = {item["id"]: item for item in page["items"]}
    b = by_id[replies["B"]]
    assert b["campaign"] == {"id": alert.campaign.id, "title": alert.campaign.title}
    assert b["contact"] == {
        "id": world.contacts["B"].id,
        "name": "Person B",
        "email": "b@example.org",
    }
    assert b["organization"] == {
        "id": world.organizations["kenya_rights"].id,
        "name": "Kenya Rights",
    }
    assert "Nous avons écrit" in b["body_text"]
    assert by_id[replies["stray"]]["campaign"] is None
    assert by_id[replies["K"]]["automatic"] is True
    people = client.get(REPLIES, params={"automatic": "false"}).json()
    assert replies["K"] not in {item["id"] for item in people["items"]}


def test_a_regional_lead_reads_only_her_regions_replies(
    client_as: Callable[..., TestClient], alert: Alert, replies: dict[str, int]
) -> None:
    africa = client_as(Role.regional_lead)
    page = africa.get(REPLIES).json()
    assert {item["id"] for item in page["items"]} == {replies["B"], replies["C"]}
    assert page["total"] == 2
    in_campaign = africa.get(REPLIES, params={"campaign_id": alert.campaign.id}).json()
    assert in_campaign["total"] == 2
    europe = client_as(Role.regional_lead, regions=["europe"]).get(REPLIES).json()
    assert [item["id"] for item in europe["items"]] == [replies["I"]]
    assert "b@example.org" not in str(europe)


def test_replies_are_paged_newest_first(client: TestClient, replies: dict[str, int]) -> None:
    seen: list[int] = []
    params: dict[str, Any] = {"limit": 4}
    while True:
        page = client.get(REPLIES, params=params).json()
        assert page["total"] == 6
        seen += [item["id"] for item in page["items"]]
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]
    assert seen == sorted(replies.values(), reverse=True)


def test_reading_replies_refuses_what_it_cannot_answer(
    client: TestClient, client_as: Callable[..., TestClient], replies: dict[str, int]
) -> None:
    assert client_as(Role.member).get(REPLIES).status_code == 403
    unknown = client.get(REPLIES, params={"campaign_id": 999_999})
    assert unknown.status_code == 404
    assert unknown.json()["detail"][0]["loc"] == ["query", "campaign_id"]
    cursor = client.get(REPLIES, params={"cursor": "not-a-cursor"})
    assert cursor.status_code == 422
    assert cursor.json()["detail"][0]["loc"] == ["query", "cursor"]
    assert client.get(REPLIES, params={"limit": 0}).status_code == 422
    assert client.get(REPLIES, params={"campaign": 1}).status_code == 422


def test_what_the_mail_did_reads_on_the_organisation_page(
    client: TestClient, world: World, alert: Alert, inbound_token: str, mail_server: TestClient
) -> None:
    for name, letter in (("dsn_hard_5_1_1.eml", "C"), ("arf_complaint.eml", "F")):
        raw = fixture_message(name, alert.deliveries[letter])
        assert mail_server.post(BOUNCES, content=raw, headers=bearer(inbound_token)).is_success

    def page_text(organization: str) -> str:
        page = client.get(f"/members/{world.organizations[organization].id}")
        assert page.status_code == 200
        return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page.text)).split())

    lagos = page_text("lagos_bar")
    assert "Bounce state raised (hard bounce report, 5.1.1): Person C" in lagos
    assert MAIL_SERVER_ACTOR in lagos
    sao_paulo = page_text("sao_paulo_media")
    assert "Contact changed: Person F" in sao_paulo
    assert "Spam complaint (feedback report: abuse)" in sao_paulo
