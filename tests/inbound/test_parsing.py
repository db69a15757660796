"""Reading what comes back, without a database: kinds, failures, what names the alert."""

import pytest

from app.inbound.models import InboundKind
from app.inbound.parsing import (
    Expectation,
    MalformedMessage,
    ReadMessage,
    is_transient_status,
    read_message,
)
from tests.inbound.conftest import fixture_message

TOKEN = "0123456789abcdef0123456789abcdef"
ADDRESS = "focal@partner.example"
ALERT_ID = "<alert.7.42.a1b2c3d4e5f6@example.org>"
VALUES = {"TOKEN": TOKEN, "EMAIL": ADDRESS, "MESSAGE_ID": ALERT_ID, "DOMAIN": "example.org"}


def read(name: str, expect: Expectation = Expectation.auto, **values: str) -> ReadMessage:
    return read_message(fixture_message(name, **(VALUES | values)), expect)


@pytest.mark.parametrize(
    ("name", "kind", "status"),
    [
        ("dsn_hard_5_1_1.eml", InboundKind.hard_bounce, "5.1.1"),
        ("dsn_soft_4_2_2.eml", InboundKind.soft_bounce, "4.2.2"),
        ("exim_text_bounce.eml", InboundKind.hard_bounce, "5.1.1"),
        ("qmail_failure_notice.eml", InboundKind.hard_bounce, "5.1.1"),
    ],
)
@pytest.mark.parametrize("expect", list(Expectation))
def test_bounces_give_the_failed_address_its_status_and_the_alert(
    name: str, kind: InboundKind, status: str, expect: Expectation
) -> None:
    message = read_message(fixture_message(name, **VALUES), expect)
    assert message.kind is kind
    assert [(f.address, f.permanent, f.status) for f in message.failures] == [
        (ADDRESS, kind is InboundKind.hard_bounce, status)
    ]
    # The VERP address names the delivery; the returned original's Message-ID too.
    assert message.tokens[0] == TOKEN
    assert ALERT_ID in message.referenced_ids
    assert message.diagnostic is not None
    assert message.diagnostic.startswith(f"{ADDRESS}: {status}")
    assert message.body_text is None  # a bounce keeps the diagnostic, not the text


def test_a_dsn_that_gave_up_on_a_full_mailbox_is_still_soft() -> None:
    """Action: failed with a 4.x.x (or x.2.2) status: the relay gave up, but the
    mailbox exists; flufl.bounce calls every failed action permanent."""
    raw = fixture_message("dsn_soft_4_2_2.eml", **VALUES).replace(
        b"Action: delayed", b"Action: failed"
    )
    message = read_message(raw)
    assert message.kind is InboundKind.soft_bounce
    assert not message.failures[0].permanent
    full = raw.replace(b"Status: 4.2.2", b"Status: 5.2.2")
    assert read_message(full).kind is InboundKind.soft_bounce
    unknown_user = raw.replace(b"Status: 4.2.2", b"Status: 5.1.1").replace(b"452 4.2.2", b"550")
    assert read_message(unknown_user).kind is InboundKind.hard_bounce


@pytest.mark.parametrize(
    ("status", "transient"),
    [
        ("4.2.2", True),
        ("4.4.7", True),
        ("5.2.2", True),
        ("452", True),
        ("552", True),
        ("5.1.1", False),
        ("5.7.1", False),
        ("550", False),
    ],
)
def test_transient_statuses(status: str, transient: bool) -> None:
    assert is_transient_status(status) is transient


def test_a_text_bounce_ignores_ip_addresses_when_looking_for_the_status() -> None:
    raw = fixture_message("exim_text_bounce.eml", **VALUES).replace(
        b"[198.51.100.7]: 550 5.1.1", b"[10.4.5.6]: 550 5.1.1"
    )
    assert read_message(raw).failures[0].status == "5.1.1"


def test_an_arf_report_is_a_complaint_naming_the_alert() -> None:
    message = read("arf_complaint.eml")
    assert message.kind is InboundKind.complaint
    assert message.feedback_type == "abuse"
    # Addressed to the feedback-loop address, not the VERP one: the token comes from
    # Original-Mail-From and the returned original.
    assert message.tokens == (TOKEN,)
    assert message.referenced_ids[0] == ALERT_ID
    assert message.diagnostic == "feedback report: abuse (MailboxFBL/2.1)"


@pytest.mark.parametrize("feedback_type", ["not-spam", "auth-failure", "other"])
def test_feedback_reports_that_are_not_complaints(feedback_type: str) -> None:
    raw = fixture_message("arf_complaint.eml", **VALUES).replace(
        b"Feedback-Type: abuse", f"Feedback-Type: {feedback_type}".encode()
    )
    message = read_message(raw)
    assert message.kind is InboundKind.unrecognised
    assert message.diagnostic is not None
    assert "not a complaint" in message.diagnostic


def test_a_reply_keeps_what_the_person_wrote_and_names_the_alert() -> None:
    message = read("reply_in_reply_to.eml")
    assert message.kind is InboundKind.reply
    assert message.automatic is False
    assert message.from_address == ADDRESS
    assert message.subject == "Re: Kenya: ratify APIC \u2013 réponse"
    body = message.body_text
    assert body.startswith("Bonjour,\n\nNous avons écrit au ministère des affaires étrangères")
    # In-Reply-To first, then References from the most recent back.
    assert message.referenced_ids == (
        ALERT_ID,
        "<earlier.thread@mail.rights.example>",
    )
    assert message.message_id == "<CAF3kq8reply.4471@mail.rights.example>"


def test_a_reply_is_unrecognised_at_the_bounce_address() -> None:
    assert read("reply_in_reply_to.eml", Expectation.bounces).kind is InboundKind.unrecognised


def test_an_out_of_office_note_is_an_automatic_reply() -> None:
    message = read("auto_reply_out_of_office.eml")
    assert message.kind is InboundKind.reply
    assert message.automatic is True
    assert message.tokens == (TOKEN,)


def test_a_reply_html_only_is_read_as_text() -> None:
    raw = (
        b"From: Person <p@rights.example>\r\nSubject: Re: alert\r\n"
        b"Message-ID: <html.only@rights.example>\r\n"
        b"Content-Type: text/html; charset=utf-8\r\n\r\n"
        b"<html><head><style>p{color:red}</style></head><body><p>We met the minister"
        b" &amp; his adviser.</p><script>alert(1)</script></body></html>"
    )
    assert read_message(raw).body_text == "We met the minister & his adviser."


def test_a_person_quoting_a_bounce_is_not_a_bounce() -> None:
    """Bounce detection runs only on what the mail system sent: flufl.bounce's
    heuristics never see a person's words."""
    raw = (
        b"From: Person <p@rights.example>\r\nTo: alerts@example.org\r\n"
        b"Subject: Re: alert\r\nMessage-ID: <quote@rights.example>\r\n\r\n"
        b"Hi. This is the qmail-send program at my office, it said:\r\n\r\n"
        b"<colleague@rights.example>:\r\nSorry, no mailbox here by that name. (#5.1.1)\r\n"
    )
    message = read_message(raw)
    assert message.kind is InboundKind.reply
    assert message.failures == ()


def test_a_success_notice_from_the_mail_system_is_not_a_reply() -> None:
    raw = fixture_message("dsn_hard_5_1_1.eml", **VALUES).replace(
        b"Action: failed", b"Action: delivered"
    )
    message = read_message(raw)
    assert message.kind is InboundKind.unrecognised
    assert message.failures == ()


def test_a_message_without_message_id_is_known_by_its_digest() -> None:
    first = read("qmail_failure_notice.eml")
    again = read("qmail_failure_notice.eml")
    other = read("qmail_failure_notice.eml", EMAIL="other@partner.example")
    assert first.message_id.startswith("sha256:")
    assert first.message_id == again.message_id
    assert first.message_id != other.message_id


def test_stored_text_is_safe_for_any_database() -> None:
    raw = (
        b"From: P\xe9rson <p@rights.example>\r\nSubject: caf\xe9 \x00 bar\r\n"
        b"Message-ID: <bytes@rights.example>\r\nContent-Type: text/plain; charset=x-unknown\r\n"
        b"\r\nnul \x00 and latin-1 \xe9\r\n"
    )
    message = read_message(raw)
    for text in (message.subject, message.body_text):
        assert text is not None
        assert "\x00" not in text
        text.encode("utf-8")  # no lone surrogates left by undecodable bytes


def test_long_references_are_bounded() -> None:
    references = " ".join(f"<ref{n}@example.org>" for n in range(500)).encode()
    raw = b"From: p@rights.example\r\nReferences: " + references + b"\r\n\r\nHi\r\n"
    assert len(read_message(raw).referenced_ids) == 50


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"", "empty"),
        (b"  \r\n ", "empty"),
        (b'{"message": "not an email"}', "not an email message"),
        (b"just some words\nand more", "not an email message"),
        (bytes(range(256)) * 4, "not an email message"),
    ],
)
def test_what_is_not_a_message_is_refused(body: bytes, problem: str) -> None:
    with pytest.raises(MalformedMessage, match=problem) as raised:
        read_message(body)
    assert raised.value.status_code == 422
    assert raised.value.field == "message"
