"""Reading a message that came back: what it is, which alert it names, what failed.

Pure functions over the raw bytes, no database. `read_message` sorts a message into
one of four things:

- a spam complaint: an ARF report (RFC 5965: multipart/report with
  report-type=feedback-report) whose feedback type is a complaint;
- a bounce: flufl.bounce finds failed recipients, in an RFC 3464 DSN or in one of the
  many non-standard formats (qmail, old Exim, Exchange...); each failure is permanent
  (hard) or temporary (soft), refined by the status code the report gives;
- a reply, from a person or from a program (out-of-office notes);
- unrecognised: anything else (a success notice, a report we cannot read).

It also collects what may name the delivery: VERP tokens (`bounces+<token>@...`) from
the recipient headers and from the returned original, and Message-IDs of the original
(the report's copy of it, In-Reply-To and References). Which delivery they name is
the service's business (service.py).
"""

import email
import hashlib
import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from email.errors import HeaderParseError
from email.header import decode_header, make_header
from email.message import Message
from email.parser import HeaderParser
from email.policy import compat32
from email.utils import collapse_rfc2231_value, parseaddr
from enum import StrEnum
from html.parser import HTMLParser
from typing import Any

from flufl.bounce import all_failures

from app.core.errors import ValidationFailed
from app.inbound.models import InboundKind

log = logging.getLogger(__name__)

# The column sizes of InboundMessage (PostgreSQL refuses longer values).
MESSAGE_ID_LENGTH = 300
ADDRESS_LENGTH = 320
SUBJECT_LENGTH = 300
DIAGNOSTIC_LENGTH = 500
# A reply's text is kept for staff to read; beyond this it is a document, not a reply.
BODY_TEXT_LENGTH = 100_000
# A message naming more than this is not an answer to one alert; the rest are ignored
# (and the database queries that look them up stay small).
_MAX_TOKENS = 20
_MAX_REFERENCED_IDS = 50
# Mentions of a failed address searched for its status in a text bounce.
_MAX_MENTIONS = 20

# The VERP bounce address and the unsubscribe mailto written by app/delivery/sender.py.
# Any domain: the token alone is the secret, and a changed MAIL_DOMAIN must not orphan
# the bounces of alerts sent before the change.
_VERP = re.compile(r"bounces\+([0-9a-f]{32})@", re.IGNORECASE)
_UNSUBSCRIBE_MAILTO = re.compile(r"unsubscribe\+([0-9a-f]{32})@", re.IGNORECASE)
_ANGLE_ID = re.compile(r"<([^<>\s]{1,250})>")
# "Message-ID: <...>" and "Return-Path: <...>" lines of an original quoted as text
# (qmail, old Exim): the only place a non-standard bounce keeps them.
_QUOTED_MESSAGE_ID = re.compile(r"^\s*message-id:\s*(<[^<>\s]{1,250}>)", re.IGNORECASE | re.M)
_QUOTED_RETURN_PATH = re.compile(r"^\s*return-path:\s*<([^<>\s]{1,320})>", re.IGNORECASE | re.M)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]+")
_SPACES = re.compile(r"\s+")
# Status codes in a relay's words: enhanced (RFC 3463, "5.1.1") or basic ("550"). The
# look-arounds keep parts of IP addresses ("10.4.5.6") from passing for either.
_ENHANCED_STATUS = re.compile(r"(?<![\d.])([245]\.\d{1,3}\.\d{1,3})(?!\.?\d)")
_BASIC_STATUS = re.compile(r"(?<![\d.])([245]\d\d)(?![\d.])")

# Where a bounce is addressed: the VERP address names the delivery.
RECIPIENT_HEADERS = ("To", "Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To")
# At least one of these makes bytes an email message rather than something else.
_MESSAGE_HEADERS = (
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "Received",
    "Return-Path",
    "Delivered-To",
    "Content-Type",
)
# Copies of the original message inside a report.
_ORIGINAL_MESSAGE_TYPES = frozenset({"message/rfc822", "message/global"})
_ORIGINAL_HEADER_TYPES = frozenset(
    {"text/rfc822-headers", "message/rfc822-headers", "message/global-headers"}
)
# ARF feedback types that mean "this person does not want this mail" (RFC 5965 §7.3).
# Not complaints: not-spam, auth-failure (RFC 6591, about DKIM/SPF), dmarc, and
# "other", which providers use for anything but spam reports.
COMPLAINT_FEEDBACK_TYPES = frozenset({"abuse", "fraud", "virus"})
# Senders that are the mail system itself: what they send is never a person's reply.
_MAIL_SYSTEM_LOCAL_PARTS = frozenset(
    {"mailer-daemon", "mailer_daemon", "mail-daemon", "postmaster", "mdaemon"}
)
# Subjects of out-of-office notes from clients that set no Auto-Submitted header.
_AUTOMATIC_SUBJECTS = (
    "automatic reply:",
    "auto:",
    "autoreply:",
    "auto-reply:",
    "out of office",
    "réponse automatique",
    "respuesta automática",
)


class Expectation(StrEnum):
    """What the mailbox a message came from receives."""

    # Anything: a complaint, a bounce, otherwise a reply.
    auto = "auto"
    # The bounce address: a complaint or a bounce; anything else is unrecognised.
    bounces = "bounces"


class MalformedMessage(ValidationFailed):
    """The bytes are not an email message."""

    def __init__(self, message: str) -> None:
        super().__init__(message, field="message")


@dataclass(frozen=True)
class Failure:
    """One failed recipient of a bounce."""

    address: str  # lower-cased
    permanent: bool
    status: str | None  # "5.1.1", or a basic SMTP code when that is all there is
    words: str  # what the relay said

    def describe(self) -> str:
        parts = [f"{self.address}:", self.status or "", self.words]
        return clip(" ".join(part for part in parts if part), DIAGNOSTIC_LENGTH)


@dataclass(frozen=True)
class ReadMessage:
    """What a received message is and what it names."""

    # hard_bounce when any failure is permanent, soft_bounce otherwise (the service
    # decides again from the failure of the delivery's own address).
    kind: InboundKind
    # Its own Message-ID, or a digest of the bytes when it has none (idempotency key).
    message_id: str
    from_address: str | None
    subject: str | None
    # Candidates for the delivery, most telling first.
    tokens: tuple[str, ...]
    referenced_ids: tuple[str, ...]
    failures: tuple[Failure, ...] = ()
    feedback_type: str | None = None
    # A program's reply (out of office), not a person's.
    automatic: bool = False
    body_text: str | None = None
    # For staff: the feedback type, why it is unrecognised, the first failure.
    diagnostic: str | None = None

    def failure_of(self, address: str) -> Failure | None:
        wanted = address.strip().lower()
        return next((f for f in self.failures if f.address == wanted), None)


def read_message(raw: bytes, expect: Expectation = Expectation.auto) -> ReadMessage:
    """Parse and classify. Raises MalformedMessage for bytes that are not a message."""
    if not raw.strip():
        raise MalformedMessage("The body is empty: post the raw message (RFC 5322) as the body")
    try:
        message = email.message_from_bytes(raw, policy=compat32)
        if not any(message.get(name) for name in _MESSAGE_HEADERS):
            raise MalformedMessage(
                "The body is not an email message: no From, To, Subject, Date, Message-ID "
                "or Received header before the first blank line"
            )
        return _classify(message, raw, expect)
    except MalformedMessage:
        raise
    except Exception as error:
        # The email package and the bounce detectors meet every kind of broken input
        # (deeply nested parts, impossible encodings): the sender gets a clear 422.
        log.warning("inbound message not readable", exc_info=True)
        raise MalformedMessage(
            f"The message could not be read ({type(error).__name__}): send the raw message "
            "exactly as received"
        ) from None


def _classify(message: Message, raw: bytes, expect: Expectation) -> ReadMessage:
    recipient_tokens = _tokens_in(
        header_text(value) for name in RECIPIENT_HEADERS for value in message.get_all(name, [])
    )
    common: dict[str, Any] = {
        "message_id": own_message_id(message, raw),
        "from_address": clip(parseaddr(header_text(message.get("From")))[1], ADDRESS_LENGTH)
        or None,
        "subject": clip(header_text(message.get("Subject")), SUBJECT_LENGTH) or None,
    }

    report = _feedback_report(message)
    if report is not None:
        return _complaint(message, report, recipient_tokens, common)

    # Mail to an alert's List-Unsubscribe mailto: the address's token is the request
    # (RFC 2369 asks for nothing else; subject and body do not matter).
    unsubscribe_tokens = [
        token.lower()
        for name in RECIPIENT_HEADERS
        for value in message.get_all(name, [])
        for token in _UNSUBSCRIBE_MAILTO.findall(header_text(value))
    ]
    if unsubscribe_tokens and not _from_mail_system(message):
        return ReadMessage(
            kind=InboundKind.unsubscribe,
            tokens=_unique(unsubscribe_tokens, _MAX_TOKENS),
            referenced_ids=(),
            diagnostic="unsubscribe by mail (the List-Unsubscribe mailto address)",
            **common,
        )

    from_mail_system = _from_mail_system(message)
    # Out-of-office notes also come from the null sender and to the VERP address, so
    # these only say "look for failures", not "never a reply".
    null_sender = header_text(message.get("Return-Path")).replace(" ", "") == "<>"
    looks_like_bounce = from_mail_system or null_sender or bool(recipient_tokens)
    if expect is Expectation.bounces or looks_like_bounce:
        failures = _failures(message)
        if failures:
            return ReadMessage(
                kind=(
                    InboundKind.hard_bounce
                    if any(f.permanent for f in failures)
                    else InboundKind.soft_bounce
                ),
                tokens=_unique([*recipient_tokens, *_original_tokens(message)], _MAX_TOKENS),
                referenced_ids=_unique(_original_ids(message), _MAX_REFERENCED_IDS),
                failures=failures,
                diagnostic=failures[0].describe(),
                **common,
            )
    automatic = _is_automatic(message)
    if expect is Expectation.bounces or from_mail_system:
        return ReadMessage(
            kind=InboundKind.unrecognised,
            tokens=_unique(recipient_tokens, _MAX_TOKENS),
            referenced_ids=_unique(_reply_ids(message), _MAX_REFERENCED_IDS),
            automatic=automatic,
            diagnostic=(
                "from the mail system, but no failed recipient found"
                if from_mail_system
                else "neither a bounce nor a complaint"
            ),
            **common,
        )
    return ReadMessage(
        kind=InboundKind.reply,
        tokens=_unique(recipient_tokens, _MAX_TOKENS),
        referenced_ids=_unique(_reply_ids(message), _MAX_REFERENCED_IDS),
        automatic=automatic,
        body_text=clip(reply_text(message), BODY_TEXT_LENGTH, ellipsis=True) or None,
        **common,
    )


# --- complaints -----------------------------------------------------------------------


def _feedback_report(message: Message) -> Message | None:
    """The machine-readable part of an ARF report, if the message is one."""
    for part in message.walk():
        if part.get_content_type() != "multipart/report":
            continue
        report_type = part.get_param("report-type")
        if report_type is None or collapse_rfc2231_value(report_type).lower() != "feedback-report":
            continue
        for child in part.get_payload():
            if isinstance(child, Message) and child.get_content_type() == "message/feedback-report":
                return _header_block(child)
    return None


def _complaint(
    message: Message, report: Message, recipient_tokens: list[str], common: dict[str, Any]
) -> ReadMessage:
    feedback_type = header_text(report.get("Feedback-Type")).lower() or None
    tokens = [
        *recipient_tokens,
        *_tokens_in([header_text(report.get("Original-Mail-From"))]),
        *_original_tokens(message),
    ]
    is_complaint = feedback_type in COMPLAINT_FEEDBACK_TYPES
    agent = header_text(report.get("User-Agent"))
    described = f"feedback report: {feedback_type or 'no type'}" + (f" ({agent})" if agent else "")
    return ReadMessage(
        kind=InboundKind.complaint if is_complaint else InboundKind.unrecognised,
        tokens=_unique(tokens, _MAX_TOKENS),
        referenced_ids=_unique(_original_ids(message), _MAX_REFERENCED_IDS),
        feedback_type=feedback_type,
        diagnostic=clip(
            described if is_complaint else f"{described}: not a complaint", DIAGNOSTIC_LENGTH
        ),
        **common,
    )


# --- bounces --------------------------------------------------------------------------


def _from_mail_system(message: Message) -> bool:
    """Sent by a mail server about a message, not by a person: from MAILER-DAEMON or
    postmaster, a report, or with Exim's failure header."""
    sender = parseaddr(header_text(message.get("From")))[1].lower()
    return (
        sender.partition("@")[0] in _MAIL_SYSTEM_LOCAL_PARTS
        or message.get("X-Failed-Recipients") is not None
        or any(part.get_content_type() == "multipart/report" for part in message.walk())
    )


def _failures(message: Message) -> tuple[Failure, ...]:
    try:
        temporary, permanent = all_failures(message)
    except Exception:
        # A heuristic detector meeting a message it was not written for: no failures
        # found is the truthful answer, and the message is still kept.
        log.warning("flufl.bounce failed on an inbound message", exc_info=True)
        return ()
    reported = _delivery_status_fields(message)
    text = "\n".join(_text_parts(message))
    found: dict[str, Failure] = {}
    for raw_address, listed_permanent in [
        *((address, False) for address in temporary),
        *((address, True) for address in permanent),
    ]:
        address = raw_address.decode("ascii", "replace").strip().strip("<>").lower()
        if "@" not in address:
            continue
        status, words = reported.get(address) or _status_in_text(address, text)
        is_permanent = listed_permanent and not (status and is_transient_status(status))
        previous = found.get(address)
        if previous is None or (is_permanent and not previous.permanent):
            found[address] = Failure(address, is_permanent, status, words)
    return tuple(found.values())


def is_transient_status(status: str) -> bool:
    """A status that says "try later" even when the relay gave up: any 4.x.x, and a
    full mailbox (x.2.2, which RFC 3463 calls persistent transient; 452/552)."""
    if status[:1] == "4" or status in ("452", "552"):
        return True
    return status.endswith(".2.2")


def _delivery_status_fields(message: Message) -> dict[str, tuple[str | None, str]]:
    """Status and diagnostic per recipient, from RFC 3464 message/delivery-status parts
    (keyed by both the original and the final recipient)."""
    fields: dict[str, tuple[str | None, str]] = {}
    for part in message.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        blocks = part.get_payload()
        if not isinstance(blocks, list):
            continue
        for block in blocks:
            if not isinstance(block, Message):
                continue
            status_match = _ENHANCED_STATUS.search(header_text(block.get("Status")))
            status = status_match.group(1) if status_match else None
            words = _SPACES.sub(" ", header_text(block.get("Diagnostic-Code"))).strip()
            action = header_text(block.get("Action")).lower()
            if words.lower().startswith("smtp;"):
                words = words[5:].strip()
            if action and not words:
                words = action
            for name in ("Original-Recipient", "Final-Recipient"):
                value = header_text(block.get(name))
                address = value.rpartition(";")[2].strip().strip("<>").lower()
                if "@" in address:
                    fields.setdefault(address, (status, clip(words, 300)))
    return fields


def _status_in_text(address: str, text: str) -> tuple[str | None, str]:
    """The status and words a non-standard bounce gives after the failed address: the
    lines from the address to the next blank line (qmail, Exim and most others). Only
    the first few mentions are looked at: a bounce names its address a handful of
    times, and a crafted message must not make this slow."""
    lowered = text.lower()
    start = lowered.find(address)
    for _mention in range(_MAX_MENTIONS):
        if start == -1:
            break
        window = max(0, start - 200)
        newline = text.rfind("\n", window, start)
        line_start = newline + 1 if newline != -1 else window
        paragraph: list[str] = []
        for line in text[line_start : start + 1200].splitlines():
            if paragraph and not line.strip():
                break
            paragraph.append(line)
        words = _SPACES.sub(" ", " ".join(paragraph)).strip()
        status = _ENHANCED_STATUS.search(words) or _BASIC_STATUS.search(words)
        if status:
            return status.group(1), clip(words, 300)
        start = lowered.find(address, start + len(address))
    return None, ""


# --- what names the delivery ----------------------------------------------------------


def _originals(message: Message) -> Iterator[Message]:
    """The headers of the original message that a report returns."""
    for part in message.walk():
        content_type = part.get_content_type()
        if content_type in _ORIGINAL_MESSAGE_TYPES:
            payload = part.get_payload()
            if isinstance(payload, list) and payload and isinstance(payload[0], Message):
                yield payload[0]
        elif content_type in _ORIGINAL_HEADER_TYPES:
            yield HeaderParser(policy=compat32).parsestr(decoded_text(part))


def _original_tokens(message: Message) -> list[str]:
    values: list[str] = []
    for original in _originals(message):
        values.extend(header_text(v) for v in original.get_all("Return-Path", []))
        values.extend(header_text(v) for v in original.get_all("List-Unsubscribe", []))
    text = "\n".join(_text_parts(message))
    values.extend(f"<{path}>" for path in _QUOTED_RETURN_PATH.findall(text))
    return _tokens_in(values) + [
        token.lower() for value in values for token in _UNSUBSCRIBE_MAILTO.findall(value)
    ]


def _original_ids(message: Message) -> list[str]:
    """The original's Message-ID as a bounce or complaint gives it, most telling first."""
    ids: list[str] = []
    for original in _originals(message):
        ids.extend(message_ids(header_text(original.get("Message-ID"))))
    for name in ("Original-Message-ID", "X-Original-Message-ID"):
        ids.extend(message_ids(header_text(message.get(name))))
    ids.extend(_QUOTED_MESSAGE_ID.findall("\n".join(_text_parts(message))))
    return ids + _reply_ids(message)


def _reply_ids(message: Message) -> list[str]:
    """In-Reply-To, then References from the most recent back."""
    references = message_ids(header_text(message.get("References")))
    return message_ids(header_text(message.get("In-Reply-To"))) + references[::-1]


def message_ids(value: str) -> list[str]:
    return [f"<{found}>" for found in _ANGLE_ID.findall(value)]


def _tokens_in(values: Iterable[str]) -> list[str]:
    return [token.lower() for value in values for token in _VERP.findall(value)]


def own_message_id(message: Message, raw: bytes) -> str:
    found = message_ids(header_text(message.get("Message-ID")))
    if found and len(found[0]) <= MESSAGE_ID_LENGTH:
        return found[0]
    return "sha256:" + hashlib.sha256(raw).hexdigest()


# --- replies --------------------------------------------------------------------------


def _is_automatic(message: Message) -> bool:
    """An out-of-office or other program's answer (RFC 3834 and common practice)."""
    auto_submitted = header_text(message.get("Auto-Submitted")).lower()
    if auto_submitted and not auto_submitted.startswith("no"):
        return True
    if message.get("X-Autoreply") is not None or message.get("X-Autorespond") is not None:
        return True
    if header_text(message.get("Precedence")).lower() in ("auto_reply", "bulk", "junk"):
        return True
    subject = header_text(message.get("Subject")).lower()
    return subject.startswith(_AUTOMATIC_SUBJECTS)


def reply_text(message: Message) -> str:
    """The text a person wrote: the first plain-text part that is not an attachment,
    else the first HTML part as text."""
    html: str | None = None
    for part in message.walk():
        if part.is_multipart() or part.get_content_disposition() == "attachment":
            continue
        content_type = part.get_content_type()
        if content_type == "text/plain":
            return clean_text(decoded_text(part)).strip()
        if content_type == "text/html" and html is None:
            html = decoded_text(part)
    return clean_text(_html_as_text(html)).strip() if html else ""


class _TextOfHtml(HTMLParser):
    _SKIPPED = frozenset({"script", "style", "head", "title"})
    _BREAKS = frozenset({"br", "p", "div", "li", "tr", "h1", "h2", "h3", "blockquote"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIPPED:
            self._skipping += 1
        elif tag in self._BREAKS:
            self.chunks.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIPPED and self._skipping:
            self._skipping -= 1

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.chunks.append(data)


def _html_as_text(html: str) -> str:
    parser = _TextOfHtml()
    parser.feed(html)
    parser.close()
    return re.sub(r"\n{3,}", "\n\n", "".join(parser.chunks))


# --- text helpers ---------------------------------------------------------------------


def header_text(value: Any) -> str:
    """A header as readable text: RFC 2047 words decoded, no control characters."""
    if value is None:
        return ""
    try:
        text = str(make_header(decode_header(str(value))))
    except (LookupError, UnicodeError, ValueError, HeaderParseError):
        text = str(value)
    return _SPACES.sub(" ", clean_text(_CONTROL.sub(" ", text))).strip()


def decoded_text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return clean_text(str(part.get_payload() or ""))
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, errors="replace")
    except LookupError:  # a charset Python does not know
        return payload.decode("utf-8", errors="replace")


def _text_parts(message: Message) -> Iterator[str]:
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            yield decoded_text(part)


def _header_block(part: Message) -> Message:
    """A message/* part whose body is header fields (feedback-report), as a Message."""
    payload = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        return payload[0]
    return HeaderParser(policy=compat32).parsestr(str(payload or ""))


def clean_text(text: str) -> str:
    """Text any database accepts: undecodable bytes (kept by the parser as surrogates)
    become U+FFFD, NUL characters go."""
    try:
        data = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # surrogates that are not escaped bytes
        data = text.encode("utf-8", "replace")
    return data.decode("utf-8", "replace").replace("\x00", "")


def clip(text: str, limit: int, *, ellipsis: bool = False) -> str:
    if len(text) <= limit:
        return text
    return text[: limit - 1] + "…" if ellipsis else text[:limit]


def _unique(values: Iterable[str], limit: int) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))[:limit]
