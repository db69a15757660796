"""Reading mail where the mail server left it: an mbox file, a Maildir, an IMAP folder.

`fetch` hands each message to `receive_message`, each in a unit of work of its own, so
that one bad message does not stop the rest, and counts what it found. An IMAP folder
is read for its unseen messages, fetched with BODY.PEEK (reading does not mark them),
and each message is marked \\Seen only once its transaction has committed: a crash
leaves the rest unseen for the next run, and idempotency makes a second reading of a
message harmless. mbox files and Maildirs are only read, never changed.
"""

import imaplib
import logging
import mailbox
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from app.core.db import session_scope
from app.inbound.models import InboundKind, InboundSource
from app.inbound.parsing import Expectation, MalformedMessage
from app.inbound.schemas import InboundReceipt
from app.inbound.service import receive_message

log = logging.getLogger(__name__)

IMAP_TIMEOUT_SECONDS = 30.0


class MailboxUnavailable(Exception):
    """The mailbox cannot be opened or read (missing, refused, connection lost)."""


@dataclass(frozen=True)
class MailboxMessage:
    label: str  # where it is, for the summary: "message 3", a file name, "UID 812"
    raw: bytes


class Mailbox(Protocol):
    source: InboundSource

    def __len__(self) -> int: ...

    def __iter__(self) -> Iterator[MailboxMessage]: ...

    def done(self, message: MailboxMessage) -> None:
        """The message's outcome is committed (IMAP marks it \\Seen)."""

    def close(self) -> None: ...


class MboxFile:
    source = InboundSource.mbox

    def __init__(self, path: Path) -> None:
        if not path.is_file():
            raise MailboxUnavailable(f"{path}: no such mbox file")
        self._box = mailbox.mbox(path, create=False)
        self._keys = list(self._box.keys())

    def __len__(self) -> int:
        return len(self._keys)

    def __iter__(self) -> Iterator[MailboxMessage]:
        for position, key in enumerate(self._keys, start=1):
            yield MailboxMessage(f"message {position}", self._box.get_bytes(key))

    def done(self, message: MailboxMessage) -> None:
        """Nothing to mark: the file is only read."""

    def close(self) -> None:
        self._box.close()


class MaildirFolder:
    source = InboundSource.maildir

    def __init__(self, path: Path) -> None:
        if not all((path / sub).is_dir() for sub in ("new", "cur", "tmp")):
            raise MailboxUnavailable(f"{path}: not a Maildir (no new/, cur/ and tmp/)")
        self._box = mailbox.Maildir(path, factory=None, create=False)
        self._keys = sorted(self._box.keys())

    def __len__(self) -> int:
        return len(self._keys)

    def __iter__(self) -> Iterator[MailboxMessage]:
        for key in self._keys:
            try:
                raw = self._box.get_bytes(key)
            except KeyError:  # moved or deleted by a mail client since the listing
                continue
            yield MailboxMessage(key, raw)

    def done(self, message: MailboxMessage) -> None:
        """Nothing to mark: the folder is only read."""

    def close(self) -> None:
        self._box.close()


@dataclass(frozen=True)
class ImapAddress:
    """`imaps://user:password@host:993/Folder` (imap:// is plain text; add
    `?starttls=1` to upgrade it). The folder defaults to INBOX."""

    tls: bool
    starttls: bool
    host: str
    port: int
    user: str
    password: str | None
    folder: str

    @classmethod
    def parse(cls, url: str) -> "ImapAddress":
        parts = urlsplit(url)
        if parts.scheme not in ("imap", "imaps"):
            raise MailboxUnavailable("The IMAP address must start with imaps:// (or imap://)")
        try:
            port = parts.port
        except ValueError:
            raise MailboxUnavailable("The IMAP address has an invalid port") from None
        if not parts.hostname or not parts.username:
            raise MailboxUnavailable("The IMAP address needs a user and a host: imaps://user@host")
        query = parse_qs(parts.query)
        return cls(
            tls=parts.scheme == "imaps",
            starttls=query.get("starttls", [""])[0].lower() in ("1", "true", "yes"),
            host=parts.hostname,
            port=port or (993 if parts.scheme == "imaps" else 143),
            user=unquote(parts.username),
            password=unquote(parts.password) if parts.password is not None else None,
            folder=unquote(parts.path.lstrip("/")) or "INBOX",
        )

    def display(self) -> str:
        """The address without its password, for messages."""
        scheme = "imaps" if self.tls else "imap"
        return f"{scheme}://{self.user}@{self.host}:{self.port}/{self.folder}"


class ImapFolder:
    source = InboundSource.imap

    def __init__(
        self, address: ImapAddress, password: str, *, timeout: float = IMAP_TIMEOUT_SECONDS
    ) -> None:
        self.address = address
        context = ssl.create_default_context()
        try:
            if address.tls:
                self._imap: imaplib.IMAP4 = imaplib.IMAP4_SSL(
                    address.host, address.port, ssl_context=context, timeout=timeout
                )
            else:
                self._imap = imaplib.IMAP4(address.host, address.port, timeout=timeout)
                if address.starttls:
                    self._imap.starttls(context)
            self._imap.login(address.user, password)
            answer, detail = self._imap.select(_quoted(address.folder))
            if answer != "OK":
                raise MailboxUnavailable(f"{address.display()}: {_words(detail)}")
            answer, found = self._imap.uid("SEARCH", "UNSEEN")
            if answer != "OK":
                raise MailboxUnavailable(f"{address.display()}: search refused")
        except (imaplib.IMAP4.error, OSError) as error:
            raise MailboxUnavailable(f"{address.display()}: {_reason(error)}") from None
        self._uids = [uid.decode() for uid in (found[0] or b"").split()] if found else []

    def __len__(self) -> int:
        return len(self._uids)

    def __iter__(self) -> Iterator[MailboxMessage]:
        for uid in self._uids:
            try:
                answer, data = self._imap.uid("FETCH", uid, "(BODY.PEEK[])")
            except (imaplib.IMAP4.error, OSError) as error:
                raise MailboxUnavailable(f"{self.address.display()}: {_reason(error)}") from None
            raw = next(
                (item[1] for item in data or [] if isinstance(item, tuple) and len(item) > 1),
                None,
            )
            if answer != "OK" or not isinstance(raw, bytes):
                continue  # expunged by someone else since the search
            yield MailboxMessage(f"UID {uid}", raw)

    def done(self, message: MailboxMessage) -> None:
        uid = message.label.removeprefix("UID ")
        try:
            self._imap.uid("STORE", uid, "+FLAGS", "(\\Seen)")
        except (imaplib.IMAP4.error, OSError) as error:
            raise MailboxUnavailable(f"{self.address.display()}: {_reason(error)}") from None

    def close(self) -> None:
        try:
            self._imap.close()
            self._imap.logout()
        except (imaplib.IMAP4.error, OSError):
            log.info("IMAP connection already closed")


def _quoted(folder: str) -> str:
    """A folder name as an IMAP quoted string (imaplib sends arguments as they are)."""
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _reason(error: Exception) -> str:
    """imaplib puts the server's words in its errors as bytes."""
    first = error.args[0] if error.args else error
    return first.decode(errors="replace") if isinstance(first, bytes) else str(first)


def _words(detail: list[Any]) -> str:
    return " ".join(item.decode(errors="replace") for item in detail if isinstance(item, bytes))


@dataclass
class FetchSummary:
    counts: dict[InboundKind, int] = field(default_factory=lambda: dict.fromkeys(InboundKind, 0))
    duplicates: int = 0
    not_matched: int = 0  # recorded, but naming none of our deliveries
    unreadable: int = 0  # not email messages (kept nowhere)
    errors: int = 0  # failed unexpectedly (left unseen on IMAP, to try again)
    problems: list[tuple[str, str]] = field(default_factory=list)
    stopped: str | None = None  # why the mailbox stopped answering, if it did

    def count(self, receipt: InboundReceipt) -> None:
        if receipt.duplicate:
            self.duplicates += 1
            return
        self.counts[receipt.kind] += 1
        if not receipt.delivery_found:
            self.not_matched += 1

    @property
    def total(self) -> int:
        return sum(self.counts.values()) + self.duplicates + self.unreadable + self.errors


def fetch(
    box: Mailbox,
    *,
    actor: str,
    expect: Expectation = Expectation.auto,
    advance: Callable[[], None] | None = None,
) -> FetchSummary:
    """Receive every message of the mailbox, one transaction each."""
    summary = FetchSummary()
    try:
        for message in box:
            try:
                with session_scope() as session:
                    receipt = receive_message(
                        session, message.raw, box.source, actor=actor, expect=expect
                    )
            except MalformedMessage as error:
                summary.unreadable += 1
                summary.problems.append((message.label, error.message))
                box.done(message)
            except Exception as error:
                # One bad message must not stop the rest; it is named in the summary.
                log.exception("inbound message %s failed", message.label)
                summary.errors += 1
                summary.problems.append((message.label, f"{type(error).__name__}: {error}"))
            else:
                summary.count(receipt)
                box.done(message)
            if advance is not None:
                advance()
    except MailboxUnavailable as error:
        summary.stopped = str(error)
    return summary
