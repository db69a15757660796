"""The mail path behind one small interface, with two implementations:

- `SmtpMessenger`: the relay at SMTP_URL, over one connection reused for as long as it
  works (reopened when the relay drops it).
- `OutboxMessenger`: the embedded default; messages are kept in the outbox table for
  staff to read on the outbox page, and nothing leaves the machine.

A send either returns (the relay answered 250, or the outbox stored it) or raises
`TemporaryFailure` (4xx, a dropped connection: try again later) or `PermanentFailure`
(5xx: this recipient will not take it).
"""

import smtplib
from collections.abc import Callable
from contextlib import AbstractContextManager
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
    def __init__(self, settings: Settings) -> None:
        self._relay = parse_smtp_url(settings.smtp_url)
        self._timeout = settings.smtp_timeout_seconds
        self._connection: smtplib.SMTP | None = None

    def send(self, message: OutgoingMessage) -> None:
        try:
            if self._connection is None:
                self._connection = connect(self._relay, self._timeout)
            self._connection.sendmail(message.envelope_from, [message.to], message.raw)
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
