"""The SMTP messenger on its own: pipelined and plain conversations, refusals that leave
the connection usable, outcomes told for every message, and a connection that went
stale between batches."""

import threading
from collections.abc import Iterator

import pytest

from app.core.settings import Settings
from app.delivery.messenger import (
    OutgoingMessage,
    PermanentFailure,
    SendFailure,
    SmtpMessenger,
    TemporaryFailure,
    send_now,
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
    send_now(messenger, message("a@example.org"))  # recipient 1
    with pytest.raises(PermanentFailure, match=r"^550"):
        send_now(messenger, message("gone@example.org"))  # 2
    with pytest.raises(TemporaryFailure, match=r"^451") as deferred:
        send_now(messenger, message("b@example.org"))  # 3: deferred
    assert not deferred.value.relay_down  # this recipient, not the relay
    send_now(messenger, message("c@example.org"))  # 4
    messenger.close()
    # Nothing was taken for a refused recipient; the others arrived whole, in order.
    assert [m.rcpt_to for m in sink.messages] == [["a@example.org"], ["c@example.org"]]
    assert all(m.mail_from == "bounces+abc@example.org" for m in sink.messages)
    assert sink.messages[1].parsed()["Subject"] == "Test"


def test_lines_starting_with_a_dot_arrive_unchanged(sink: SmtpSink) -> None:
    messenger = messenger_for(sink)
    body = b".hidden\r\n..two\r\nlast line without an end"
    send_now(messenger, message("a@example.org", body))
    messenger.close()
    assert sink.messages[0].data.endswith(b"\r\n\r\n" + body + b"\r\n")


def test_a_connection_gone_stale_between_batches_is_reopened_not_failed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(SmtpMessenger, "IDLE_CHECK_SECONDS", 0.0)
    with running_smtp_sink() as first:
        messenger = messenger_for(first)
        send_now(messenger, message("a@example.org"))
        port = first.port
    # The relay restarted (it cut the connection): the next batch's first message still
    # goes out, on a new connection, instead of counting as a relay failure.
    with running_smtp_sink(port=port) as second:
        send_now(messenger, message("b@example.org"))
        messenger.close()
        assert [m.rcpt_to for m in second.messages] == [["b@example.org"]]


def test_a_relay_that_answers_the_idle_check_with_421_gets_a_new_connection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Postfix answers a command on a connection idle too long with 421 and hangs up:
    the idle check's NOOP hearing that must reconnect, not send into a closed one."""
    monkeypatch.setattr(SmtpMessenger, "IDLE_CHECK_SECONDS", 0.0)
    with running_smtp_sink() as sink:
        messenger = messenger_for(sink)
        send_now(messenger, message("a@example.org"))
        sink.closes_on_noop = True
        send_now(messenger, message("b@example.org"))
        messenger.close()
    assert [m.rcpt_to for m in sink.messages] == [["a@example.org"], ["b@example.org"]]


@pytest.mark.parametrize("pipelining", [True, False], ids=["pipelining", "plain"])
def test_a_relay_closing_on_one_recipient_costs_the_next_message_nothing(
    pipelining: bool,
) -> None:
    """421 to one recipient, and the relay hangs up: that message is retried later, and
    the next one goes over a new connection instead of failing on the closed one."""
    limited = "someone@limited.example"
    with running_smtp_sink(closes_on_rcpt=frozenset({limited}), pipelining=pipelining) as sink:
        messenger = messenger_for(sink)
        send_now(messenger, message("a@example.org"))
        with pytest.raises(TemporaryFailure, match=r"^421"):
            send_now(messenger, message(limited))
        send_now(messenger, message("b@example.org"))
        messenger.close()
    assert [m.rcpt_to for m in sink.messages] == [["a@example.org"], ["b@example.org"]]


def test_every_message_is_told_its_own_outcome_in_a_stream(sink: SmtpSink) -> None:
    """Sent back to back (on a pipelining relay, a message's 250 is read while the next
    one goes out), each message hears its own answer exactly once, by the flush."""
    messenger = messenger_for(sink)
    told: dict[str, list[SendFailure | None]] = {}
    recipients = [f"r{n}@example.org" for n in range(1, 8)] + ["gone@example.org"]
    for recipient in recipients:
        messenger.send(message(recipient), told.setdefault(recipient, []).append)
    messenger.flush()
    assert all(len(outcomes) == 1 for outcomes in told.values()), told
    refused = {r for r, (outcome,) in told.items() if isinstance(outcome, PermanentFailure)}
    deferred = {r for r, (outcome,) in told.items() if isinstance(outcome, TemporaryFailure)}
    taken = {r for r, (outcome,) in told.items() if outcome is None}
    assert refused == {"gone@example.org"}
    assert deferred == {"r3@example.org", "r6@example.org"}  # every third recipient
    assert taken == {m.rcpt_to[0] for m in sink.messages}
    assert len(sink.messages) == len(taken) == 5
    messenger.close()


def test_a_relay_gone_mid_stream_fails_the_held_message_for_a_retry() -> None:
    """A message whose content was held back when the relay went away is not counted as
    sent: it is told the relay is down (tried again later, same Message-ID)."""
    with running_smtp_sink() as sink:
        messenger = messenger_for(sink)
        told: list[SendFailure | None] = []
        messenger.send(message("a@example.org"), told.append)
        assert told == []  # its content waits for the next message or the flush
    messenger.send(message("b@example.org"), told.append)
    messenger.flush()
    assert len(told) == 2
    assert all(isinstance(t, TemporaryFailure) for t in told), told
    assert all(t.relay_down for t in told if isinstance(t, TemporaryFailure))


def test_a_closing_relay_fails_what_follows_without_losing_what_it_took() -> None:
    with running_smtp_sink(close_every=2) as sink:
        messenger = messenger_for(sink)
        told: dict[str, list[SendFailure | None]] = {}
        for recipient in ("a@example.org", "b@example.org", "c@example.org"):
            messenger.send(message(recipient), told.setdefault(recipient, []).append)
        messenger.flush()
        messenger.close()
    assert told["a@example.org"] == [None]
    assert sink.messages[0].rcpt_to == ["a@example.org"]
    (b_outcome,) = told["b@example.org"]
    assert isinstance(b_outcome, TemporaryFailure)
    assert b_outcome.relay_down
    assert len(told["c@example.org"]) == 1


def test_a_message_is_handed_over_without_waiting_for_the_relay_to_answer() -> None:
    """On a pipelining relay, the replies to a message's envelope are read when the next
    message goes out or at the flush: a worker builds the next message meanwhile,
    instead of waiting for the relay after every one."""
    answer = threading.Event()
    with running_smtp_sink(answer_mail=answer) as sink:
        messenger = messenger_for(sink)
        told: list[SendFailure | None] = []
        handing_over = threading.Thread(
            target=messenger.send, args=(message("a@example.org"), told.append)
        )
        handing_over.start()
        handing_over.join(timeout=10)
        returned_before_the_answer = not handing_over.is_alive()
        answer.set()  # the relay answers now
        handing_over.join(timeout=30)
        assert returned_before_the_answer, "send waited for the relay's replies"
        assert told == []
        messenger.flush()
        assert told == [None]
        assert [m.rcpt_to for m in sink.messages] == [["a@example.org"]]
        messenger.close()


def test_closing_tells_and_delivers_what_was_in_flight(sink: SmtpSink) -> None:
    messenger = messenger_for(sink)
    told: list[SendFailure | None] = []
    messenger.send(message("a@example.org"), told.append)
    messenger.close()
    assert told == [None]
    assert [m.rcpt_to for m in sink.messages] == [["a@example.org"]]
