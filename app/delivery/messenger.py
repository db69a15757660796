"""The mail path behind one small interface, with two implementations:

- `SmtpMessenger`: the relay at SMTP_URL, over one connection reused for as long as it
  works (reopened when the relay drops it). Where the relay offers PIPELINING (RFC
  2920), MAIL, RCPT and DATA go out in one write: two round trips a message instead of
  four, which is most of what a message costs against a nearby relay.
- `OutboxMessenger`: the embedded default; messages are kept in the outbox table for
  staff to read on the outbox page, and nothing leaves the machine.

A send either returns (the relay answered 250, or the outbox stored it) or raises
`TemporaryFailure` (4xx, a dropped connection: try again later) or `PermanentFailure`
(5xx: this recipient will not take it).
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


class Messenger(Protocol):
    def send(self, message: OutgoingMessage) -> None: ...

    def flush(self) -> None:
        """Make what was sent so far durable (before it is recorded as sent)."""

    def close(self) -> None: ...


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

    def send(self, message: OutgoingMessage) -> None:
        try:
            connection = self._open_connection()
            if connection.has_extn("pipelining"):
                _send_pipelined(connection, message.envelope_from, message.to, message.raw)
            else:
                connection.sendmail(message.envelope_from, [message.to], message.raw)
            self._last_used = time.monotonic()
        except smtplib.SMTPRecipientsRefused as error:
            code, reply = next(iter(error.recipients.values()))
            raise _classified(code, reply) from None
        except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as error:
            self._reset_after(error.smtp_code)
            raise _classified(error.smtp_code, error.smtp_error) from None
        except smtplib.SMTPResponseException as error:
            self._drop()
            raise _classified(error.smtp_code, error.smtp_error) from None
        except (OSError, smtplib.SMTPException) as error:  # dropped, refused, timed out
            self._drop()
            raise TemporaryFailure(describe_error(error), relay_down=True) from None

    def _open_connection(self) -> smtplib.SMTP:
        if self._connection is not None and (
            time.monotonic() - self._last_used > self.IDLE_CHECK_SECONDS
        ):
            try:
                self._connection.noop()
            except (OSError, smtplib.SMTPException):
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

    def flush(self) -> None:
        """Nothing to do: each message was accepted with a 250 already."""

    def _reset_after(self, code: int) -> None:
        # 421 means the server is closing the connection; otherwise it stays usable.
        if code == 421:
            self._drop()

    def _drop(self) -> None:
        if self._connection is not None:
            try:
                self._connection.close()
            finally:
                self._connection = None

    def close(self) -> None:
        if self._connection is not None:
            try:
                self._connection.quit()
            except (OSError, smtplib.SMTPException):
                pass
            finally:
                self._connection = None


_LINE_STARTING_WITH_A_DOT = re.compile(rb"(?m)^\.")


def _send_pipelined(connection: smtplib.SMTP, sender: str, recipient: str, raw: bytes) -> None:
    """One message over a connection whose relay offers PIPELINING (RFC 2920): the
    envelope and DATA in one write, then the content; raise as `sendmail` would.

    The addresses were validated when they were stored (and the bounce address is ours),
    so they go out as they are, without smtplib's slow address parser."""
    connection.send(f"MAIL FROM:<{sender}>\r\nRCPT TO:<{recipient}>\r\nDATA\r\n".encode())
    mail_reply = connection.getreply()
    rcpt_reply = connection.getreply()
    data_reply = connection.getreply()
    if data_reply[0] == 354 and (mail_reply[0] != 250 or rcpt_reply[0] not in (250, 251)):
        # A relay that accepted DATA after refusing the envelope: end the empty message.
        connection.send(b".\r\n")
        connection.getreply()
    if mail_reply[0] != 250:
        _reset(connection)
        raise smtplib.SMTPSenderRefused(mail_reply[0], mail_reply[1], sender)
    if rcpt_reply[0] not in (250, 251):
        _reset(connection)
        raise smtplib.SMTPRecipientsRefused({recipient: rcpt_reply})
    if data_reply[0] != 354:
        _reset(connection)
        raise smtplib.SMTPDataError(*data_reply)
    # Dot-stuffing (RFC 5321 4.5.2). Base64 bodies never need it, and looking costs a
    # sixth of what the substitution does on a whole message.
    content = (
        _LINE_STARTING_WITH_A_DOT.sub(b"..", raw) if raw.startswith(b".") or b"\n." in raw else raw
    )
    if not content.endswith(b"\r\n"):
        content += b"\r\n"
    connection.send(content + b".\r\n")
    code, reply = connection.getreply()
    if code != 250:
        _reset(connection)
        raise smtplib.SMTPDataError(code, reply)


def _reset(connection: smtplib.SMTP) -> None:
    """RSET after a refusal, as sendmail does; a relay that hung up is found by the
    next command."""
    with suppress(OSError, smtplib.SMTPException):
        connection.rset()


def _classified(code: int, reply: bytes | str) -> Exception:
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

    def send(self, message: OutgoingMessage) -> None:
        self._pending.append(message)

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
