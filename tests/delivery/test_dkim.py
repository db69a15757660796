"""DKIM signatures made with `cryptography`, checked by an independent verifier (dkimpy)."""

# Arabic text is the point of several tests here.
# ruff: noqa: RUF001

import base64
import functools
import re
import timeit
import types
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dkim
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from app.core.settings import Settings
from app.delivery.dkim import DkimSigner
from app.delivery.mime import AlertEnvelope, build_alert

DOMAIN = "example.org"
SUBJECT_AR = "نداء عاجل: صادقوا على نظام روما الأساسي للمحكمة الجنائية الدولية 🌍"


def pem(key: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@pytest.fixture(scope="module")
def rsa_pem() -> bytes:
    """One 2048-bit key for the module: generating it takes a noticeable fraction of
    a second."""
    return pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))


@pytest.fixture(scope="module")
def ed25519_pem() -> bytes:
    return pem(ed25519.Ed25519PrivateKey.generate())


@pytest.fixture(scope="module")
def rsa_signer(rsa_pem: bytes) -> DkimSigner:
    return DkimSigner(domain=DOMAIN, selector="rsa2025", private_key_pem=rsa_pem)


@pytest.fixture(scope="module")
def ed25519_signer(ed25519_pem: bytes) -> DkimSigner:
    return DkimSigner(domain=DOMAIN, selector="ed2025", private_key_pem=ed25519_pem)


class _BadSignature(Exception):
    pass


class _VerifyKey:
    """The one PyNaCl call dkimpy makes for Ed25519, done with `cryptography`."""

    def __init__(self, key: bytes, encoder: object = None) -> None:
        self._key = ed25519.Ed25519PublicKey.from_public_bytes(base64.b64decode(key))

    def verify(self, message: bytes, signature: bytes) -> bytes:
        try:
            self._key.verify(signature, message)
        except InvalidSignature:
            raise _BadSignature from None
        return message


@pytest.fixture(autouse=True)
def _dkimpy_ed25519(monkeypatch: pytest.MonkeyPatch) -> None:
    """dkimpy verifies Ed25519 through PyNaCl, which is not installed here. Lend it a
    stand-in for the final signature check only: parsing, canonicalisation and the
    hash stay dkimpy's own."""
    if not hasattr(dkim, "nacl"):
        shim = types.SimpleNamespace(
            signing=types.SimpleNamespace(VerifyKey=_VerifyKey),
            encoding=types.SimpleNamespace(Base64Encoder=None),
            exceptions=types.SimpleNamespace(
                BadSignatureError=_BadSignature, ValueError=ValueError
            ),
        )
        monkeypatch.setattr(dkim, "nacl", shim, raising=False)


def dns_for(*signers: DkimSigner) -> Callable[..., bytes]:
    """dkimpy's dnsfunc: the TXT record of each signer's selector."""
    records = {
        f"{s.selector}._domainkey.{s.domain}.".encode(): s.dns_record().encode() for s in signers
    }

    def lookup(name: bytes, timeout: int = 5) -> bytes:
        return records[name]

    return lookup


def alert(**changes: Any) -> bytes:
    fields: dict[str, Any] = {
        "from_header": "Coalition pour la CPI <alerts@example.org>",
        "to_name": "Fatima Zahra",
        "to_address": "fatima@example.net",
        "subject": "Alerte : ecrivez au ministre",
        "message_id": "<d42.c7@example.org>",
        "date": datetime(2025, 3, 1, 12, 0, tzinfo=UTC),
        "list_id": "Coalition for the ICC action alerts <alerts.example.org>",
        "unsubscribe_url": "https://crm.example.org/u/Zm9vYmFyYmF6",
        "unsubscribe_mailto": "mailto:unsubscribe+Zm9vYmFy@example.org",
        "reply_to": "secretariat@example.org",
    }
    fields.update(changes)
    envelope = AlertEnvelope(**fields)
    return build_alert(
        envelope,
        text="Bonjour,\n\nمرحبا 🌍  two  spaces \t tab \n\n\n",
        html='<p>Bonjour  à tous</p>\n<p dir="rtl">مرحبا</p>\n',
    )


def signature_tags(signed: bytes) -> dict[str, str]:
    header = signed.split(b"\r\n\r\n", 1)[0].decode()
    match = re.match(r"DKIM-Signature:(.*?)\r\n(?![ \t])", header, re.S)
    assert match
    value = re.sub(r"\s+", "", match.group(1))
    return dict(tag.split("=", 1) for tag in value.rstrip(";").split(";"))


@pytest.mark.parametrize("signer_name", ["rsa_signer", "ed25519_signer"])
def test_dkimpy_verifies_the_signature(signer_name: str, request: pytest.FixtureRequest) -> None:
    signer: DkimSigner = request.getfixturevalue(signer_name)
    signed = signer.sign(alert())
    assert signed.startswith(b"DKIM-Signature: v=1; a=" + signer.algorithm.encode())
    assert dkim.verify(signed, dnsfunc=dns_for(signer))


@pytest.mark.parametrize("signer_name", ["rsa_signer", "ed25519_signer"])
def test_arabic_subject_and_name_verify(signer_name: str, request: pytest.FixtureRequest) -> None:
    signer: DkimSigner = request.getfixturevalue(signer_name)
    message = alert(subject=SUBJECT_AR * 2, to_name="فاطمة الزهراء بن علي", reply_to=None)
    assert dkim.verify(signer.sign(message), dnsfunc=dns_for(signer))


def test_signature_tags(rsa_signer: DkimSigner) -> None:
    tags = signature_tags(rsa_signer.sign(alert(reply_to=None)))
    assert tags["v"] == "1"
    assert tags["a"] == "rsa-sha256"
    assert tags["c"] == "relaxed/relaxed"
    assert tags["d"] == DOMAIN
    assert tags["s"] == "rsa2025"
    assert abs(int(tags["t"]) - datetime.now(UTC).timestamp()) < 60
    assert len(base64.b64decode(tags["bh"])) == 32
    assert len(base64.b64decode(tags["b"])) == 256
    names = tags["h"].split(":")
    present = [
        "from",
        "to",
        "subject",
        "date",
        "message-id",
        "mime-version",
        "content-type",
        "list-id",
        "list-unsubscribe",
        "list-unsubscribe-post",
    ]
    # Each present header once, plus once more (oversigned); reply-to only oversigned.
    assert names == [*(name for name in present for _ in (0, 1)), "reply-to"]


def test_signature_header_lines_stay_short(rsa_signer: DkimSigner) -> None:
    signed = rsa_signer.sign(alert())
    header = signed[: signed.index(b"\r\nFrom:")]
    for line in header.split(b"\r\n"):
        assert len(line) <= 78, line


def tampered(signed: bytes, old: bytes, new: bytes) -> bytes:
    assert signed.count(old) == 1
    return signed.replace(old, new)


def with_header(signed: bytes, header: bytes) -> bytes:
    """The message with one more header line at the end of its header block."""
    return signed.replace(b"\r\n\r\n", b"\r\n" + header + b"\r\n\r\n", 1)


@pytest.mark.parametrize("signer_name", ["rsa_signer", "ed25519_signer"])
def test_tampering_breaks_the_signature(signer_name: str, request: pytest.FixtureRequest) -> None:
    signer: DkimSigner = request.getfixturevalue(signer_name)
    dns = dns_for(signer)
    signed = signer.sign(alert())
    assert dkim.verify(signed, dnsfunc=dns)
    text_start = signed.index(b"base64\r\n\r\n") + 10
    body_line = signed[text_start : text_start + 20]
    changed_line = body_line[:-1] + (b"A" if body_line[-1:] != b"A" else b"B")

    forgeries = [
        tampered(signed, body_line, changed_line),  # the body
        tampered(signed, b"u/Zm9vYmFyYmF6>", b"u/ZXZpbA>"),  # the one-click URL
        tampered(signed, b"unsubscribe+Zm9vYmFy@", b"unsubscribe+ZXZp@"),  # the mailto
        tampered(signed, b"One-Click", b"One-Clack"),
        tampered(signed, b"Subject: Alerte", b"Subject: Alerta"),
        tampered(signed, b"alerts.example.org>", b"alerts.example.com>"),
        with_header(signed, b"Subject: second subject"),
        with_header(signed, b"List-Unsubscribe: <https://evil.example/>"),
    ]
    for forged in forgeries:
        assert not dkim.verify(forged, dnsfunc=dns)


def test_added_reply_to_breaks_the_signature(ed25519_signer: DkimSigner) -> None:
    """Oversigning: a header absent when signing cannot be added afterwards."""
    signed = ed25519_signer.sign(alert(reply_to=None))
    dns = dns_for(ed25519_signer)
    assert dkim.verify(signed, dnsfunc=dns)
    forged = with_header(signed, b"Reply-To: phisher@example.com")
    assert not dkim.verify(forged, dnsfunc=dns)


def test_relaxed_canonicalisation_tolerates_whitespace_changes(rsa_signer: DkimSigner) -> None:
    """What relays may do: refold a header, change header-name case, add trailing
    blank lines or whitespace at line ends in the body."""
    dns = dns_for(rsa_signer)
    signed = rsa_signer.sign(alert())
    reworked = (
        signed.replace(b"\r\nSubject: Alerte :", b"\r\nSUBJECT:  Alerte\r\n\t :")
        .replace(b"\r\nTo: Fatima", b"\r\nTo:\tFatima ")
        .replace(b"--\r\n", b"--  \r\n\r\n\r\n")
    )
    assert reworked != signed
    assert dkim.verify(reworked, dnsfunc=dns)


def test_arbitrary_message_with_whitespace_in_body(ed25519_signer: DkimSigner) -> None:
    """Not an alert: a plain text body with runs of spaces and tabs, and no final CRLF."""
    message = (
        b"From: a@example.org\r\nTo: b@example.net\r\nSubject:  spaced \t out \r\n"
        b" folded\r\n\r\nline  one \t\r\n\tline two\r\n\r\n  \r\nlast  line"
    )
    assert dkim.verify(ed25519_signer.sign(message), dnsfunc=dns_for(ed25519_signer))
    empty = b"From: a@example.org\r\nSubject: nothing\r\n\r\n"
    assert dkim.verify(ed25519_signer.sign(empty), dnsfunc=dns_for(ed25519_signer))


def test_double_signing_rsa_and_ed25519(rsa_signer: DkimSigner, ed25519_signer: DkimSigner) -> None:
    signed = ed25519_signer.sign(rsa_signer.sign(alert()))
    dns = dns_for(rsa_signer, ed25519_signer)
    assert dkim.DKIM(signed).verify(idx=0, dnsfunc=dns)
    assert dkim.DKIM(signed).verify(idx=1, dnsfunc=dns)


def test_message_without_crlf_is_refused(rsa_signer: DkimSigner) -> None:
    with pytest.raises(ValueError, match="CRLF"):
        rsa_signer.sign(b"From: a@example.org\nSubject: x\n\nbody\n")


def test_dns_records(rsa_signer: DkimSigner, ed25519_signer: DkimSigner) -> None:
    assert rsa_signer.dns_record().startswith("v=DKIM1; k=rsa; p=MIIBIjAN")
    ed = ed25519_signer.dns_record()
    assert ed.startswith("v=DKIM1; k=ed25519; p=")
    assert len(base64.b64decode(ed.rpartition("p=")[2])) == 32


@pytest.mark.parametrize(
    ("key", "message"),
    [
        (b"not a key", "not a readable PEM"),
        (pem(ec.generate_private_key(ec.SECP256R1())), "RSA or Ed25519"),
        (
            rsa.generate_private_key(public_exponent=65537, key_size=1024).private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.BestAvailableEncryption(b"secret"),
            ),
            "encrypted",
        ),
    ],
)
def test_unusable_keys_are_refused(key: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DkimSigner(domain=DOMAIN, selector="s", private_key_pem=key)


TEST_ONLY_RSA_512 = b"""\
-----BEGIN PRIVATE KEY-----
MIIBVAIBADANBgkqhkiG9w0BAQEFAASCAT4wggE6AgEAAkEAzIQzImI6gpYii/zl
P4h6h1D4K5JW0+VL+07pELeYpKDwgepophKuN3McPWLZBsZVSAsTRIt5RfXpNm90
le0ICwIDAQABAkEAw0xO5Du3MfKaxOFYLcZvc36frkQNhEWHvFFLgPpB2ppbsr/w
Id7thXDkFH3+lxOFKXCLu3vtPucZPcybTVSEWQIhAPJ6D+h1pN8HKT8sJdZkXofJ
MVJarMV9pJGZvDg0wgQnAiEA1+wpb9kfq3GYywKPoZkANUcIKyU96EHKMo1O1igS
l30CIEmdp2DC/tg7e1lTlPU/Kbf97Dx9jQC0gZc23n8N/W13AiAio96Z9Qlhpd3P
Y9/LGxKveW/UDCt8YWGg7o6hSNiCuQIgdVdkiAwkBoY23ixIYrLCe5UqguBwxOKQ
bj1moRlzTrI=
-----END PRIVATE KEY-----
"""  # made with `openssl genrsa 512`; cryptography no longer generates keys this small


def test_small_rsa_key_is_refused() -> None:
    with pytest.raises(ValueError, match="512 bits"):
        DkimSigner(domain=DOMAIN, selector="s", private_key_pem=TEST_ONLY_RSA_512)


@pytest.mark.parametrize(("domain", "selector"), [("example.org; x=1", "s"), (DOMAIN, "s 1")])
def test_bad_domain_or_selector_is_refused(domain: str, selector: str, ed25519_pem: bytes) -> None:
    with pytest.raises(ValueError, match="DNS name"):
        DkimSigner(domain=domain, selector=selector, private_key_pem=ed25519_pem)


def settings(**dkim_settings: str) -> Settings:
    """Settings with every DKIM field given, so the environment and .env play no part
    (MAIL_FROM may be given too)."""
    values: dict[str, Any] = {
        "dkim_domain": "",
        "dkim_selector": "",
        "dkim_private_key": "",
        "dkim_private_key_file": "",
        **dkim_settings,
    }
    return Settings(_env_file=None, secret_key="k" * 40, **values)


def test_from_settings_without_dkim_is_none() -> None:
    assert DkimSigner.from_settings(settings()) is None


def test_from_settings_with_a_key_file(rsa_pem: bytes, tmp_path: Path) -> None:
    key_file = tmp_path / "dkim.pem"
    key_file.write_bytes(rsa_pem)
    signer = DkimSigner.from_settings(
        settings(dkim_domain=DOMAIN, dkim_selector="file", dkim_private_key_file=str(key_file))
    )
    assert signer is not None
    assert signer.algorithm == "rsa-sha256"
    assert dkim.verify(signer.sign(alert()), dnsfunc=dns_for(signer))


def test_from_settings_with_an_inline_key_on_one_line(ed25519_pem: bytes) -> None:
    """A PEM pasted into an environment file as one line, with literal backslash-n."""
    one_line = ed25519_pem.decode().strip().replace("\n", "\\n")
    signer = DkimSigner.from_settings(
        settings(dkim_domain=DOMAIN, dkim_selector="inline", dkim_private_key=one_line)
    )
    assert signer is not None
    assert signer.algorithm == "ed25519-sha256"
    assert dkim.verify(signer.sign(alert()), dnsfunc=dns_for(signer))


def test_from_settings_reuses_a_loaded_key(
    rsa_pem: bytes, ed25519_pem: bytes, tmp_path: Path
) -> None:
    """Loading an RSA key is slow and the pipeline asks once per batch; a replaced key
    file still takes effect."""
    key_file = tmp_path / "dkim.pem"
    key_file.write_bytes(rsa_pem)
    config = settings(
        dkim_domain=DOMAIN, dkim_selector="cache", dkim_private_key_file=str(key_file)
    )
    first = DkimSigner.from_settings(config)
    assert first is not None
    assert DkimSigner.from_settings(config) is first
    key_file.write_bytes(ed25519_pem)
    rotated = DkimSigner.from_settings(config)
    assert rotated is not None
    assert rotated.algorithm == "ed25519-sha256"


def test_from_settings_warns_when_dmarc_cannot_align(
    ed25519_pem: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    config = settings(
        dkim_domain="unrelated.example",
        dkim_selector="align",
        dkim_private_key=ed25519_pem.decode(),
        mail_from="Coalition <alerts@mail.example.org>",
    )
    with caplog.at_level("WARNING", logger="app.delivery.dkim"):
        assert DkimSigner.from_settings(config) is not None
    assert "does not align" in caplog.text
    caplog.clear()
    aligned = settings(
        dkim_domain=DOMAIN,
        dkim_selector="align",
        dkim_private_key=ed25519_pem.decode(),
        mail_from="Coalition <alerts@mail.example.org>",
    )
    with caplog.at_level("WARNING", logger="app.delivery.dkim"):
        assert DkimSigner.from_settings(aligned) is not None
    assert "does not align" not in caplog.text


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"dkim_selector": "s"}, "DKIM_DOMAIN and DKIM_SELECTOR must be set"),
        ({"dkim_domain": DOMAIN}, "DKIM_DOMAIN and DKIM_SELECTOR must be set"),
        ({}, "DKIM_DOMAIN and DKIM_SELECTOR must be set"),
    ],
)
def test_from_settings_key_without_domain_or_selector(
    fields: dict[str, str], message: str, ed25519_pem: bytes
) -> None:
    with pytest.raises(ValueError, match=message):
        DkimSigner.from_settings(settings(dkim_private_key=ed25519_pem.decode(), **fields))


@pytest.mark.parametrize("fields", [{"dkim_domain": DOMAIN}, {"dkim_selector": "s"}])
def test_from_settings_domain_without_key(fields: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="no key"):
        DkimSigner.from_settings(settings(**fields))


def test_from_settings_refuses_both_key_sources(ed25519_pem: bytes, tmp_path: Path) -> None:
    key_file = tmp_path / "dkim.pem"
    key_file.write_bytes(ed25519_pem)
    with pytest.raises(ValueError, match="not both"):
        DkimSigner.from_settings(
            settings(
                dkim_domain=DOMAIN,
                dkim_selector="s",
                dkim_private_key=ed25519_pem.decode(),
                dkim_private_key_file=str(key_file),
            )
        )


def test_from_settings_missing_key_file(tmp_path: Path) -> None:
    missing = str(tmp_path / "absent.pem")
    with pytest.raises(ValueError, match="DKIM_PRIVATE_KEY_FILE"):
        DkimSigner.from_settings(
            settings(dkim_domain=DOMAIN, dkim_selector="s", dkim_private_key_file=missing)
        )


def test_from_settings_bad_key_does_not_echo_it() -> None:
    secret = "-----BEGIN PRIVATE KEY-----\nc2VjcmV0IG1hdGVyaWFs\n-----END PRIVATE KEY-----\n"
    with pytest.raises(ValueError, match="not a readable PEM") as raised:
        DkimSigner.from_settings(
            settings(dkim_domain=DOMAIN, dkim_selector="s", dkim_private_key=secret)
        )
    assert "c2VjcmV0" not in str(raised.value)


def test_speed_figure(rsa_signer: DkimSigner, ed25519_signer: DkimSigner) -> None:
    """Prints rough costs; asserts nothing about time."""
    message = alert()
    for signer in (rsa_signer, ed25519_signer):
        number = 100
        sign = functools.partial(signer.sign, message)
        seconds = min(timeit.repeat(sign, number=number, repeat=3))
        print(f"\n{signer.algorithm}: {seconds / number * 1e6:.0f} µs per signature")
