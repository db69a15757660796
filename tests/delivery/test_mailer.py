"""The transactional mail path: the outbox, and the SMTP relay after commit only."""

from collections.abc import Callable, Iterator
from email.utils import parsedate_to_datetime

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from app.core.db import session_scope
from app.core.settings import get_settings
from app.delivery.mailer import RelayAddress, parse_smtp_url, queue_email
from app.delivery.models import OutboxMessage
from tests.delivery.smtp_sink import SmtpSink, free_port, running_smtp_sink
from tests.factories import make_contact, make_organization

Configure = Callable[..., None]


@pytest.fixture
def configure(monkeypatch: pytest.MonkeyPatch) -> Iterator[Configure]:
    """configure(MAIL_BACKEND=..., SMTP_URL=...): settings from these variables."""

    def apply(**variables: str) -> None:
        for name, value in variables.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()

    yield apply
    get_settings.cache_clear()


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    with running_smtp_sink(refuse=frozenset({"nobody@example.org"})) as running:
        yield running


@pytest.fixture
def smtp_backend(configure: Configure, sink: SmtpSink, jobs_run_inline: None) -> SmtpSink:
    configure(MAIL_BACKEND="smtp", SMTP_URL=sink.url())
    return sink


def outbox(session: Session, subject: str) -> list[OutboxMessage]:
    session.expire_all()
    return list(
        session.scalars(
            select(OutboxMessage)
            .where(col(OutboxMessage.subject) == subject)
            .order_by(col(OutboxMessage.id))
        ).all()
    )


def queue(session: Session, subject: str, to: str = "amina@example.org", **extra: str) -> int:
    message = queue_email(
        session, to=to, subject=subject, text="Hello Amina,\n\nA test.\n", purpose="test", **extra
    )
    return message.id or 0


def test_the_embedded_default_keeps_mail_in_the_outbox(
    session: Session, configure: Configure, sink: SmtpSink
) -> None:
    configure(SMTP_URL=sink.url())  # a relay is there, but MAIL_BACKEND is left alone
    assert get_settings().mail_backend == "outbox"
    with session_scope() as unit:
        queue(unit, "Kept in the outbox")
    [message] = outbox(session, "Kept in the outbox")
    assert message.to_address == "amina@example.org"
    assert message.purpose == "test"
    assert message.sent_at is None
    assert message.last_error is None
    assert sink.messages == []


def test_sent_after_commit_never_before(session: Session, smtp_backend: SmtpSink) -> None:
    with session_scope() as unit:
        message_id = queue(unit, "After commit")
        # Releasing a savepoint is not the end of the transaction: nothing goes yet.
        with unit.begin_nested():
            pass
        unit.flush()
        assert smtp_backend.messages == []
    [received] = smtp_backend.messages
    assert received.mail_from == "alerts@example.org"
    assert received.rcpt_to == ["amina@example.org"]
    email = received.parsed()
    assert email["From"] == get_settings().mail_from
    assert email["To"] == "amina@example.org"
    assert email["Subject"] == "After commit"
    assert email["Message-ID"].startswith(f"<outbox.{message_id}.")
    assert email["Message-ID"].endswith("@example.org>")
    assert email["Auto-Submitted"] == "auto-generated"
    assert parsedate_to_datetime(email["Date"]).tzinfo is not None
    assert email.get_content_type() == "text/plain"
    assert "A test." in email.get_content()
    [stored] = outbox(session, "After commit")
    assert stored.sent_at is not None
    assert stored.last_error is None


def test_a_rolled_back_transaction_sends_nothing(session: Session, smtp_backend: SmtpSink) -> None:
    def fail_after_queueing() -> None:
        with session_scope() as unit:
            queue(unit, "Rolled back")
            raise RuntimeError("the request failed after queueing mail")

    with pytest.raises(RuntimeError):
        fail_after_queueing()
    assert smtp_backend.messages == []
    assert outbox(session, "Rolled back") == []


def test_mail_from_a_rolled_back_savepoint_is_not_sent(
    session: Session, smtp_backend: SmtpSink
) -> None:
    with session_scope() as unit:
        queue(unit, "Kept", to="kept@example.org")
        savepoint = unit.begin_nested()
        queue(unit, "Dropped", to="dropped@example.org")
        savepoint.rollback()
    assert [m.rcpt_to for m in smtp_backend.messages] == [["kept@example.org"]]
    assert outbox(session, "Dropped") == []


def test_html_goes_as_an_alternative(session: Session, smtp_backend: SmtpSink) -> None:
    with session_scope() as unit:
        queue(unit, "Both parts", html="<p>A <strong>test</strong>.</p>")
    email = smtp_backend.messages[0].parsed()
    assert email.get_content_type() == "multipart/alternative"
    plain = email.get_body(("plain",))
    html = email.get_body(("html",))
    assert plain is not None
    assert "A test." in plain.get_content()
    assert html is not None
    assert "<strong>test</strong>" in html.get_content()


def test_a_refused_recipient_fails_only_that_message(
    session: Session, smtp_backend: SmtpSink
) -> None:
    with session_scope() as unit:
        queue(unit, "One of two", to="nobody@example.org")
        queue(unit, "One of two", to="amina@example.org")
    refused, sent = outbox(session, "One of two")
    assert refused.sent_at is None
    assert refused.last_error is not None
    assert "550" in refused.last_error
    assert sent.sent_at is not None
    assert sent.last_error is None
    assert [m.rcpt_to for m in smtp_backend.messages] == [["amina@example.org"]]


def test_a_failing_relay_records_the_error_and_the_request_still_succeeds(
    session: Session, anonymous_client: TestClient, configure: Configure, jobs_run_inline: None
) -> None:
    configure(MAIL_BACKEND="smtp", SMTP_URL=f"smtp://127.0.0.1:{free_port()}")
    organization = make_organization(session, name="Relay Down Forum")
    make_contact(session, organization, name="Amina Njeri", email="amina@relaydown.example.org")
    session.flush()

    response = anonymous_client.post(
        "/api/auth/magic-link", json={"email": "amina@relaydown.example.org"}
    )

    assert response.status_code == 202
    [message] = outbox(session, "Your sign-in link for the Coalition for the ICC")
    assert message.sent_at is None
    assert message.last_error is not None
    assert "ConnectionRefusedError" in message.last_error


def test_the_request_never_waits_for_the_relay(
    session: Session, anonymous_client: TestClient, configure: Configure, enqueued_jobs: list
) -> None:
    """The sign-in request only asks a worker to send: its answer takes as long whether
    or not the address is known, and a slow relay cannot slow it down."""
    configure(MAIL_BACKEND="smtp", SMTP_URL=f"smtp://127.0.0.1:{free_port()}")
    organization = make_organization(session, name="Worker Mail Forum")
    make_contact(session, organization, name="Amina Njeri", email="amina@worker.example.org")
    session.flush()
    response = anonymous_client.post(
        "/api/auth/magic-link", json={"email": "amina@worker.example.org"}
    )
    assert response.status_code == 202
    [message] = outbox(session, "Your sign-in link for the Coalition for the ICC")
    assert message.sent_at is None
    assert message.last_error is None  # not attempted in the request
    assert enqueued_jobs == [("mail.deliver", ([message.id],))]


def test_mail_whose_hint_was_lost_is_asked_for_again_by_the_scan(
    session: Session, configure: Configure, enqueued_jobs: list
) -> None:
    from datetime import timedelta

    from app.core.types import utcnow
    from app.delivery.scan import run_scan

    configure(MAIL_BACKEND="smtp", SMTP_URL=f"smtp://127.0.0.1:{free_port()}")
    message_id = queue(session, "Lost hint")
    session.flush()
    assert run_scan().mail_retried == 0  # too fresh: its own hint may still come
    report = run_scan(now=utcnow() + timedelta(minutes=1))
    assert report.mail_retried == 1
    assert ("mail.deliver", ([message_id],)) in enqueued_jobs
    assert run_scan(now=utcnow() + timedelta(hours=2)).mail_retried == 0  # too late


def test_relay_credentials_come_from_the_url(
    session: Session, configure: Configure, sink: SmtpSink, jobs_run_inline: None
) -> None:
    configure(MAIL_BACKEND="smtp", SMTP_URL=sink.url("mailer%40example.org:p%3Ass%2Fword@"))
    with session_scope() as unit:
        queue(unit, "Authenticated")
    assert sink.logins == [("mailer@example.org", "p:ss/word")]
    assert len(sink.messages) == 1


def test_smtp_urls() -> None:
    assert parse_smtp_url("smtp://relay.example.org") == RelayAddress("relay.example.org", 25)
    assert parse_smtp_url("smtps://relay.example.org") == RelayAddress(
        "relay.example.org", 465, implicit_tls=True
    )
    relay = parse_smtp_url("smtp://user:secret@relay.example.org:587?starttls=1")
    assert (relay.port, relay.starttls, relay.username, relay.password) == (
        587,
        True,
        "user",
        "secret",
    )
    assert "secret" not in repr(relay)
    assert parse_smtp_url("smtp://relay.example.org:587?tls=starttls").starttls
    assert parse_smtp_url("smtp://relay.example.org:465?tls=implicit").implicit_tls
    plain = parse_smtp_url("smtp://relay.example.org?tls=none")
    assert not plain.starttls
    assert not plain.implicit_tls
    for wrong in (
        "http://relay.example.org",
        "relay.example.org:25",
        "smtp://",
        "smtp://relay.example.org?tls=maybe",
    ):
        with pytest.raises(ValueError, match="SMTP_URL"):
            parse_smtp_url(wrong)


def test_a_sent_sign_in_link_is_not_kept_in_the_outbox(
    session: Session, smtp_backend: SmtpSink
) -> None:
    """Only a hash of a link's secret is stored: the copy of the email goes once sent."""
    with session_scope() as unit:
        queue_email(
            unit,
            to="amina@example.org",
            subject="Your link",
            text="Open https://example.org/sign-in/link/SECRET to sign in.",
            purpose="sign_in_link",
        )
        queue(unit, "Ordinary")
    [received_link, _] = smtp_backend.messages
    assert "SECRET" in received_link.parsed().get_content()
    [stored] = outbox(session, "Your link")
    assert stored.sent_at is not None
    assert "SECRET" not in stored.text_body
    [ordinary] = outbox(session, "Ordinary")
    assert "A test." in ordinary.text_body
