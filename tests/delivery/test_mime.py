"""Alert messages built as bytes: what a mail reader parses back out of them."""

# Arabic text is the point of several tests here.
# ruff: noqa: RUF001

import email
import email.policy
import re
import timeit
from datetime import UTC, datetime, timedelta, timezone
from email.header import decode_header, make_header
from email.message import EmailMessage
from typing import Any

import pytest

from app.delivery.mime import AlertEnvelope, build_alert, format_address

SUBJECT_FR = "Alerte : la Cour pénale internationale a besoin de vous — écrivez « maintenant »"
SUBJECT_AR = "نداء عاجل: صادقوا على نظام روما الأساسي للمحكمة الجنائية الدولية قبل نهاية الدورة 🌍"
NAME_AR = "فاطمة الزهراء بن علي"
TEXT = "Chère Fatima,\n\nمرحبا بكم — écrivez au ministre 🌍\n\n-- \nCoalition\n"
HTML = '<p>Chère Fatima,</p>\n<p dir="rtl">مرحبا بكم 🌍</p>\n<p>É&nbsp;à</p>\n'


def envelope(**changes: Any) -> AlertEnvelope:
    fields: dict[str, Any] = {
        "from_header": "Coalition pour la Cour pénale internationale <alerts@example.org>",
        "to_name": NAME_AR,
        "to_address": "fatima@example.net",
        "subject": SUBJECT_AR,
        "message_id": "<d42.c7.3f9a@example.org>",
        "date": datetime(2025, 3, 1, 14, 30, 5, tzinfo=timezone(timedelta(hours=1))),
        "list_id": "Coalition for the ICC action alerts <alerts.example.org>",
        "unsubscribe_url": "https://crm.example.org/u/Zm9vYmFyYmF6cXV4",
        "unsubscribe_mailto": "mailto:unsubscribe+Zm9vYmFy@example.org",
        "reply_to": '"Secretariat, CICC" <secretariat@example.org>',
        "extra_headers": (("X-Campaign", "12"),),
    }
    fields.update(changes)
    return AlertEnvelope(**fields)


def build(text: str = TEXT, html: str = HTML, **changes: Any) -> bytes:
    return build_alert(envelope(**changes), text=text, html=html)


def parse(data: bytes) -> EmailMessage:
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def header_block(data: bytes) -> bytes:
    return data.split(b"\r\n\r\n", 1)[0]


def rfc2047_display_name(data: bytes, header: str) -> str:
    """The display name decoded as RFC 2047 §6.2 says: whitespace between adjacent
    encoded-words is dropped. Python 3.11's `policy.default` keeps it in address headers
    (CPython gh-128110, fixed in later releases), so names long enough to need several
    encoded-words are checked with the older decoder, which follows the RFC."""
    raw = email.message_from_bytes(data, policy=email.policy.compat32)[header]
    phrase = re.sub(r"\r?\n[ \t]", " ", raw).rpartition("<")[0].strip()
    return str(make_header(decode_header(phrase)))


def crlf(text: str) -> str:
    return text.replace("\n", "\r\n")


def test_headers_parse_back_to_the_envelope() -> None:
    env = envelope()
    message = parse(build_alert(env, text=TEXT, html=HTML))

    assert not message.defects
    for name, value in message.items():
        assert not value.defects, (name, value.defects)
    sender = message["From"].addresses[0]
    assert sender.display_name == "Coalition pour la Cour pénale internationale"
    assert sender.addr_spec == "alerts@example.org"
    recipient = message["To"].addresses[0]
    assert recipient.display_name == NAME_AR
    assert recipient.addr_spec == "fatima@example.net"
    assert str(message["Subject"]) == SUBJECT_AR
    assert message["Date"].datetime == env.date
    assert message["Message-ID"] == "<d42.c7.3f9a@example.org>"
    assert message["Reply-To"].addresses[0].display_name == "Secretariat, CICC"
    assert message["Reply-To"].addresses[0].addr_spec == "secretariat@example.org"
    assert message["List-Id"] == "Coalition for the ICC action alerts <alerts.example.org>"
    assert message["List-Unsubscribe"] == (
        "<https://crm.example.org/u/Zm9vYmFyYmF6cXV4>, <mailto:unsubscribe+Zm9vYmFy@example.org>"
    )
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["X-Campaign"] == "12"
    assert message["MIME-Version"] == "1.0"
    assert message.get_all("Bcc") is None
    assert message.get_all("Precedence") is None
    for name in ("From", "To", "Subject", "Date", "Message-ID", "List-Id", "List-Unsubscribe"):
        assert len(message.get_all(name) or []) == 1, name


def test_french_subject_and_plain_names() -> None:
    message = parse(
        build(
            subject=SUBJECT_FR,
            to_name="Jean-Luc O'Brien",
            from_header="alerts@example.org",
            reply_to=None,
            extra_headers=(),
        )
    )
    assert str(message["Subject"]) == SUBJECT_FR
    assert message["To"].addresses[0].display_name == "Jean-Luc O'Brien"
    assert message["From"].addresses[0].addr_spec == "alerts@example.org"
    assert message["From"].addresses[0].display_name == ""
    assert message["Reply-To"] is None
    assert message["X-Campaign"] is None


def test_empty_recipient_name_gives_a_bare_address() -> None:
    data = build(to_name="  ")
    assert b"\r\nTo: fatima@example.net\r\n" in data
    assert parse(data)["To"].addresses[0].addr_spec == "fatima@example.net"


@pytest.mark.parametrize(
    "name",
    [
        'Dupont, "Jo" \\ Marie',
        "A. N. Other (ICC)",
        "Une association au nom vraiment très long pour tenir sur une seule ligne d'en-tête",
        "Plain ASCII name that is long enough to need folding across two header lines",
        "=?utf-8?b?not-really?=",
    ],
)
def test_display_names_round_trip(name: str) -> None:
    data = build(to_name=name)
    message = parse(data)
    if name.isascii():
        assert message["To"].addresses[0].display_name == name
    else:
        assert rfc2047_display_name(data, "To") == name
    assert message["To"].addresses[0].addr_spec == "fatima@example.net"
    assert not message["To"].defects


def test_subject_that_looks_like_an_encoded_word_stays_literal() -> None:
    subject = "Read =?utf-8?b?SGk=?= literally"
    assert str(parse(build(subject=subject))["Subject"]) == subject


def test_very_long_subject_and_name_fold_within_limits() -> None:
    subject = (SUBJECT_AR + " ") * 6 + SUBJECT_FR * 3
    name = NAME_AR * 8
    data = build(subject=subject, to_name=name)
    message = parse(data)
    assert str(message["Subject"]) == subject
    assert rfc2047_display_name(data, "To") == name
    for line in header_block(data).split(b"\r\n"):
        assert len(line) <= 78, line
    for word in re.findall(rb"=\?utf-8\?b\?[^?]*\?=", header_block(data)):
        assert len(word) <= 75


def test_multipart_alternative_text_then_html() -> None:
    message = parse(build())
    assert message.get_content_type() == "multipart/alternative"
    parts = list(message.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    for part in parts:
        assert isinstance(part, EmailMessage)
        assert part.get_content_charset() == "utf-8"
        assert part["Content-Transfer-Encoding"] == "base64"
    # Text goes out in canonical CRLF form (RFC 2045 §6.8); otherwise exactly as given.
    assert parts[0].get_content() == crlf(TEXT)
    assert parts[1].get_content() == crlf(HTML)


def test_bodies_round_trip_exactly() -> None:
    text = "سطر عربي 🌍🇫🇷 emoji\r\nmixed\rendings\n" * 40 + "no final newline"
    html = "<p>" + "é" * 3000 + "</p>"  # one 6000-byte line
    parts = list(parse(build(text=text, html=html)).iter_parts())
    expected = text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\r\n")
    assert parts[0].get_content() == expected
    assert parts[1].get_content() == html


def test_empty_bodies() -> None:
    parts = list(parse(build(text="", html="")).iter_parts())
    assert [p.get_content() for p in parts] == ["", ""]


def test_lines_end_with_crlf_and_stay_short() -> None:
    data = build(text="x" * 5000, html="<b>" + "مرحبا" * 2000 + "</b>")
    assert data.endswith(b"\r\n")
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert b"\r" not in data.replace(b"\r\n", b"")
    lines = data.split(b"\r\n")
    assert max(len(line) for line in lines) <= 78
    assert data.isascii()
    assert not any(line.startswith(b".") for line in lines)


def test_boundary_is_unique_per_message() -> None:
    def boundary(data: bytes) -> str:
        found = parse(data).get_boundary()
        assert found
        return found

    first, second = boundary(build()), boundary(build())
    assert first != second


def test_naive_date_is_refused() -> None:
    with pytest.raises(ValueError, match="Date"):
        build(date=datetime(2025, 3, 1, 12, 0))


def test_date_keeps_its_offset() -> None:
    data = build(date=datetime(2025, 3, 1, 12, 0, tzinfo=UTC))
    assert b"\r\nDate: Sat, 01 Mar 2025 12:00:00 +0000\r\n" in data


INJECTION = "Evil\r\nBcc: victim@example.com\r\n\r\nbody?"


@pytest.mark.parametrize(
    "changes",
    [
        {"to_name": INJECTION},
        {"subject": INJECTION},
        {"subject": "Evil\nBcc: victim@example.com"},
        {"subject": "Evil\rBcc: victim@example.com"},
        {"subject": "Evil\u2028Bcc: victim@example.com\x00\x85"},
        {"to_name": "فاطمة\r\nBcc: victim@example.com"},
        {"from_header": INJECTION + " <alerts@example.org>"},
        {"reply_to": INJECTION + " <secretariat@example.org>"},
        {"list_id": INJECTION + " <alerts.example.org>"},
        {"extra_headers": (("X-Campaign", INJECTION),)},
    ],
)
def test_header_injection_never_adds_a_header(changes: dict[str, Any]) -> None:
    data = build(**changes)
    head = header_block(data)
    assert not re.search(rb"\r\n(?i:bcc)\s*:", head)
    assert b"\r\n\r\n" not in head
    message = parse(data)
    assert message.get_all("Bcc") is None
    names = [name.lower() for name in message]
    assert "bcc" not in names
    assert len(names) == len(set(names))
    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content() for p in message.iter_parts()] == [crlf(TEXT), crlf(HTML)]


def test_injected_text_survives_as_visible_text() -> None:
    message = parse(build(subject=INJECTION, to_name=INJECTION))
    assert str(message["Subject"]) == "Evil Bcc: victim@example.com body?"
    assert message["To"].addresses[0].display_name == "Evil Bcc: victim@example.com body?"


@pytest.mark.parametrize(
    "address",
    [
        "fatima@example.net\r\nBcc: victim@example.com",
        "fatima@example.net\n",
        "fatima @example.net",
        "fatima@example.net victim@example.com",
        "fatima@example.net,victim@example.com",
        "fatima,victim@example.com",
        "<fatima@example.net>",
        "no-at-sign",
        "two@at@signs.example",
        "@example.net",
        "fatima@",
        "",
        '"quoted local"@example.net',
        "fätima@example.net",
    ],
)
def test_bad_recipient_address_is_refused(address: str) -> None:
    with pytest.raises(ValueError, match=r"^To: "):
        build(to_address=address)


@pytest.mark.parametrize(
    ("changes", "header"),
    [
        ({"from_header": "Coalition <alerts@exa mple.org>"}, "From"),
        ({"from_header": "Coalition"}, "From"),
        ({"reply_to": "Secretariat <a@b@example.org>"}, "Reply-To"),
        ({"message_id": "<no-at-sign>"}, "Message-ID"),
        ({"message_id": "<a@b>\r\nBcc: x@y"}, "Message-ID"),
        ({"list_id": "Alerts <alerts example.org>"}, "List-Id"),
        ({"unsubscribe_url": "https://x.example/u>, <https://evil.example"}, "List-Unsubscribe"),
        ({"unsubscribe_url": "javascript:alert(1)"}, "List-Unsubscribe"),
        ({"unsubscribe_mailto": "https://example.org"}, "List-Unsubscribe"),
        ({"unsubscribe_mailto": "mailto:u@example.org\r\nBcc: x@y"}, "List-Unsubscribe"),
    ],
)
def test_other_bad_values_name_their_header(changes: dict[str, Any], header: str) -> None:
    with pytest.raises(ValueError, match=f"^{header}: "):
        build(**changes)


@pytest.mark.parametrize(
    "extra",
    [("X-Bad\r\nBcc", "x"), ("X Bad", "x"), ("X:Bad", "x"), ("", "x"), ("Bcc", "x"), ("from", "x")],
)
def test_bad_extra_header_names_are_refused(extra: tuple[str, str]) -> None:
    with pytest.raises(ValueError, match="extra header"):
        build(extra_headers=(extra,))


def test_idn_domain_becomes_its_a_label() -> None:
    message = parse(build(to_address="fatima@bücher.example"))
    assert message["To"].addresses[0].addr_spec == "fatima@xn--bcher-kva.example"


def test_message_id_without_brackets_is_bracketed() -> None:
    assert parse(build(message_id="d42@example.org"))["Message-ID"] == "<d42@example.org>"


def test_format_address() -> None:
    assert format_address("", "a@example.org") == "a@example.org"
    assert format_address("Jo Bloggs", "a@example.org") == "Jo Bloggs <a@example.org>"
    assert format_address("Bloggs, Jo", "a@example.org") == '"Bloggs, Jo" <a@example.org>'
    encoded = format_address(NAME_AR, "a@example.org")
    assert encoded.isascii()
    parsed = parse(f"To: {encoded}\r\n\r\n".encode())["To"].addresses[0]
    assert parsed.display_name == NAME_AR
    with pytest.raises(ValueError, match=r"^Cc: "):
        format_address("x", "x y@example.org", header="Cc")


def test_speed_figure() -> None:
    """Prints a rough cost; asserts nothing about time."""
    env = envelope()
    html = HTML * 60
    text = TEXT * 30
    number = 300
    seconds = min(timeit.repeat(lambda: build_alert(env, text=text, html=html), number=number))
    size = len(build_alert(env, text=text, html=html))
    print(f"\nbuild_alert: {seconds / number * 1e6:.0f} µs per {size}-byte message")
