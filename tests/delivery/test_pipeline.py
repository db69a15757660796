"""The send pipeline without a broker: the launch snapshot, claims and leases, sending
through a real SMTP server, results recorded only by the owner, and the scan.

(The same code under real Celery workers, killed at random and worse, is in tests/faults/.)
"""

import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, col, func, select

from app.accounts.principal import Role
from app.campaigns.models import Campaign, CampaignStatus
from app.core.db import session_scope
from app.core.settings import get_settings
from app.core.types import utcnow
from app.delivery import store
from app.delivery.messenger import Done, OutgoingMessage, TemporaryFailure
from app.delivery.models import Delivery, DeliveryState, OutboxMessage, SuppressionReason
from app.delivery.scan import run_scan
from app.delivery.sender import send_campaign_batch
from app.delivery.suppressions import suppress
from app.members.models import BounceStatus, Contact, SubscriptionStatus
from app.tracking.signing import Purpose, sign
from tests.campaigns.test_campaigns_api import create
from tests.delivery.smtp_sink import SmtpSink, free_port, running_smtp_sink
from tests.world import World

EVERYONE: dict[str, Any] = {"audience": {}, "topics": []}


@pytest.fixture(autouse=True)
def _quick(quick_password_hashing: None) -> None:
    """Each test signs in two secretariat users."""


@pytest.fixture(params=[True, False], ids=["pipelining", "plain"])
def smtp(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[SmtpSink]:
    """A relay that refuses E, offering PIPELINING or not (both client paths)."""
    with running_smtp_sink(refuse=frozenset({"e@example.org"}), pipelining=request.param) as sink:
        monkeypatch.setenv("MAIL_BACKEND", "smtp")
        monkeypatch.setenv("SMTP_URL", sink.url())
        get_settings.cache_clear()
        yield sink
    get_settings.cache_clear()


def launched(client: TestClient, client_as: Any, **changes: Any) -> int:
    campaign = create(client, **changes)
    colleague = client_as(Role.secretariat)
    assert colleague.post(f"/api/campaigns/{campaign['id']}/approve").status_code == 200
    response = client.post(f"/api/campaigns/{campaign['id']}/launch")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "sending"
    return int(campaign["id"])


def deliveries(session: Session, campaign_id: int) -> list[Delivery]:
    session.expire_all()
    return list(
        session.scalars(
            select(Delivery).where(col(Delivery.campaign_id) == campaign_id).order_by(Delivery.id)
        )
    )


def test_the_launch_writes_exactly_the_previewed_recipients(
    client: TestClient,
    client_as: Any,
    session: Session,
    world: World,
    enqueued_jobs: list[Any],
) -> None:
    preview_before = client.post(
        "/api/audiences/preview",
        json={"topics": [], "variant_languages": ["en", "fr", "ar"], "default_language": "en"},
    ).json()
    campaign_id = launched(client, client_as, **EVERYONE)
    rows = deliveries(session, campaign_id)
    assert len(rows) == preview_before["total"] == 10
    assert {row.contact_id for row in rows} == world.ids("ABCEFGIKLR")
    by_language: dict[str, int] = {}
    for row in rows:
        by_language[row.language] = by_language.get(row.language, 0) + 1
    assert by_language == preview_before["by_language"]
    assert len({row.message_id for row in rows}) == len({row.token for row in rows}) == 10
    assert all(row.state is DeliveryState.queued for row in rows)
    assert all(row.message_id.startswith(f"<alert.{campaign_id}.") for row in rows)
    # The workers are woken only once the launch has committed.
    assert ("delivery.send_batch", (campaign_id,)) in enqueued_jobs
    progress = client.get(f"/api/campaigns/{campaign_id}").json()["progress"]
    assert progress["total"] == progress["queued"] == 10


def test_later_registry_changes_do_not_change_who_it_goes_to(
    client: TestClient, client_as: Any, session: Session, world: World
) -> None:
    campaign_id = launched(client, client_as, **EVERYONE)
    world.organizations["lapsed_org"].membership_status = "active"  # type: ignore[assignment]
    session.flush()
    assert len(deliveries(session, campaign_id)) == 10


def test_a_batch_goes_out_through_smtp_and_is_recorded(
    client: TestClient, client_as: Any, session: Session, world: World, smtp: SmtpSink
) -> None:
    campaign_id = launched(client, client_as, **EVERYONE)
    report = send_campaign_batch(campaign_id, worker="test-worker")
    assert report.claimed == 10
    assert report.sent == 9  # E's address is refused by the relay (550)
    assert report.failed == 1
    rows = {row.email: row for row in deliveries(session, campaign_id)}
    received = {message.rcpt_to[0]: message for message in smtp.messages}
    assert set(received) == {email for email, row in rows.items() if row.state == "sent"}
    for email, message in received.items():
        parsed = message.parsed()
        assert parsed["Message-ID"] == rows[email].message_id
        assert message.mail_from == f"bounces+{rows[email].token}@example.org"
        assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert rows[email].token in parsed["List-Unsubscribe"]
    assert rows["e@example.org"].state == "failed"
    assert rows["e@example.org"].last_error.startswith("550")  # type: ignore[union-attr]
    contact_e = session.get_one(Contact, world.contacts["E"].id)
    session.refresh(contact_e)
    assert contact_e.bounce_status is BounceStatus.hard
    # Nothing left: the scan finishes the campaign.
    report_scan = run_scan()
    assert campaign_id in report_scan.finished
    session.expire_all()
    assert session.get_one(Campaign, campaign_id).status is CampaignStatus.sent


def test_each_recipient_gets_her_language_and_her_own_values(
    client: TestClient, client_as: Any, session: Session, world: World, smtp: SmtpSink
) -> None:
    campaign_id = launched(client, client_as, **EVERYONE)
    send_campaign_batch(campaign_id, worker="test-worker")
    by_address = {message.rcpt_to[0]: message.parsed() for message in smtp.messages}
    french = by_address["b@example.org"]  # B prefers French; Kenya
    assert french["Subject"] == "Kenya : ratifiez l'APIC"
    arabic = by_address["k@example.org"]  # K prefers Arabic; Jordan
    html = arabic.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert 'dir="rtl"' in html
    english = by_address["a@example.org"]
    text = english.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Dear Person" in text
    assert "Kenya has not signed the APIC." in text


def test_suppressions_are_checked_again_just_before_sending(
    client: TestClient, client_as: Any, session: Session, world: World, smtp: SmtpSink
) -> None:
    campaign_id = launched(client, client_as, **EVERYONE)
    world.contacts["A"].subscription_status = SubscriptionStatus.unsubscribed
    suppress(session, "c@example.org", SuppressionReason.complaint)
    session.flush()
    report = send_campaign_batch(campaign_id, worker="test-worker")
    assert report.suppressed == 2
    rows = {row.email: row for row in deliveries(session, campaign_id)}
    assert rows["a@example.org"].state == "suppressed"
    assert rows["a@example.org"].last_error == "unsubscribed"
    assert rows["c@example.org"].last_error == "suppressed"
    assert {m.rcpt_to[0] for m in smtp.messages}.isdisjoint({"a@example.org", "c@example.org"})


def test_the_address_mailed_is_checked_even_after_the_contact_moved(
    client: TestClient, client_as: Any, session: Session, world: World, smtp: SmtpSink
) -> None:
    """The alert goes to the address fixed at launch. A complaint about that address,
    followed by staff correcting the contact's address, must still stop it."""
    campaign_id = launched(client, client_as, **EVERYONE)
    suppress(session, "a@example.org", SuppressionReason.complaint)
    world.contacts["A"].email = "a-new@example.org"
    world.contacts["B"].email = "b-new@example.org"  # moved, launch address still fine
    session.flush()
    report = send_campaign_batch(campaign_id, worker="test-worker")
    rows = {row.email: row for row in deliveries(session, campaign_id)}
    assert rows["a@example.org"].state == "suppressed"
    assert rows["a@example.org"].last_error == "suppressed"
    assert rows["b@example.org"].state == "sent"
    mailed = {m.rcpt_to[0] for m in smtp.messages}
    assert "a@example.org" not in mailed
    assert "b@example.org" in mailed
    assert report.suppressed == 1


class FlakyRelay:
    """Answers 451 to everyone."""

    def __init__(self) -> None:
        self.tries = 0

    def send(self, message: OutgoingMessage, done: Done) -> None:
        self.tries += 1
        done(TemporaryFailure("451 4.3.0 try again later"))

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


class AcceptingRelay(FlakyRelay):
    """Answers 250 to everyone."""

    def send(self, message: OutgoingMessage, done: Done) -> None:
        self.tries += 1
        done(None)


def test_each_delivery_keeps_the_moment_of_its_own_250(
    client: TestClient, client_as: Any, session: Session, world: World
) -> None:
    campaign_id = launched(client, client_as, **EVERYONE)
    start = utcnow()
    ticks = iter(range(1000))

    def clock() -> datetime:  # a second later at every reading
        return start + timedelta(seconds=next(ticks))

    send_campaign_batch(campaign_id, worker="w", messenger=AcceptingRelay(), clock=clock)
    sent_at = [row.sent_at for row in deliveries(session, campaign_id) if row.state == "sent"]
    assert len(sent_at) == 10
    # Recorded together at one checkpoint, but each at its own time.
    assert len(set(sent_at)) == 10


def test_temporary_failures_retry_with_backoff_then_give_up(
    client: TestClient, client_as: Any, session: Session, world: World
) -> None:
    campaign_id = launched(client, client_as, **(EVERYONE | {"audience": {"countries": ["KEN"]}}))
    relay = FlakyRelay()
    now = utcnow()
    report = send_campaign_batch(campaign_id, worker="w", messenger=relay, clock=lambda: now)
    assert report.retried == 2
    rows = deliveries(session, campaign_id)
    assert {row.state for row in rows} == {"queued"}
    assert all(row.next_attempt_at == now + timedelta(seconds=30) for row in rows)
    # Not due yet: nothing is claimed.
    assert (
        send_campaign_batch(campaign_id, worker="w", messenger=relay, clock=lambda: now).claimed
        == 0
    )
    attempts = get_settings().send_max_attempts
    for attempt in range(1, attempts):
        later = now + timedelta(hours=attempt)
        send_campaign_batch(campaign_id, worker="w", messenger=relay, clock=lambda t=later: t)
    rows = deliveries(session, campaign_id)
    assert {row.state for row in rows} == {"failed"}
    assert all(row.attempts == attempts for row in rows)
    assert relay.tries == 2 * attempts


class SlowRelay(AcceptingRelay):
    """Takes its time over every message, while the scan keeps returning expired
    leases to the queue."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds
        self.expired = 0

    def send(self, message: OutgoingMessage, done: Done) -> None:
        time.sleep(self.seconds)
        with session_scope() as unit:
            self.expired += store.expire_leases(unit, utcnow())
        super().send(message, done)


class RecordingRelay(AcceptingRelay):
    """Answers 250 to everyone, and remembers whom."""

    def __init__(self) -> None:
        super().__init__()
        self.to: list[str] = []

    def send(self, message: OutgoingMessage, done: Done) -> None:
        self.to.append(message.to)
        super().send(message, done)


class RateLimiterGone(Exception):
    pass


def test_a_batch_stopped_by_an_error_keeps_the_250s_it_had_and_gives_back_the_rest(
    client: TestClient,
    client_as: Any,
    session: Session,
    world: World,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Redis vanishing under the rate limiter mid-batch: the five already accepted are
    recorded as sent, not mailed again after the lease; the rest go back untouched."""
    from app.delivery import sender

    campaign_id = launched(client, client_as, **EVERYONE)
    turns = iter(range(100))

    def rate_limit_until_redis_goes(limiter: Any) -> None:
        if next(turns) == 5:
            raise RateLimiterGone("Redis went away")

    monkeypatch.setattr(sender, "wait_for_turn", rate_limit_until_redis_goes)
    first = RecordingRelay()
    now = utcnow()
    with pytest.raises(RateLimiterGone):
        send_campaign_batch(campaign_id, worker="first", messenger=first, clock=lambda: now)
    assert len(first.to) == 5
    rows = {row.email: row for row in deliveries(session, campaign_id)}
    assert {email for email, row in rows.items() if row.state == "sent"} == set(first.to)
    untried = [row for row in rows.values() if row.state != "sent"]
    # The row whose turn failed keeps its lease (was it handed over? unknown); every
    # row after it is back in the queue with its attempt refunded.
    assert sum(row.state == "queued" and row.attempts == 0 for row in untried) == len(untried) - 1

    monkeypatch.setattr(sender, "wait_for_turn", lambda limiter: None)
    with session_scope() as other:
        store.expire_leases(other, now + timedelta(minutes=5))
    second = RecordingRelay()
    send_campaign_batch(
        campaign_id, worker="second", messenger=second, clock=lambda: now + timedelta(minutes=5)
    )
    assert not set(first.to) & set(second.to)
    assert sorted(first.to + second.to) == sorted(rows)


def test_a_slow_batch_renews_its_lease_so_nobody_takes_its_rows(
    client: TestClient,
    client_as: Any,
    session: Session,
    world: World,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Ten messages at 0.7 s each outlast a 5-second lease: the worker renews it
    while it sends, so the scan never hands its rows to another worker."""
    monkeypatch.setenv("SEND_LEASE_SECONDS", "5")
    get_settings.cache_clear()
    campaign_id = launched(client, client_as, **EVERYONE)
    relay = SlowRelay(0.7)
    report = send_campaign_batch(campaign_id, worker="slow", messenger=relay)
    get_settings.cache_clear()
    assert relay.expired == 0
    assert report.sent == relay.tries == 10
    assert {row.state for row in deliveries(session, campaign_id)} == {"sent"}


def test_only_the_lease_holder_records_results(
    client: TestClient, client_as: Any, session: Session, world: World
) -> None:
    campaign_id = launched(client, client_as, **EVERYONE)
    now = utcnow()
    with session.begin_nested():
        claims = store.claim_batch(
            session.connection(), campaign_id, worker="dead", size=4, lease_seconds=60, now=now
        )
    assert len(claims) == 4
    # Another worker sees only the rest.
    others = store.claim_batch(
        session.connection(), campaign_id, worker="alive", size=100, lease_seconds=60, now=now
    )
    assert len(others) == 6
    assert {c.id for c in claims}.isdisjoint({c.id for c in others})
    # The first worker dies; after its lease the rows go back to the queue.
    assert store.expire_leases(session, now + timedelta(seconds=30)) == 0
    assert store.expire_leases(session, now + timedelta(seconds=61)) == 10
    retaken = store.claim_batch(
        session.connection(),
        campaign_id,
        worker="new",
        size=4,
        lease_seconds=60,
        now=now + timedelta(seconds=62),
    )
    assert [c.id for c in retaken] == [c.id for c in claims]
    assert all(c.attempts == 2 for c in retaken)
    # The dead worker comes back and reports: nothing it writes counts any more.
    late = [store.Outcome(c.id, DeliveryState.sent) for c in claims]
    connection = session.connection()
    assert store.record_results(connection, late, worker="dead").written == 0
    assert store.record_results(connection, late, worker="new").written == 4


def test_a_checkpoint_writes_every_kind_of_outcome_for_the_rows_it_owns(
    client: TestClient, client_as: Any, session: Session, world: World
) -> None:
    """One checkpoint, every outcome a batch can have: on PostgreSQL it is one
    statement over arrays, on SQLite a few; both must write the same thing."""
    campaign_id = launched(client, client_as, **EVERYONE)
    connection = session.connection()
    now = utcnow()
    claims = store.claim_batch(
        connection, campaign_id, worker="w", size=6, lease_seconds=60, now=now
    )
    sent, relay_down, deferred, refused, gave_up, still_sending = claims
    contacts_before = {
        contact.id: contact.hard_bounce_count for contact in session.scalars(select(Contact))
    }
    answered = now - timedelta(seconds=2)
    checkpoint = store.record_results(
        connection,
        [
            store.Outcome(sent.id, DeliveryState.sent, at=answered),
            store.Outcome(
                relay_down.id,
                DeliveryState.queued,
                "relay down",
                retry_at=now + timedelta(seconds=10),
                refund_attempt=True,
            ),
            store.Outcome(
                deferred.id, DeliveryState.queued, "451 later", retry_at=now + timedelta(minutes=1)
            ),
            store.Outcome(refused.id, DeliveryState.failed, "550 no such user"),
            store.Outcome(gave_up.id, DeliveryState.failed, "gave up: 451 later"),
        ],
        worker="w",
        campaign_id=campaign_id,
        # A row with an outcome is never renewed with it.
        renew_ids=[still_sending.id, sent.id],
        lease_seconds=120,
        refused_contacts=[refused.contact_id or 0],
        now=now,
    )
    assert checkpoint == store.Checkpoint(written=5, campaign_status=CampaignStatus.sending)
    rows = {row.id: row for row in deliveries(session, campaign_id)}
    assert (rows[sent.id].state, rows[sent.id].sent_at) == (DeliveryState.sent, answered)
    assert rows[sent.id].lease_owner is None
    assert rows[sent.id].lease_expires_at is None
    assert rows[relay_down.id].state == DeliveryState.queued
    assert rows[relay_down.id].attempts == 0  # the relay's fault: the try is given back
    assert rows[relay_down.id].next_attempt_at == now + timedelta(seconds=10)
    assert rows[deferred.id].attempts == 1
    assert rows[deferred.id].next_attempt_at == now + timedelta(minutes=1)
    assert rows[deferred.id].last_error == "451 later"
    assert {rows[refused.id].state, rows[gave_up.id].state} == {DeliveryState.failed}
    assert all(rows[row.id].sent_at is None for row in claims[1:])
    assert rows[still_sending.id].state == DeliveryState.sending
    assert rows[still_sending.id].lease_expires_at == now + timedelta(seconds=120)
    bounced = session.get_one(Contact, refused.contact_id)
    assert bounced.bounce_status == BounceStatus.hard
    assert bounced.hard_bounce_count == contacts_before[bounced.id] + 1
    assert bounced.last_bounced_at == now
    # Only the refusal bounces: giving up after temporary failures does not.
    assert session.get_one(Contact, gave_up.contact_id).bounce_status != BounceStatus.hard

    # A worker that no longer holds the row writes nothing and counts no bounce.
    late = store.record_results(
        connection,
        [store.Outcome(still_sending.id, DeliveryState.failed, "550 no such user")],
        worker="presumed-dead",
        campaign_id=campaign_id,
        refused_contacts=[still_sending.contact_id or 0],
        now=now,
    )
    assert late.written == 0
    session.expire_all()
    still = session.get_one(Contact, still_sending.contact_id)
    assert still.hard_bounce_count == contacts_before[still.id]
    assert deliveries(session, campaign_id)[claims.index(still_sending)].state == "sending"
    # Times go in as UTC or not at all, on either database.
    with pytest.raises(ValueError, match="naive"):
        store.record_results(
            connection,
            [store.Outcome(still_sending.id, DeliveryState.sent, at=datetime(2026, 1, 1))],
            worker="w",
        )


def test_pausing_stops_a_worker_at_its_next_checkpoint(
    client: TestClient,
    client_as: Any,
    session: Session,
    world: World,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    campaign_id = launched(client, client_as, **EVERYONE)
    monkeypatch.setattr("app.delivery.sender.CHECKPOINT", 3)
    sent: list[str] = []

    class PausingRelay(FlakyRelay):
        def send(self, message: OutgoingMessage, done: Done) -> None:
            sent.append(message.to)
            done(None)
            if len(sent) == 2:
                client.post(f"/api/campaigns/{campaign_id}/pause")

    report = send_campaign_batch(campaign_id, worker="w", messenger=PausingRelay())
    assert report.sent == 3
    assert report.released == 7
    rows = deliveries(session, campaign_id)
    assert sum(row.state == "sent" for row in rows) == 3
    assert sum(row.state == "queued" for row in rows) == 7
    assert all(row.attempts == 0 for row in rows if row.state == "queued")
    # Paused: no claims until it is resumed.
    assert send_campaign_batch(campaign_id, worker="w", messenger=PausingRelay()).claimed == 0


def test_the_embedded_default_keeps_alerts_in_the_outbox(
    client: TestClient, client_as: Any, session: Session, world: World
) -> None:
    campaign_id = launched(client, client_as, **EVERYONE)
    report = send_campaign_batch(campaign_id, worker="w")
    assert report.sent == 10
    stored = session.scalar(select(func.count()).where(col(OutboxMessage.purpose) == "campaign"))
    assert stored == 10


def test_a_scheduled_campaign_is_snapshotted_when_it_starts(
    client: TestClient, client_as: Any, session: Session, world: World, enqueued_jobs: list[Any]
) -> None:
    campaign = create(client, **EVERYONE)
    client_as(Role.secretariat).post(f"/api/campaigns/{campaign['id']}/approve")
    send_at = (utcnow() + timedelta(days=2)).replace(microsecond=0)
    client.post(f"/api/campaigns/{campaign['id']}/launch", json={"send_at": send_at.isoformat()})
    assert deliveries(session, campaign["id"]) == []
    # Registry changes before the start still count.
    world.contacts["R"].subscription_status = SubscriptionStatus.unsubscribed
    session.flush()
    report = run_scan(now=send_at + timedelta(seconds=1))
    assert report.started == [campaign["id"]]
    assert len(deliveries(session, campaign["id"])) == 9
    assert ("delivery.send_batch", (campaign["id"],)) in enqueued_jobs


def _use_relay(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("MAIL_BACKEND", "smtp")
    monkeypatch.setenv("SMTP_URL", url)
    get_settings.cache_clear()


def test_a_relay_that_is_down_pauses_the_campaign_until_it_answers(
    client: TestClient,
    client_as: Any,
    session: Session,
    world: World,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    campaign_id = launched(client, client_as, **EVERYONE)
    _use_relay(monkeypatch, f"smtp://127.0.0.1:{free_port()}")
    try:
        report = send_campaign_batch(campaign_id, worker="w")
        assert report.paused_for_relay
        assert report.sent == 0
        campaign = client.get(f"/api/campaigns/{campaign_id}").json()
        assert campaign["status"] == "paused"
        assert campaign["paused_by_pipeline"] is True
        assert "not answering" in campaign["paused_reason"]
        rows = deliveries(session, campaign_id)
        assert {row.state for row in rows} == {"queued"}
        assert all(row.attempts == 0 for row in rows)  # an outage costs no attempt
        assert run_scan().resumed == []  # still down
        with running_smtp_sink() as sink:
            _use_relay(monkeypatch, sink.url())
            assert run_scan().resumed == [campaign_id]
            session.expire_all()
            assert session.get_one(Campaign, campaign_id).status is CampaignStatus.sending
            later = utcnow() + timedelta(seconds=11)  # the relay retry delay has passed
            assert send_campaign_batch(campaign_id, worker="w", clock=lambda: later).sent == 10
            assert len(sink.messages) == 10
    finally:
        get_settings.cache_clear()


class ClosesOnOneRecipient(AcceptingRelay):
    """250 for everyone but one address, which gets 421 and a hang-up every time (a
    relay limiting that domain, or a message it chokes on)."""

    def send(self, message: OutgoingMessage, done: Done) -> None:
        self.tries += 1
        if message.to == "a@example.org":
            done(TemporaryFailure("421 4.7.0 Too many messages, closing", relay_down=True))
        else:
            done(None)

    def probe(self) -> None:
        """A new connection is welcome: the relay is up."""


def test_a_relay_that_closes_on_one_recipient_only_counts_toward_its_limit(
    client: TestClient, client_as: Any, session: Session, world: World
) -> None:
    """The others went through, so the relay was not down: the 421 was this message's
    own temporary failure, retried with backoff and given up at the limit, not refunded
    and retried every ten seconds for ever."""
    campaign_id = launched(client, client_as, **EVERYONE)
    relay = ClosesOnOneRecipient()
    now = utcnow()
    for hour in range(get_settings().send_max_attempts + 2):
        later = now + timedelta(hours=hour)
        send_campaign_batch(campaign_id, worker="w", messenger=relay, clock=lambda: later)
    row = {row.email: row for row in deliveries(session, campaign_id)}["a@example.org"]
    assert row.state == "failed"
    assert row.attempts == get_settings().send_max_attempts
    assert row.last_error == "gave up: 421 4.7.0 Too many messages, closing"
    campaign = client.get(f"/api/campaigns/{campaign_id}").json()
    assert campaign["status"] == "sending"  # never paused: the relay answered all along


def test_a_pause_made_by_a_person_is_never_lifted_by_the_scan(
    client: TestClient,
    client_as: Any,
    session: Session,
    world: World,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from app.campaigns import lifecycle

    campaign_id = launched(client, client_as, **EVERYONE)
    lifecycle.pause_for_relay(session, session.get_one(Campaign, campaign_id), "relay down")
    session.flush()
    # Someone decides it should stay paused, whatever the relay does.
    assert client.post(f"/api/campaigns/{campaign_id}/pause").status_code == 200
    with running_smtp_sink() as sink:
        _use_relay(monkeypatch, sink.url())
        try:
            assert run_scan().resumed == []
        finally:
            get_settings.cache_clear()
    campaign = client.get(f"/api/campaigns/{campaign_id}").json()
    assert campaign["status"] == "paused"
    assert campaign["paused_by_pipeline"] is False
    assert client.post(f"/api/campaigns/{campaign_id}/resume").status_code == 200


def test_a_worker_that_read_the_campaign_before_a_persons_pause_does_not_take_it_over(
    client: TestClient, client_as: Any, session: Session, world: World, connection: Any
) -> None:
    """The worker read `sending`; a person's pause commits; then the relay fails. The
    worker's pause must not relabel the person's as the pipeline's (the scan would lift
    it)."""
    from app.campaigns import lifecycle

    campaign_id = launched(client, client_as, **EVERYONE)
    worker = Session(bind=connection)
    seen_by_worker = worker.get_one(Campaign, campaign_id)
    assert seen_by_worker.status is CampaignStatus.sending
    assert client.post(f"/api/campaigns/{campaign_id}/pause").status_code == 200
    assert lifecycle.pause_for_relay(worker, seen_by_worker, "relay down") is False
    worker.flush()
    assert lifecycle.resume_after_relay(session) == []
    campaign = client.get(f"/api/campaigns/{campaign_id}").json()
    assert campaign["status"] == "paused"
    assert campaign["paused_by_pipeline"] is False


def test_a_persons_pause_holds_when_the_scan_resumed_the_campaign_meanwhile(
    client: TestClient, client_as: Any, session: Session, world: World, connection: Any
) -> None:
    """The person's page read "paused by the pipeline"; the scan then resumed it. Their
    pause must still stop the campaign, not leave it sending while saying paused."""
    from app.accounts.principal import Principal
    from app.campaigns import lifecycle

    campaign_id = launched(client, client_as, **EVERYONE)
    lifecycle.pause_for_relay(session, session.get_one(Campaign, campaign_id), "relay down")
    session.flush()
    person = Session(bind=connection)
    seen_by_person = person.get_one(Campaign, campaign_id)
    assert seen_by_person.paused_by_pipeline
    assert lifecycle.resume_after_relay(Session(bind=connection)) == [campaign_id]
    lifecycle.pause(person, Principal(actor="user:1", role=Role.secretariat), seen_by_person)
    person.flush()
    campaign = client.get(f"/api/campaigns/{campaign_id}").json()
    assert campaign["status"] == "paused"
    assert campaign["paused_by_pipeline"] is False


def test_cancelling_mid_send_leaves_the_rest_unsent_and_the_figures_whole(
    client: TestClient, client_as: Any, session: Session, world: World
) -> None:
    campaign_id = launched(client, client_as, **EVERYONE)
    with session.begin_nested():
        store.claim_batch(session.connection(), campaign_id, worker="w", size=3, lease_seconds=60)
    assert client.post(f"/api/campaigns/{campaign_id}/cancel").status_code == 200
    progress = client.get(f"/api/campaigns/{campaign_id}").json()["progress"]
    assert progress["suppressed"] == 7  # never sent: left out, with the reason
    assert progress["sending"] == 3  # still held by the worker
    # The worker gives its rows back at its checkpoint; the scan closes them too.
    store.release(session, [row.id or 0 for row in deliveries(session, campaign_id)], worker="w")
    run_scan()
    progress = client.get(f"/api/campaigns/{campaign_id}").json()["progress"]
    assert progress["suppressed"] == progress["total"] == 10
    reasons = {row.last_error for row in deliveries(session, campaign_id)}
    assert reasons == {"campaign cancelled"}


def test_what_the_relay_receives_is_signed_and_complete(
    client: TestClient,
    client_as: Any,
    session: Session,
    world: World,
    smtp: SmtpSink,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Parse what the SMTP server got: every bulk-mail header, the multipart structure,
    Arabic content, and a DKIM signature dkimpy verifies, covering the unsubscribe
    headers."""
    import dkim
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from app.delivery.dkim import DkimSigner
    from tests.delivery.test_dkim import dns_for

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    for name, value in {
        "DKIM_DOMAIN": "example.org",
        "DKIM_SELECTOR": "alerts2026",
        "DKIM_PRIVATE_KEY": key_pem,
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    campaign_id = launched(client, client_as, **EVERYONE)
    send_campaign_batch(campaign_id, worker="w")
    signer = DkimSigner.from_settings(get_settings())
    assert signer is not None
    rows = {row.email: row for row in deliveries(session, campaign_id)}
    arabic = next(m for m in smtp.messages if m.rcpt_to == ["k@example.org"])
    assert dkim.verify(arabic.data, dnsfunc=dns_for(signer))
    parsed = arabic.parsed()
    tags = dict(
        tag.strip().split("=", 1)
        for tag in "".join(parsed["DKIM-Signature"].split()).split(";")
        if tag.strip()
    )
    signed = tags["h"].lower().split(":")
    for header in ("list-unsubscribe", "list-unsubscribe-post", "list-id", "from", "subject"):
        assert header in signed
    jordan = "\u0627\u0644\u0623\u0631\u062f\u0646"  # Jordan, in Arabic
    assert parsed["Subject"].startswith(f"{jordan}: ")
    assert parsed["Subject"].endswith("\u0627\u0644\u0627\u062a\u0641\u0627\u0642")
    assert parsed["From"] == get_settings().mail_from
    assert parsed["To"].endswith("<k@example.org>")
    assert parsed["Message-ID"] == rows["k@example.org"].message_id
    assert parsed["Date"]
    assert parsed["List-Id"].endswith("<alerts.example.org>")
    token = rows["k@example.org"].token
    base = get_settings().public_base_url.rstrip("/")
    assert parsed["List-Unsubscribe"] == (
        f"<{base}/unsubscribe/{sign(token, Purpose.unsubscribe)}>, "
        f"<mailto:unsubscribe+{token}@example.org>"
    )
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert arabic.mail_from == f"bounces+{token}@example.org"
    assert parsed.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in parsed.iter_parts()] == [
        "text/plain",
        "text/html",
    ]
    html = parsed.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert 'dir="rtl"' in html
    assert jordan in html
    # Tampering with the unsubscribe header breaks the signature.
    forged = arabic.data.replace(token.encode(), b"0" * len(token), 1)
    assert not dkim.verify(forged, dnsfunc=dns_for(signer))


def test_a_row_whose_worker_dies_every_time_fails_instead_of_looping(
    client: TestClient, client_as: Any, session: Session, world: World
) -> None:
    campaign_id = launched(client, client_as, **(EVERYONE | {"audience": {"countries": ["FRA"]}}))
    now = utcnow()
    attempts = get_settings().send_max_attempts + store.WORKER_DEATHS_FORGIVEN
    for crash in range(attempts):
        later = now + timedelta(minutes=2 * crash)
        claimed = store.claim_batch(
            session.connection(),
            campaign_id,
            worker=f"dies-{crash}",
            size=10,
            lease_seconds=60,
            now=later,
        )
        assert len(claimed) == 1  # I (J is paused)
        store.expire_leases(session, later + timedelta(seconds=61))  # the worker died
    assert (
        store.claim_batch(
            session.connection(), campaign_id, worker="next", size=10, lease_seconds=60
        )
        == []
    )
    [row] = deliveries(session, campaign_id)
    assert row.state == "failed"
    assert row.last_error == f"gave up: claimed {attempts} times and never finished"
    assert campaign_id in run_scan().finished


def test_a_worker_killed_holding_a_row_at_its_last_try_does_not_fail_it(
    client: TestClient, client_as: Any, session: Session, world: World, smtp: SmtpSink
) -> None:
    """Greylisted four times, then claimed for the fifth try by a worker that is killed
    before reaching it: nobody tried, so it goes back, and the next worker sends it."""
    campaign_id = launched(client, client_as, **EVERYONE)
    now = utcnow()
    tries = get_settings().send_max_attempts
    greylisting = FlakyRelay()
    for retry in range(tries - 1):
        later = now + timedelta(hours=retry)
        send_campaign_batch(campaign_id, worker="w", messenger=greylisting, clock=lambda: later)
    killed_at = now + timedelta(hours=tries)
    claimed = store.claim_batch(
        session.connection(),
        campaign_id,
        worker="killed",
        size=500,
        lease_seconds=60,
        now=killed_at,
    )
    assert claimed
    assert {claim.attempts for claim in claimed} == {tries}
    store.expire_leases(session, killed_at + timedelta(seconds=61))
    assert {row.state for row in deliveries(session, campaign_id)} == {"queued"}
    send_campaign_batch(campaign_id, worker="next", clock=lambda: killed_at + timedelta(minutes=5))
    rows = deliveries(session, campaign_id)
    # Every one tried again: sent, or refused for good by the relay (e@ has no mailbox).
    assert {row.state for row in rows} == {"sent", "failed"}
    assert all("gave up" not in (row.last_error or "") for row in rows)
    assert {row.email for row in rows if row.state == "sent"} == {
        message.rcpt_to[0] for message in smtp.messages
    }


def test_a_database_connection_lost_at_a_checkpoint_costs_no_second_message(
    client: TestClient,
    client_as: Any,
    session: Session,
    world: World,
    smtp: SmtpSink,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The connection dies as the worker records what the relay took (PostgreSQL
    restarted, pg_terminate_backend): the worker records it again on a new connection
    instead of failing the batch, which left the rows leased and sent them all a second
    time when the lease ran out (tests/faults: a quarter of an alert went twice)."""
    campaign_id = launched(client, client_as, **EVERYONE)
    real_record_results = store.record_results
    lost: list[int] = []

    def connection_lost_once(*args: Any, **kwargs: Any) -> store.Checkpoint:
        if not lost:
            lost.append(1)
            raise OperationalError(
                "UPDATE deliveries",
                {},
                Exception("server closed the connection unexpectedly"),
                connection_invalidated=True,
            )
        return real_record_results(*args, **kwargs)

    monkeypatch.setattr(store, "record_results", connection_lost_once)
    report = send_campaign_batch(campaign_id, worker="test-worker")
    assert lost
    assert report.sent == 9
    assert report.failed == 1  # E is refused (550)
    assert len(smtp.messages) == 9
    rows = deliveries(session, campaign_id)
    assert {row.state for row in rows} == {"sent", "failed"}
    # Nothing is left leased for the scan to hand out again.
    assert store.expire_leases(session, utcnow() + timedelta(hours=1)) == 0
    assert send_campaign_batch(campaign_id, worker="another").claimed == 0
    assert len(smtp.messages) == 9


def _plan_nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [plan, *(node for child in plan.get("Plans", []) for node in _plan_nodes(child))]


def test_a_claim_reads_the_claim_index_in_order_instead_of_sorting_the_queue(
    client: TestClient, client_as: Any, session: Session, world: World
) -> None:
    """Ordered by id alone, PostgreSQL read past every row already sent (or sorted the
    whole queue) at each claim, which grew with the campaign: a third of the send at
    100,000 recipients. Halfway through a campaign of 20,000, the claim must walk
    ix_deliveries_claim in its own order and stop after the batch."""
    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("a PostgreSQL plan: this run's database is SQLite")
    campaign_id = launched(client, client_as, **EVERYONE)
    session.execute(
        text(
            "INSERT INTO deliveries (campaign_id, email, language, message_id, token, state,"
            " attempts, created_at) SELECT :campaign, 'r' || n || '@example.org', 'en',"
            " 'plan-' || n || '@example.org', 'plan-' || n,"
            " CASE WHEN n <= 10000 THEN 'sent' ELSE 'queued' END, 0, now()"
            " FROM generate_series(1, 20000) AS n"
        ),
        {"campaign": campaign_id},
    )
    session.execute(text("ANALYZE deliveries"))  # rolled back with the rows
    due = store.due_deliveries(campaign_id, size=200, now=utcnow())
    compiled = due.compile(session.get_bind(), compile_kwargs={"literal_binds": True})
    plan = session.execute(text(f"EXPLAIN (FORMAT JSON) {compiled}")).scalar_one()[0]["Plan"]
    session.rollback()
    nodes = _plan_nodes(plan)
    assert not [node for node in nodes if node["Node Type"] in ("Sort", "Incremental Sort")]
    scans = [node for node in nodes if "Index Name" in node]
    assert [scan["Index Name"] for scan in scans] == ["ix_deliveries_claim"]
    assert "state" in scans[0]["Index Cond"]
