"""Transactional mail (sign-in links, welcome messages): the product's one mail path.

`queue_email` writes a row to the outbox in the caller's transaction. What happens next
depends on MAIL_BACKEND:

- `outbox` (the embedded default): nothing; the message stays in the table for staff to
  read.
- `smtp` (production): once the transaction that wrote the message commits, a worker
  is asked (`mail.deliver`) to hand it to the relay at SMTP_URL through the same
  messenger the campaigns use, and the row records `sent_at` or `last_error`. A
  rolled-back transaction sends nothing; the request never waits for the relay (so a
  sign-in request takes as long whether or not the address is known); and the
  periodic scan re-asks for messages whose hint was lost.

Campaign mail takes its own pipeline (app/delivery/sender.py); this path is for a
handful of messages at a time.
"""

import logging
import smtplib
import ssl
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, parseaddr
from functools import cache
from urllib.parse import parse_qs, unquote, urlsplit

from sqlalchemy import event, inspect, update
from sqlmodel import Session, col, select

from app.core import jobs
from app.core.db import SessionFactory, session_scope
from app.core.settings import Settings, get_settings
from app.core.types import utcnow
from app.delivery.models import OutboxMessage

log = logging.getLogger(__name__)

# session.info key: the messages a session queued, to hand over once it commits.
_QUEUED = "delivery.outbox_queued"
_ERROR_LENGTH = 500  # OutboxMessage.last_error


def queue_email(
    session: Session, *, to: str, subject: str, text: str, purpose: str, html: str | None = None
) -> OutboxMessage:
    """Add a message to the outbox; it leaves (if at all) after the transaction commits."""
    message = OutboxMessage(
        to_address=to, subject=subject, text_body=text, html_body=html, purpose=purpose
    )
    session.add(message)
    session.flush()
    session.info.setdefault(_QUEUED, []).append(message)
    return message


@event.listens_for(SessionFactory, "after_commit")
def _deliver_after_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return  # only a SAVEPOINT was released; the transaction is still open
    queued: list[OutboxMessage] = session.info.pop(_QUEUED, [])
    # A message written in a part that was rolled back is no longer persistent (and on
    # SQLite its id may already belong to another row): only committed ones go.
    message_ids = [m.id for m in queued if m.id is not None and inspect(m).persistent]
    if message_ids and get_settings().mail_backend == "smtp":
        jobs.dispatch(DELIVER_TASK, message_ids)


DELIVER_TASK = "mail.deliver"
# A message older than this that never reached the relay is not worth sending late
# (a sign-in link would have expired).
RETRY_WINDOW = timedelta(hours=1)


def undelivered_message_ids(session: Session, now: datetime | None = None) -> list[int]:
    """Messages never attempted (their hint was lost): for the periodic scan."""
    if get_settings().mail_backend != "smtp":
        return []
    since = (now or utcnow()) - RETRY_WINDOW
    return list(
        session.scalars(
            select(col(OutboxMessage.id))
            .where(
                col(OutboxMessage.sent_at).is_(None),
                col(OutboxMessage.last_error).is_(None),
                col(OutboxMessage.created_at) > since,
                col(OutboxMessage.created_at) < (now or utcnow()) - timedelta(seconds=30),
                col(OutboxMessage.purpose).not_in(CAMPAIGN_PURPOSES),
            )
            .order_by(col(OutboxMessage.id))
            .limit(500)
        )
    )


# What the embedded default's campaign messenger stores: never handed to a relay here.
CAMPAIGN_PURPOSES = ("campaign",)


def deliver(message_ids: list[int]) -> None:
    """Send these outbox messages (those not sent yet) and record each outcome. Never
    raises: the caller's work is committed, and a message not sent keeps its error."""
    try:
        with session_scope(writes=False) as session:
            messages = list(
                session.scalars(
                    select(OutboxMessage)
                    .where(col(OutboxMessage.id).in_(message_ids))
                    .where(col(OutboxMessage.sent_at).is_(None))
                    .order_by(col(OutboxMessage.id))
                ).all()
            )
        if not messages:
            return
        # No transaction is open while talking to the relay: on SQLite that would hold
        # the write lock for as long as the relay takes.
        outcomes = send_messages(messages, get_settings())
        with session_scope() as session:
            record_outcomes(session, outcomes)
    except Exception:
        log.exception("Outbox delivery failed for messages %s", message_ids)


# Messages whose body holds a sign-in link: once sent, the copy kept here is blanked,
# so that the database (or a backup of it) signs nobody in.
SECRET_BEARING_PURPOSES = frozenset({"sign_in_link", "welcome"})
SENT_BODY_PLACEHOLDER = "[removed after sending: this message held a sign-in link]"


def record_outcomes(session: Session, outcomes: dict[int, str | None]) -> None:
    now = utcnow()
    for message_id, error in outcomes.items():
        values: dict[str, object] = (
            {"sent_at": now, "last_error": None} if error is None else {"last_error": error}
        )
        session.execute(
            update(OutboxMessage).where(col(OutboxMessage.id) == message_id).values(**values)
        )
        if error is None:
            session.execute(
                update(OutboxMessage)
                .where(
                    col(OutboxMessage.id) == message_id,
                    col(OutboxMessage.purpose).in_(SECRET_BEARING_PURPOSES),
                )
                .values(text_body=SENT_BODY_PLACEHOLDER, html_body=None)
            )
        if error is not None:
            log.warning("Outbox message %s not sent: %s", message_id, error)


def send_messages(messages: Iterable[OutboxMessage], settings: Settings) -> dict[int, str | None]:
    """Send over one connection; for each message id, None (sent) or what went wrong."""
    from app.delivery.messenger import (  # the messenger builds on this module's helpers
        OutgoingMessage,
        SendFailure,
        SmtpMessenger,
    )

    outcomes: dict[int, str | None] = {}
    envelope_sender = parseaddr(settings.mail_from)[1]
    messenger = SmtpMessenger(settings)

    def teller(message_id: int) -> Callable[[SendFailure | None], None]:
        def done(failure: SendFailure | None) -> None:
            outcomes[message_id] = None if failure is None else describe_error(failure)

        return done

    try:
        for message in messages:
            if message.id is None:
                continue
            try:
                raw = build_message(message, settings.mail_from).as_bytes()
            except ValueError as error:
                outcomes[message.id] = describe_error(error)
                continue
            messenger.send(
                OutgoingMessage(
                    envelope_from=envelope_sender,
                    to=message.to_address,
                    raw=raw,
                    subject=message.subject,
                    text=message.text_body,
                    html=message.html_body or "",
                    purpose=message.purpose,
                ),
                teller(message.id),
            )
        messenger.flush()
    finally:
        messenger.close()
    return outcomes


def describe_error(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"[:_ERROR_LENGTH]


def build_message(message: OutboxMessage, mail_from: str) -> EmailMessage:
    email = EmailMessage(policy=SMTP)
    email["From"] = mail_from
    email["To"] = message.to_address
    email["Subject"] = message.subject
    email["Date"] = format_datetime(message.created_at or utcnow())
    email["Message-ID"] = message_id_for(message, mail_from)
    # RFC 3834: an automatic message; out-of-office replies should not answer it.
    email["Auto-Submitted"] = "auto-generated"
    email.set_content(message.text_body)
    if message.html_body:
        email.add_alternative(message.html_body, subtype="html")
    return email


def message_id_for(message: OutboxMessage, mail_from: str) -> str:
    """Stable for a given row, so that a message sent twice is recognisably one."""
    domain = parseaddr(mail_from)[1].rpartition("@")[2] or "localhost"
    created = int((message.created_at or utcnow()).timestamp())
    return f"<outbox.{message.id}.{created}@{domain}>"


@dataclass(frozen=True)
class RelayAddress:
    host: str
    port: int
    implicit_tls: bool = False  # smtps://
    starttls: bool = False  # ?starttls=1
    username: str | None = None
    password: str = ""

    def __repr__(self) -> str:  # never show the password in logs or tracebacks
        return f"RelayAddress(host={self.host!r}, port={self.port}, user={self.username!r})"


_TLS_MODES = {"none", "starttls", "implicit"}


def parse_smtp_url(url: str) -> RelayAddress:
    """smtp://[user:pass@]host[:port][?tls=starttls|implicit|none] (the older
    `?starttls=1` too), or smtps://… for implicit TLS."""
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ValueError("SMTP_URL must look like smtp://host:port or smtps://host:port")
    query = parse_qs(parts.query)
    tls = query.get("tls", ["implicit" if parts.scheme == "smtps" else "none"])[-1].lower()
    if tls not in _TLS_MODES:
        raise ValueError(f"SMTP_URL's tls must be one of {', '.join(sorted(_TLS_MODES))}")
    implicit_tls = tls == "implicit"
    starttls = tls == "starttls" or (
        query.get("starttls", ["0"])[-1].lower() in {"1", "true", "yes"}
    )
    return RelayAddress(
        host=parts.hostname,
        port=parts.port or (465 if implicit_tls else 25),
        implicit_tls=implicit_tls,
        starttls=starttls and not implicit_tls,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password or ""),
    )


@cache
def _tls_context() -> ssl.SSLContext:
    """Built once per process: loading the system's CA store takes about 90 ms, far more
    than a connection to a nearby relay."""
    return ssl.create_default_context()


def connect(relay: RelayAddress, timeout: float) -> smtplib.SMTP:
    """An open, authenticated connection to the relay, its EHLO answered (so that the
    caller knows which extensions it offers)."""
    connection: smtplib.SMTP
    if relay.implicit_tls:
        connection = smtplib.SMTP_SSL(
            relay.host, relay.port, timeout=timeout, context=_tls_context()
        )
    else:
        connection = smtplib.SMTP(relay.host, relay.port, timeout=timeout)
    try:
        if relay.starttls:
            connection.starttls(context=_tls_context())
        if relay.username:
            connection.login(relay.username, relay.password)
        connection.ehlo_or_helo_if_needed()
    except BaseException:
        connection.close()
        raise
    return connection
