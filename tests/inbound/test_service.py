"""Receiving what comes back: one record per message, tied to its delivery, and what
each kind does to the contact and the suppression list."""

from collections.abc import Callable
from typing import Any

import pytest
from sqlmodel import Session, col, func, select

from app.core.audit import AuditEntry
from app.core.settings import get_settings
from app.delivery.models import Delivery, Suppression, SuppressionReason
from app.delivery.suppressions import is_suppressed, suppression_hash
from app.inbound.models import InboundKind, InboundMessage, InboundSource
from app.inbound.parsing import Expectation
from app.inbound.schemas import InboundReceipt
from app.inbound.service import receive_message
from app.members import service as members
from app.members.models import BounceStatus, Contact, SubscriptionStatus
from app.tracking.models import ResponseEvent, ResponseKind
from tests.factories import STAFF
from tests.inbound.conftest import Alert, fixture_message
from tests.world import World

ACTOR = "test:mail-server"
UNKNOWN_TOKEN = "f" * 32


def receive(session: Session, raw: bytes, **options: Any) -> InboundReceipt:
    return receive_message(session, raw, InboundSource.api, actor=ACTOR, **options)


def events(session: Session, delivery: Delivery) -> list[ResponseEvent]:
    return list(
        session.scalars(
            select(ResponseEvent)
            .where(col(ResponseEvent.delivery_id) == delivery.id)
            .order_by(col(ResponseEvent.id))
        )
    )


def contact(session: Session, world: World, letter: str) -> Contact:
    found = session.get_one(Contact, world.contacts[letter].id)
    session.refresh(found)
    return found


def bounce_states(session: Session, world: World) -> dict[str, tuple[Any, ...]]:
    """Every contact's bounce and subscription state, as stored now."""
    session.expire_all()
    states = {}
    for letter, known in world.contacts.items():
        c = session.get_one(Contact, known.id)
        states[letter] = (
            c.bounce_status,
            c.hard_bounce_count,
            c.soft_bounce_count,
            c.subscription_status,
        )
    return states


def test_a_hard_bounce_marks_the_contact_suppresses_the_address_and_is_recorded(
    session: Session, world: World, alert: Alert
) -> None:
    delivery = alert.deliveries["C"]
    before = bounce_states(session, world)
    receipt = receive(session, fixture_message("dsn_hard_5_1_1.eml", delivery))

    assert receipt.kind is InboundKind.hard_bounce
    assert receipt.delivery_found
    assert not receipt.duplicate
    assert receipt.changes == ["event_recorded", "contact_hard_bounced", "address_suppressed"]
    c = contact(session, world, "C")
    assert c.bounce_status is BounceStatus.hard
    assert c.hard_bounce_count == 1
    assert c.last_bounced_at is not None
    assert is_suppressed(session, "c@example.org")
    reason = session.scalar(
        select(Suppression.reason).where(
            col(Suppression.email_hash) == suppression_hash("c@example.org")
        )
    )
    assert reason is SuppressionReason.hard_bounce

    stored = session.get_one(InboundMessage, receipt.id)
    assert (stored.kind, stored.delivery_id, stored.campaign_id, stored.contact_id) == (
        InboundKind.hard_bounce,
        delivery.id,
        alert.campaign.id,
        world.contacts["C"].id,
    )
    assert stored.diagnostic is not None
    assert stored.diagnostic.startswith("c@example.org: 5.1.1 550 5.1.1")
    [event] = events(session, delivery)
    assert (event.kind, event.campaign_id, event.contact_id) == (
        ResponseKind.bounced_hard,
        alert.campaign.id,
        world.contacts["C"].id,
    )
    assert event.detail == stored.diagnostic

    # Nobody else is marked, not even P, who shares A's address elsewhere.
    after = bounce_states(session, world)
    assert {k: v for k, v in after.items() if k != "C"} == {
        k: v for k, v in before.items() if k != "C"
    }


def test_the_bounce_shows_on_the_organisation_timeline_and_the_contact(
    session: Session, world: World, alert: Alert
) -> None:
    receive(session, fixture_message("dsn_hard_5_1_1.eml", alert.deliveries["C"]))
    organization = world.organizations["lagos_bar"]
    [entry] = [
        e
        for e in members.organization_history(session, STAFF, organization.id or 0)
        if e.action == "contact.bounce_state"
    ]
    assert entry.actor == ACTOR
    assert (entry.target_type, entry.target_id) == ("contact", str(world.contacts["C"].id))
    assert entry.note == "hard bounce report, 5.1.1"
    assert entry.before == {
        "bounce_status": "ok",
        "hard_bounce_count": 0,
        "last_bounced_at": None,
        "suppression": None,
    }
    assert entry.after is not None
    assert entry.after["bounce_status"] == "hard"
    assert entry.after["suppression"] == "hard_bounce"


@pytest.mark.parametrize("name", ["exim_text_bounce.eml", "qmail_failure_notice.eml"])
def test_non_standard_bounces_act_like_a_dsn(
    session: Session, world: World, alert: Alert, name: str
) -> None:
    receipt = receive(session, fixture_message(name, alert.deliveries["G"]))
    assert receipt.kind is InboundKind.hard_bounce
    assert receipt.delivery_found
    assert contact(session, world, "G").bounce_status is BounceStatus.hard
    assert is_suppressed(session, "g@example.org")


def test_soft_bounces_count_and_turn_hard_at_the_limit(
    session: Session, world: World, launch: Callable[[], Alert]
) -> None:
    limit = get_settings().soft_bounce_limit
    assert limit == 3
    receipts = []
    # One soft bounce from each of three alerts (repeats for one alert count once).
    for number in range(limit):
        delivery = launch().deliveries["I"]
        raw = fixture_message("dsn_soft_4_2_2.eml", delivery).replace(
            b"8C1A2B3D4E@relay", f"8C1A2B3D4E.{number}@relay".encode()
        )
        receipts.append(receive(session, raw))
        c = contact(session, world, "I")
        assert c.soft_bounce_count == number + 1
        if number + 1 < limit:
            assert c.bounce_status is BounceStatus.soft
            assert not is_suppressed(session, "i@example.org")
    assert [r.kind for r in receipts] == [InboundKind.soft_bounce] * limit
    assert receipts[0].changes == ["event_recorded", "contact_soft_bounced"]
    assert receipts[-1].changes == [
        "event_recorded",
        "contact_soft_bounced",
        "soft_bounce_limit_reached",
        "address_suppressed",
    ]
    c = contact(session, world, "I")
    assert (c.bounce_status, c.hard_bounce_count) == (BounceStatus.hard, 1)
    assert is_suppressed(session, "i@example.org")


def test_the_soft_bounce_limit_is_a_setting(
    session: Session,
    world: World,
    launch: Callable[[], Alert],
    setting: Callable[[str, str | None], None],
) -> None:
    setting("SOFT_BOUNCE_LIMIT", "1")
    receipt = receive(session, fixture_message("dsn_soft_4_2_2.eml", launch().deliveries["I"]))
    assert "soft_bounce_limit_reached" in receipt.changes
    assert contact(session, world, "I").bounce_status is BounceStatus.hard


def test_repeated_delay_warnings_for_one_alert_count_once(
    session: Session, world: World, alert: Alert
) -> None:
    delivery = alert.deliveries["I"]
    for hours in (4, 24, 48):
        raw = fixture_message("dsn_soft_4_2_2.eml", delivery).replace(
            b"8C1A2B3D4E@relay", f"8C1A2B3D4E.{hours}h@relay".encode()
        )
        assert not receive(session, raw).duplicate
    c = contact(session, world, "I")
    assert (c.soft_bounce_count, c.bounce_status) == (1, BounceStatus.soft)
    assert [e.kind for e in events(session, delivery)] == [ResponseKind.bounced_soft] * 3


def test_the_same_report_twice_changes_nothing_the_second_time(
    session: Session, world: World, alert: Alert
) -> None:
    raw = fixture_message("dsn_soft_4_2_2.eml", alert.deliveries["K"])
    first = receive(session, raw)
    states = bounce_states(session, world)
    second = receive(session, raw)
    assert second.duplicate
    assert second.id == first.id
    assert second.changes == []
    assert second.kind is InboundKind.soft_bounce
    assert second.delivery_found
    assert bounce_states(session, world) == states
    assert len(events(session, alert.deliveries["K"])) == 1
    assert session.scalar(select(func.count()).select_from(InboundMessage)) == 1
    # Also when it comes again another way (the API, then an mbox).
    third = receive_message(session, raw, InboundSource.mbox, actor=ACTOR)
    assert third.duplicate


def test_a_complaint_suppresses_and_unsubscribes(
    session: Session, world: World, alert: Alert
) -> None:
    delivery = alert.deliveries["F"]
    receipt = receive(session, fixture_message("arf_complaint.eml", delivery))
    assert receipt.kind is InboundKind.complaint
    assert receipt.changes == ["event_recorded", "address_suppressed", "contact_unsubscribed"]
    c = contact(session, world, "F")
    assert c.subscription_status is SubscriptionStatus.unsubscribed
    assert c.bounce_status is BounceStatus.ok
    reason = session.scalar(
        select(Suppression.reason).where(
            col(Suppression.email_hash) == suppression_hash("f@example.org")
        )
    )
    assert reason is SuppressionReason.complaint
    assert [e.kind for e in events(session, delivery)] == [ResponseKind.complained]
    [entry] = session.scalars(
        select(AuditEntry).where(
            col(AuditEntry.target_type) == "contact",
            col(AuditEntry.target_id) == str(c.id),
            col(AuditEntry.actor) == ACTOR,
        )
    ).all()
    assert entry.organization_id == world.organizations["sao_paulo_media"].id
    assert entry.note == "spam complaint (feedback report: abuse)"
    assert entry.after == {"subscription_status": "unsubscribed", "suppression": "complaint"}


def test_a_complaint_is_found_by_the_original_message_id_alone(
    session: Session, world: World, alert: Alert
) -> None:
    raw = fixture_message("arf_complaint.eml", alert.deliveries["F"], TOKEN=UNKNOWN_TOKEN)
    receipt = receive(session, raw)
    assert receipt.delivery_found
    assert contact(session, world, "F").subscription_status is SubscriptionStatus.unsubscribed


def test_a_reply_is_kept_for_staff_and_counted_once(
    session: Session, world: World, alert: Alert
) -> None:
    delivery = alert.deliveries["B"]
    states = bounce_states(session, world)
    receipt = receive(session, fixture_message("reply_in_reply_to.eml", delivery))
    assert receipt.kind is InboundKind.reply
    assert receipt.changes == ["event_recorded"]
    stored = session.get_one(InboundMessage, receipt.id)
    assert stored.body_text is not None
    assert "Nous avons écrit au ministère" in stored.body_text
    assert stored.contact_id == world.contacts["B"].id
    [event] = events(session, delivery)
    assert (event.kind, event.automated) == (ResponseKind.replied, False)
    assert bounce_states(session, world) == states


def test_an_out_of_office_note_is_kept_but_marked_automated(
    session: Session, world: World, alert: Alert
) -> None:
    delivery = alert.deliveries["L"]
    receipt = receive(session, fixture_message("auto_reply_out_of_office.eml", delivery))
    assert (receipt.kind, receipt.automatic, receipt.delivery_found) == (
        InboundKind.reply,
        True,
        True,
    )
    [event] = events(session, delivery)
    assert (event.kind, event.automated) == (ResponseKind.replied, True)
    assert event.automated_reason == "automatic reply (out of office)"


def test_unknown_tokens_and_message_ids_identify_nothing(
    session: Session, world: World, alert: Alert
) -> None:
    states = bounce_states(session, world)
    raw = fixture_message(
        "dsn_hard_5_1_1.eml",
        TOKEN=UNKNOWN_TOKEN,
        # The failed address is a contact's: it is still not looked up by address.
        EMAIL="c@example.org",
        MESSAGE_ID="<alert.999.999.000000000000@example.org>",
    )
    receipt = receive(session, raw)
    assert receipt.kind is InboundKind.hard_bounce
    assert not receipt.delivery_found
    assert receipt.changes == []
    assert bounce_states(session, world) == states
    assert not is_suppressed(session, "c@example.org")
    assert session.scalar(select(func.count()).select_from(ResponseEvent)) == 0
    stored = session.get_one(InboundMessage, receipt.id)
    assert (stored.delivery_id, stored.contact_id) == (None, None)


def test_an_unknown_token_falls_back_on_the_message_id(
    session: Session, world: World, alert: Alert
) -> None:
    raw = fixture_message("dsn_hard_5_1_1.eml", alert.deliveries["C"], TOKEN=UNKNOWN_TOKEN)
    assert receive(session, raw).delivery_found
    assert contact(session, world, "C").bounce_status is BounceStatus.hard


def test_a_failure_of_another_address_marks_no_one(
    session: Session, world: World, alert: Alert
) -> None:
    """C's copy was forwarded to an address that bounced: C's address is fine."""
    states = bounce_states(session, world)
    raw = fixture_message(
        "dsn_hard_5_1_1.eml", alert.deliveries["C"], EMAIL="forwarded@elsewhere.example"
    )
    receipt = receive(session, raw)
    assert not receipt.delivery_found
    assert bounce_states(session, world) == states
    assert not is_suppressed(session, "c@example.org")
    assert not is_suppressed(session, "forwarded@elsewhere.example")
    stored = session.get_one(InboundMessage, receipt.id)
    assert stored.diagnostic is not None
    assert stored.diagnostic.startswith("not the address this alert went to")


def test_a_corrected_address_does_not_inherit_the_old_ones_bounce(
    session: Session, world: World, alert: Alert
) -> None:
    c = contact(session, world, "C")
    c.email = "c.new@example.org"
    session.flush()
    receipt = receive(session, fixture_message("dsn_hard_5_1_1.eml", alert.deliveries["C"]))
    assert receipt.changes == ["event_recorded", "address_suppressed"]
    assert contact(session, world, "C").bounce_status is BounceStatus.ok
    assert is_suppressed(session, "c@example.org")  # the old address is dead
    assert not is_suppressed(session, "c.new@example.org")


def test_a_bounce_for_a_deleted_contact_still_suppresses_the_address(
    session: Session, world: World, alert: Alert
) -> None:
    delivery = alert.deliveries["G"]
    members.delete_contact(session, STAFF, world.contacts["G"].id or 0)
    session.flush()
    session.refresh(delivery)
    assert delivery.contact_id is None
    receipt = receive(session, fixture_message("dsn_hard_5_1_1.eml", delivery))
    assert receipt.changes == ["event_recorded", "address_suppressed"]
    assert is_suppressed(session, "g@example.org")
    entry = session.scalars(
        select(AuditEntry).where(col(AuditEntry.action) == "delivery.bounce")
    ).one()
    assert entry.target_id == str(delivery.id)
    assert entry.after == {"suppression": "hard_bounce"}


def test_at_the_bounce_address_a_reply_is_unrecognised_and_changes_nothing(
    session: Session, world: World, alert: Alert
) -> None:
    raw = fixture_message("reply_in_reply_to.eml", alert.deliveries["B"])
    receipt = receive(session, raw, expect=Expectation.bounces)
    assert receipt.kind is InboundKind.unrecognised
    assert receipt.delivery_found
    assert receipt.changes == []
    assert session.scalar(select(func.count()).select_from(ResponseEvent)) == 0


def unsubscribe_mail(delivery: Delivery, domain: str = "example.org") -> bytes:
    """What a mail client sends for the alert's List-Unsubscribe mailto."""
    return (
        f"From: {delivery.email}\r\n"
        f"To: <unsubscribe+{delivery.token}@{domain}>\r\n"
        "Subject: unsubscribe\r\n"
        f"Message-ID: <unsubscribe.{delivery.id}@mail.example>\r\n"
        "\r\n"
        "Please take me off.\r\n"
    ).encode()


def test_mail_to_the_unsubscribe_mailto_unsubscribes_that_recipient_alone(
    session: Session, world: World, alert: Alert
) -> None:
    before = bounce_states(session, world)
    delivery = alert.deliveries["C"]
    receipt = receive(session, unsubscribe_mail(delivery))
    assert receipt.kind is InboundKind.unsubscribe
    assert receipt.delivery_found
    assert receipt.changes == ["contact_unsubscribed"]
    after = bounce_states(session, world)
    assert after["C"][3] is SubscriptionStatus.unsubscribed
    assert {k: v for k, v in after.items() if k != "C"} == {
        k: v for k, v in before.items() if k != "C"
    }
    assert [e.kind for e in events(session, delivery)] == [ResponseKind.unsubscribed]
    assert events(session, delivery)[0].detail == "mailto"
    # The same mail again changes nothing; a token of nobody's unsubscribes nobody.
    assert receive(session, unsubscribe_mail(delivery)).duplicate
    forged = unsubscribe_mail(delivery).replace(delivery.token.encode(), UNKNOWN_TOKEN.encode())
    stranger = receive(session, forged.replace(b"<unsubscribe.", b"<another."))
    assert not stranger.delivery_found
    assert bounce_states(session, world) == after
