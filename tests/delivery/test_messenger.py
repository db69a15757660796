"""The SMTP messenger on its own: pipelined and plain conversations, refusals that leave
the connection usable, and a connection that went stale between batches."""

from collections.abc import Iterator

import pytest

from app.core.settings import Settings
from app.delivery.messenger import (
    OutgoingMessage,
    PermanentFailure,
    SmtpMessenger,
    TemporaryFailure,
)
from tests.delivery.smtp_sink import SmtpSink, running_smtp_sink


def message(to: str, body: bytes = b"Hello.\r\n") -> OutgoingMessage:
    raw = b"Subject: Test\r\nMessage-ID: <m@example.org>\r\n\r\n" + body
    return OutgoingMessage(
        envelope_from="bounces+abc@example.org",
        to=to,
        raw=raw,
        subject="Test",
        text="Hello.",
        html="<p>Hello.</p>",
    )


@pytest.fixture(params=[True, False], ids=["pipelining", "plain"])
def sink(request: pytest.FixtureRequest) -> Iterator[SmtpSink]:
    with running_smtp_sink(
        refuse=frozenset({"gone@example.org"}), defer_every=3, pipelining=request.param
    ) as running:
        yield running


def messenger_for(sink: SmtpSink) -> SmtpMessenger:
    return SmtpMessenger(Settings(smtp_url=sink.url(), mail_backend="smtp"))


def test_refusals_are_classified_and_the_connection_goes_on(sink: SmtpSink) -> None:
    messenger = messenger_for(sink)
    messenger.send(message("a@example.org"))  # recipient 1
    with pytest.raises(PermanentFailure, match=r"^550"):
        messenger.send(message("gone@example.org"))  # 2
    with pytest.raises(TemporaryFailure, match=r"^451") as deferred:
        messenger.send(message("b@example.org"))  # 3: deferred
    assert not deferred.value.relay_down  # this recipient, not the relay
    messenger.send(message("c@example.org"))  # 4
    messenger.close()
    # Nothing was taken for a refused recipient; the others arrived whole, in order.
    assert [m.rcpt_to for m in sink.messages] == [["a@example.org"], ["c@example.org"]]
    assert all(m.mail_from == "bounces+abc@example.org" for m in sink.messages)
    assert sink.messages[1].parsed()["Subject"] == "Test"


def test_lines_starting_with_a_dot_arrive_unchanged(sink: SmtpSink) -> None:
    messenger = messenger_for(sink)
    body = b".hidden\r\n..two\r\nlast line without an end"
    messenger.send(message("a@example.org", body))
    messenger.close()
    assert sink.messages[0].data.endswith(b"\r\n\r\n" + body + b"\r\n")


def test_a_connection_gone_stale_between_batches_is_reopened_not_failed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(SmtpMessenger, "IDLE_CHECK_SECONDS", 0.0)
    with running_smtp_sink() as first:
        messenger = messenger_for(first)
        messenger.send(message("a@example.org"))
        port = first.port
    # The relay restarted (it cut the connection): the next batch's first message still
    # goes out, on a new connection, instead of counting as a relay failure.
    with running_smtp_sink(port=port) as second:
        messenger.send(message("b@example.org"))
        messenger.close()
        assert [m.rcpt_to for m in second.messages] == [["b@example.org"]]
