"""The mail path behind one small interface, with two implementations:

- `SmtpMessenger`: the relay at SMTP_URL, over one connection reused for as long as it
  works (reopened when the relay drops it). Where the relay offers PIPELINING (RFC
  2920), each message costs one write and no wait: the content of one message, its
  final dot and the next message's MAIL, RCPT and DATA go out together (section 3.1),
  and their replies are read just before the write after (by when they have come), so
  the worker builds the next message while the relay answers.
- `OutboxMessenger`: the embedded default; messages are kept in the outbox table for
  staff to read on the outbox page, and nothing leaves the machine.

`send(message, done)` hands a message over; `done` is called exactly once, with None
when the relay answered 250 (or the outbox took it), or with `TemporaryFailure` (4xx,
a dropped connection: try again later) or `PermanentFailure` (5xx: this recipient will
not take it). It may be called during a later `send`, and is called by `flush()` at
the latest: a caller records outcomes only after a flush.
"""

import re
import smtplib
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, suppress
from dataclasses import dataclass
from typing import Protocol

from sqlmodel import Session

from app.core.settings import Settings
from app.delivery.mailer import connect, describe_error, parse_smtp_url
from app.delivery.models import OutboxMessage


@dataclass(frozen=True)
class OutgoingMessage:
    envelope_from: str  # the bounce address (VERP)
    to: str
    raw: bytes  # the complete message, signed if DKIM is configured
    # What the outbox shows (the raw message is what the relay gets).
    subject: str
    text: str
    html: str
    purpose: str = "campaign"


class TemporaryFailure(Exception):
    """Try again later: the relay said 4xx, or could not be reached (`relay_down`: the
    relay itself is the problem, not this recipient)."""

    def __init__(self, message: str, *, relay_down: bool = False) -> None:
        super().__init__(message)
        self.relay_down = relay_down


class PermanentFailure(Exception):
    """The relay refused this recipient or message for good (5xx)."""


SendFailure = TemporaryFailure | PermanentFailure
# Told the outcome of one message: None when it was taken, else why not.
Done = Callable[[SendFailure | None], None]


class Messenger(Protocol):
    def send(self, message: OutgoingMessage, done: Done) -> None: ...

    def flush(self) -> None:
        """Finish what was handed over (every `done` has been called when it returns)
        and make it durable, before it is recorded as sent."""

    def close(self) -> None: ...


def send_now(messenger: Messenger, message: OutgoingMessage) -> None:
    """Send one message and wait for its outcome; raise the failure, if any."""
    outcome: list[SendFailure | None] = []
    messenger.send(message, outcome.append)
    messenger.flush()
    if outcome[0] is not None:
        raise outcome[0]


@dataclass
class _Awaiting:
    """A message whose DATA the relay accepted (354): its content goes out with the next
    message's envelope, or at the flush, and then its 250 is read."""

    content: bytes  # dot-stuffed, ending with the final "."
    done: Done


@dataclass
class _InFlight:
    """What the last write asked of the relay: the 250 for the content it carried, and
    the replies to MAIL, RCPT and DATA for the envelope it carried. They are read just
    before the next write (or at the flush), by when they have arrived: the worker
    builds the next message meanwhile instead of waiting on the relay."""

    content: _Awaiting | None
    envelope: tuple[OutgoingMessage, Done] | None


class SmtpMessenger:
    # A connection unused this long is checked with a NOOP before the next message:
    # relays close idle connections (Postfix after 300 s), and a message must not be
    # counted as a relay failure because the connection went stale between batches.
    IDLE_CHECK_SECONDS = 10.0

    def __init__(self, settings: Settings) -> None:
        self._relay = parse_smtp_url(settings.smtp_url)
        self._timeout = settings.smtp_timeout_seconds
        self._connection: smtplib.SMTP | None = None
        self._last_used = 0.0
        self._awaiting: _Awaiting | None = None
        self._in_flight: _InFlight | None = None

    def send(self, message: OutgoingMessage, done: Done) -> None:
        self._read_replies()
        if self._awaiting is None:  # nothing held: the connection may be (re)opened
            try:
                connection = self._open_connection()
            except (OSError, smtplib.SMTPException) as error:
                done(TemporaryFailure(describe_error(error), relay_down=True))
                return
            if not connection.has_extn("pipelining"):
                done(self._send_plain(connection, message))
                return
        envelope = f"MAIL FROM:<{message.envelope_from}>\r\nRCPT TO:<{message.to}>\r\nDATA\r\n"
        self._write(envelope.encode(), (message, done))

    def flush(self) -> None:
        """Send the content still held back and read every reply still due."""
        self._read_replies()
        if self._awaiting is not None:
            self._write(b"", None)
            self._read_replies()

    def _send_plain(self, connection: smtplib.SMTP, message: OutgoingMessage) -> SendFailure | None:
        try:
            connection.sendmail(message.envelope_from, [message.to], message.raw)
            self._last_used = time.monotonic()
        except smtplib.SMTPRecipientsRefused as error:
            code, reply = next(iter(error.recipients.values()))
            if code == 421:  # smtplib has closed the connection: open a new one next time
                self._drop()
            return _classified(code, reply)
        except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as error:
            if error.smtp_code == 421:  # the server is closing the connection
                self._drop()
            return _classified(error.smtp_code, error.smtp_error)
        except smtplib.SMTPResponseException as error:
            self._drop()
            return _classified(error.smtp_code, error.smtp_error)
        except (OSError, smtplib.SMTPException) as error:  # dropped, refused, timed out
            self._drop()
            return TemporaryFailure(describe_error(error), relay_down=True)
        return None

    def _write(self, envelope: bytes, message: tuple[OutgoingMessage, Done] | None) -> None:
        """One write: the held-back content, then `envelope`. Their replies are read by
        the next `_read_replies`.

        The addresses were validated when they were stored (and the bounce address is
        ours), so they go out as they are, without smtplib's slow address parser."""
        connection = self._connection
        awaiting, self._awaiting = self._awaiting, None
        assert connection is not None
        try:
            connection.send((awaiting.content if awaiting else b"") + envelope)
        except (OSError, smtplib.SMTPException) as error:  # dropped, refused, timed out
            self._connection_lost(error, awaiting, message)
            return
        # The relay last heard from us now (replies read later say nothing about how
        # long the connection has been idle).
        self._last_used = time.monotonic()
        self._in_flight = _InFlight(awaiting, message)

    def _read_replies(self) -> None:
        """The replies to the last write: the held-back message's 250, then MAIL, RCPT
        and DATA for the next message, which is held back in turn (or told its refusal)."""
        in_flight, self._in_flight = self._in_flight, None
        if in_flight is None:
            return
        connection = self._connection
        content, envelope = in_flight.content, in_flight.envelope
        assert connection is not None
        try:
            if content is not None:
                code, reply = connection.getreply()
                content.done(None if code == 250 else _classified(code, reply))
                content = None  # told
                if code == 421:  # the relay is closing the connection: nothing more comes
                    raise smtplib.SMTPServerDisconnected(f"{code} {reply!r}")
            if envelope is None:
                return
            replies: list[Reply] = []
            for _ in ("MAIL", "RCPT", "DATA"):
                replies.append(connection.getreply())
                if replies[-1][0] == 421:  # the relay is closing: nothing more comes
                    break
        except (OSError, smtplib.SMTPException) as error:  # dropped, refused, timed out
            self._connection_lost(error, content, envelope)
            return
        message, done = envelope
        refused = _envelope_refusal(replies)
        if refused is None:
            self._awaiting = _Awaiting(_data_content(message.raw), done)
            return
        with suppress(OSError, smtplib.SMTPException):
            if len(replies) == 3 and replies[2][0] == 354:
                # A relay that accepted DATA after refusing the envelope: end the empty
                # message.
                connection.send(b".\r\n")
                connection.getreply()
            # RSET after a refusal, as sendmail does; a relay that hung up is found by
            # the next command.
            connection.rset()
        if refused[0] == 421:
            self._drop()
        done(_classified(*refused))

    def _connection_lost(
        self,
        error: OSError | smtplib.SMTPException,
        content: _Awaiting | None,
        envelope: tuple[OutgoingMessage, Done] | None,
    ) -> None:
        """The connection is gone: the messages it carried and that were not told yet
        are told the relay is down (tried again later, same Message-ID)."""
        self._drop()
        failure = TemporaryFailure(describe_error(error), relay_down=True)
        if content is not None:
            content.done(failure)
        if envelope is not None:
            _, done = envelope
            done(failure)

    def _open_connection(self) -> smtplib.SMTP:
        if self._connection is not None and (
            time.monotonic() - self._last_used > self.IDLE_CHECK_SECONDS
        ):
            try:
                code, _ = self._connection.noop()
            except (OSError, smtplib.SMTPException):
                code = 0
            if code != 250:  # gone, or going: Postfix says 421 as it closes an idle one
                self._drop()
        if self._connection is None:
            self._connection = connect(self._relay, self._timeout)
        return self._connection

    def probe(self) -> None:
        """Raise TemporaryFailure unless the relay answers (a connection and a NOOP)."""
        try:
            with connect(self._relay, self._timeout) as connection:
                connection.noop()
        except (OSError, smtplib.SMTPException) as error:
            raise TemporaryFailure(describe_error(error), relay_down=True) from None

    def _drop(self) -> None:
        if self._connection is not None:
            try:
                self._connection.close()
            finally:
                self._connection = None

    def close(self) -> None:
        with suppress(OSError, smtplib.SMTPException):
            self.flush()  # may drop the connection
            if self._connection is not None:
                self._connection.quit()
        self._drop()


_LINE_STARTING_WITH_A_DOT = re.compile(rb"(?m)^\.")


def _data_content(raw: bytes) -> bytes:
    """The message as DATA sends it: dot-stuffed (RFC 5321 4.5.2), ending in CRLF, then
    the final dot. Base64 bodies never need stuffing, and looking costs a sixth of what
    the substitution does on a whole message."""
    content = (
        _LINE_STARTING_WITH_A_DOT.sub(b"..", raw) if raw.startswith(b".") or b"\n." in raw else raw
    )
    if not content.endswith(b"\r\n"):
        content += b"\r\n"
    return content + b".\r\n"


Reply = tuple[int, bytes]


def _envelope_refusal(replies: list[Reply]) -> Reply | None:
    """The first refusal among the replies to MAIL, RCPT and DATA (as many as came); None
    for 250, 250, 354."""
    for (code, reply), accepted in zip(replies, ((250,), (250, 251), (354,)), strict=False):
        if code not in accepted:
            return code, reply
    return None


def _classified(code: int, reply: bytes | str) -> SendFailure:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    description = f"{code} {text}"[:500]
    if 500 <= code < 600:
        return PermanentFailure(description)
    # 421: the service is not available (closing the connection), whoever the recipient.
    return TemporaryFailure(description, relay_down=code == 421)


class OutboxMessenger:
    """Keeps each message in the outbox table, in a transaction of its own per flush."""

    def __init__(self, session_scope: Callable[[], AbstractContextManager[Session]]) -> None:
        self._session_scope = session_scope
        self._pending: list[OutgoingMessage] = []

    def send(self, message: OutgoingMessage, done: Done) -> None:
        # Taken now; durable at the flush, which comes before anything is recorded.
        self._pending.append(message)
        done(None)

    def flush(self) -> None:
        if not self._pending:
            return
        with self._session_scope() as session:
            session.add_all(
                OutboxMessage(
                    to_address=message.to,
                    subject=message.subject[:300],
                    text_body=message.text,
                    html_body=message.html,
                    purpose=message.purpose,
                )
                for message in self._pending
            )
        self._pending.clear()

    def close(self) -> None:
        self.flush()
