"""Action-alert messages assembled straight into bytes, for the send pipeline.

The standard library's `EmailMessage` with the default/SMTP policy parses and refolds
every header through its header registry, which costs far more than the message is
worth when a worker builds tens of thousands of them a second. Alerts have a fixed
shape (one multipart/alternative with a text and an HTML part), so `build_alert` writes
that shape directly: ASCII headers folded at 78 characters, RFC 2047 encoded-words for
anything non-ASCII, CRLF line endings throughout, ready for SMTP and for `DkimSigner`.

Header injection is closed here rather than trusted to callers: control characters in
any header text become spaces (they can never start a new header line), and addresses,
message ids and URLs that could break a header's structure are refused with a
ValueError naming the header.
"""

import binascii
import itertools
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from functools import lru_cache

import idna

__all__ = ["AlertEnvelope", "build_alert", "format_address"]

_CRLF = "\r\n"
_SOFT_LIMIT = 78  # RFC 5322 §2.1.1: lines SHOULD be at most 78 characters
_HARD_LIMIT = 998  # ... and MUST be at most 998
_WORD_LIMIT = 75  # RFC 2047 §2: an encoded-word is at most 75 characters
_WORD_OVERHEAD = len("=?utf-8?b??=")

# C0 controls (CR, LF, TAB, NUL ...), DEL, C1 controls (NEL among them) and the Unicode
# line/paragraph separators: none belongs in a header, and CR/LF would start a new one.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
# RFC 5322 `specials` (and '.', like `email.utils.formataddr`): a display name holding
# one of these must be a quoted-string.
_SPECIALS = re.compile(r'[][\\()<>@,:;".]')
# A dot-atom local part and a hostname: anything else (quoted local parts, address
# literals, whitespace, brackets, commas) is refused rather than escaped.
_LOCAL_PART = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+")
_DOMAIN = re.compile(r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*")
# RFC 5322 field-name: printable ASCII except the colon.
_FIELD_NAME = re.compile(r"[!-9;-~]+")
# Message ids, list ids and URLs go out verbatim inside <...>: visible ASCII only, and
# nothing that would end the angle brackets early.
_ANGLE_CONTENT = re.compile(r"[!-;=?-~]+")

# Headers build_alert writes itself; an extra header must not duplicate or contradict
# them (a second From breaks DKIM and DMARC, a Bcc would be shown to every recipient).
_RESERVED = frozenset(
    name.lower()
    for name in (
        "From",
        "To",
        "Cc",
        "Bcc",
        "Sender",
        "Subject",
        "Date",
        "Message-ID",
        "Reply-To",
        "List-Id",
        "List-Unsubscribe",
        "List-Unsubscribe-Post",
        "MIME-Version",
        "Content-Type",
        "Content-Transfer-Encoding",
        "DKIM-Signature",
        "Return-Path",
        "Received",
    )
)


@dataclass(frozen=True)
class AlertEnvelope:
    """Everything in an alert's headers that varies per recipient or campaign."""

    from_header: str  # 'Coalition for the ICC <alerts@example.org>'; the name may be non-ASCII
    to_name: str  # may be non-ASCII, may be empty
    to_address: str
    subject: str  # may be non-ASCII (French, Arabic)
    message_id: str  # '<…@domain>', stable per delivery
    date: datetime  # aware
    list_id: str  # 'Coalition for the ICC action alerts <alerts.example.org>'
    unsubscribe_url: str  # https URL for RFC 8058 one-click
    unsubscribe_mailto: str  # 'mailto:unsubscribe+TOKEN@example.org'
    reply_to: str | None = None
    extra_headers: tuple[tuple[str, str], ...] = ()  # e.g. (('X-Campaign', '12'),)


def build_alert(envelope: AlertEnvelope, *, text: str, html: str) -> bytes:
    """The complete message: headers, then multipart/alternative with text and HTML.

    Both parts are base64. Against quoted-printable: base64 lines are exactly 76
    characters whatever the content (no 998-character risk from long HTML lines, no
    line ever starts with '.', so SMTP dot-stuffing never applies), it is 1.33x the
    UTF-8 size where quoted-printable triples Arabic text, and `binascii` encodes it
    several times faster than `b2a_qp` (measured). Text is put in canonical CRLF form
    first (RFC 2045 §6.8), so a reader gets the body back with CRLF line endings.
    """
    date = envelope.date
    if date.tzinfo is None or date.utcoffset() is None:
        raise ValueError("Date: the datetime must be timezone-aware")
    boundary = _next_boundary()
    lines = [
        _mailbox_header("From", envelope.from_header),
        _address_header("To", envelope.to_name, envelope.to_address),
        _unstructured_header("Subject", envelope.subject),
        "Date: " + _format_date(date.replace(microsecond=0)),
        "Message-ID: " + _angle("Message-ID", envelope.message_id, need_at=True),
    ]
    if envelope.reply_to is not None:
        lines.append(_mailbox_header("Reply-To", envelope.reply_to))
    lines.append(_list_id_header(envelope.list_id))
    lines.append(_list_unsubscribe(envelope.unsubscribe_url, envelope.unsubscribe_mailto))
    lines.append("List-Unsubscribe-Post: List-Unsubscribe=One-Click")
    for name, value in envelope.extra_headers:
        lines.append(_extra_header(name, value))
    lines.append("MIME-Version: 1.0")
    lines.append(f'Content-Type: multipart/alternative; boundary="{boundary}"')
    head = _CRLF.join(lines).encode("ascii")
    delimiter = b"\r\n--" + boundary.encode("ascii")
    return b"".join(
        (
            head,
            b"\r\n\r\n--",
            boundary.encode("ascii"),
            b"\r\nContent-Type: text/plain; charset=utf-8"
            b"\r\nContent-Transfer-Encoding: base64\r\n\r\n",
            _base64_body(text),
            delimiter,
            b"\r\nContent-Type: text/html; charset=utf-8"
            b"\r\nContent-Transfer-Encoding: base64\r\n\r\n",
            _base64_body(html),
            delimiter,
            b"--\r\n",
        )
    )


# '_' never occurs in base64, and '=' forces quoting. Different for each message of a
# process without asking the kernel for randomness each time (a system call per
# message): a random part per process, then a counter. A repeat in another process is
# harmless: base64 content can never contain a boundary.
_BOUNDARY_PREFIX = "=_" + secrets.token_hex(8) + "_"
_boundary_numbers = itertools.count(1)


def _next_boundary() -> str:
    return f"{_BOUNDARY_PREFIX}{next(_boundary_numbers):08x}"


def format_address(name: str, address: str, *, header: str = "address") -> str:
    """'Name <address>' as it may appear in a header (unfolded): the name sanitised and
    quoted or RFC 2047-encoded as needed, the address checked (ValueError otherwise)."""
    return " ".join(_address_tokens(header, name, address))


# Messages built in the same second share a Date (the header has no fractions), and a
# lookup is cheaper than formatting it again.
_format_date = lru_cache(maxsize=64)(format_datetime)


# --- headers -------------------------------------------------------------------------


def _clean(value: str) -> str:
    """Control characters become one space each run: they can never end a header line."""
    return _CONTROL.sub(" ", value).strip()


def _fold(name: str, tokens: Iterable[str]) -> str:
    """'Name: token token …', a line break before any token that would pass 78
    characters. Tokens join with one space, so unfolding gives back the same text."""
    out: list[str] = []
    line = name + ":"
    first = True
    for token in tokens:
        if not first and token and len(line) + 1 + len(token) > _SOFT_LIMIT:
            out.append(line)
            line = " " + token
        else:
            line += " " + token
        first = False
    out.append(line)
    if any(len(part) > _HARD_LIMIT for part in out):
        raise ValueError(f"{name}: a header line would exceed {_HARD_LIMIT} characters")
    return _CRLF.join(out)


def _encoded_words(text: str, first_room: int) -> list[str]:
    """`=?utf-8?b?…?=` words covering `text`, each of whole characters (RFC 2047 §5)
    and at most 75 characters; the first also fits in `first_room` characters."""
    data = text.encode("utf-8")
    words: list[str] = []
    room = min(first_room, _WORD_LIMIT)
    start = 0
    while start < len(data):
        # 4 base64 characters per 3 bytes; never fewer than 6 bytes, so a 4-byte
        # character (emoji) always fits and the loop always advances.
        end = start + max((room - _WORD_OVERHEAD) // 4 * 3, 6)
        if end < len(data):
            while data[end] & 0xC0 == 0x80:  # do not cut inside a UTF-8 sequence
                end -= 1
        chunk = binascii.b2a_base64(data[start:end], newline=False).decode("ascii")
        words.append("=?utf-8?b?" + chunk + "?=")
        start = end
        room = _WORD_LIMIT
    return words


def _text_tokens(header: str, text: str) -> list[str]:
    """Unstructured text as foldable tokens: plain ASCII words when that round-trips,
    encoded-words otherwise (non-ASCII, a literal '=?' a reader would try to decode, or
    a word too long to fit any line)."""
    tokens = text.split(" ")
    if text.isascii() and "=?" not in text and all(len(t) < _SOFT_LIMIT for t in tokens):
        return tokens
    return _encoded_words(text, _SOFT_LIMIT - len(header) - 2)


def _phrase_tokens(header: str, name: str) -> list[str]:
    """A display name (RFC 5322 phrase): atoms, a quoted-string, or encoded-words."""
    if not name.isascii() or "=?" in name:
        return _encoded_words(name, _SOFT_LIMIT - len(header) - 2)
    if _SPECIALS.search(name):
        name = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return name.split(" ")


def _checked_address(header: str, address: str) -> str:
    """The address as it goes into the header, or ValueError naming the header.

    Only dot-atom local parts and hostnames pass: that refuses CR/LF, whitespace, angle
    brackets and commas (which could add recipients) outright instead of escaping them.
    A Unicode domain becomes its A-label (punycode); a Unicode local part would need
    SMTPUTF8 and 8-bit headers, which this module does not produce, so it is refused.
    """
    if address.count("@") != 1:
        raise ValueError(f"{header}: address {address!r} must contain exactly one '@'")
    local, domain = address.split("@")
    if not domain.isascii():
        try:
            domain = idna.encode(domain, uts46=True).decode("ascii")
        except idna.IDNAError as error:
            raise ValueError(f"{header}: invalid domain in {address!r}: {error}") from None
    if not _LOCAL_PART.fullmatch(local) or not _DOMAIN.fullmatch(domain):
        raise ValueError(
            f"{header}: address {address!r} is not a plain ASCII local-part@domain "
            "(no whitespace, control characters, quotes or brackets)"
        )
    return local + "@" + domain


def _address_tokens(header: str, name: str, address: str) -> list[str]:
    addr_spec = _checked_address(header, address)
    name = _clean(name)
    if not name:
        return [addr_spec]
    return [*_phrase_tokens(header, name), "<" + addr_spec + ">"]


def _address_header(header: str, name: str, address: str) -> str:
    return _fold(header, _address_tokens(header, name, address))


def _split_mailbox(value: str) -> tuple[str, str]:
    """'Name <addr>', '"Name, Inc." <addr>' or a bare 'addr' into (name, address)."""
    value = _clean(value)
    if value.endswith(">") and "<" in value:
        name, _, address = value[:-1].rpartition("<")
        name = name.strip()
        if len(name) >= 2 and name[0] == name[-1] == '"':
            name = re.sub(r"\\(.)", r"\1", name[1:-1])
        return name, address.strip()
    return "", value


@lru_cache(maxsize=256)
def _mailbox_header(header: str, value: str) -> str:
    """From and Reply-To: one mailbox given as text. Cached, since a campaign sends
    every message from the same one."""
    name, address = _split_mailbox(value)
    return _address_header(header, name, address)


@lru_cache(maxsize=1024)
def _unstructured_header(header: str, value: str) -> str:
    """Subject and extra headers; cached, since a campaign's subject repeats."""
    return _fold(header, _text_tokens(header, _clean(value)))


def _angle(header: str, value: str, *, need_at: bool = False) -> str:
    """'<value>' for ids and URLs that go out verbatim, checked for header safety."""
    inner = value.strip()
    if inner.startswith("<") and inner.endswith(">"):
        inner = inner[1:-1]
    if not _ANGLE_CONTENT.fullmatch(inner) or (need_at and inner.count("@") != 1):
        raise ValueError(f"{header}: {value!r} is not a valid identifier or URL for a header")
    return "<" + inner + ">"


@lru_cache(maxsize=256)
def _list_id_header(value: str) -> str:
    """RFC 2919 List-Id: an optional description phrase, then <list-id>."""
    value = _clean(value)
    description = ""
    if value.endswith(">") and "<" in value:
        description, _, list_id = value[:-1].rpartition("<")
        description = description.strip()
    else:
        list_id = value
    tokens = _phrase_tokens("List-Id", description) if description else []
    return _fold("List-Id", [*tokens, _angle("List-Id", list_id)])


def _list_unsubscribe(url: str, mailto: str) -> str:
    """RFC 2369 List-Unsubscribe with the RFC 8058 one-click URL first."""
    if not url.startswith(("https://", "http://")):
        raise ValueError(f"List-Unsubscribe: {url!r} is not an http(s) URL")
    if not mailto.startswith("mailto:"):
        raise ValueError(f"List-Unsubscribe: {mailto!r} is not a mailto: URI")
    return _fold(
        "List-Unsubscribe",
        [_angle("List-Unsubscribe", url) + ",", _angle("List-Unsubscribe", mailto)],
    )


def _extra_header(name: str, value: str) -> str:
    if not _FIELD_NAME.fullmatch(name):
        raise ValueError(f"extra header name {name!r} is not a valid header field name")
    if name.lower() in _RESERVED:
        raise ValueError(f"extra header {name!r} would duplicate a header build_alert sets")
    return _unstructured_header(name, value)


# --- bodies --------------------------------------------------------------------------


def _base64_body(text: str) -> bytes:
    """UTF-8 in canonical CRLF form, base64 in 76-character lines (RFC 2045 §6.8)."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    encoded = binascii.b2a_base64(text.replace("\n", "\r\n").encode("utf-8"), newline=False)
    return b"\r\n".join([encoded[i : i + 76] for i in range(0, len(encoded), 76)])
