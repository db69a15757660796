"""DKIM signing (RFC 6376) for alerts, with OpenSSL doing the arithmetic.

dkimpy signs RSA in pure Python (about 12 ms a signature); here `cryptography` signs
(RSA PKCS#1 v1.5 with SHA-256, or Ed25519 per RFC 8463), and the canonicalisation is
written for what `build_alert` produces: CRLF line endings and headers folded with
leading whitespace. dkimpy verifies the result in the tests.

Canonicalisation is relaxed/relaxed, which survives the whitespace changes relays make.
The signature covers the headers a recipient sees or acts on and, per RFC 6376 §5.4.2
and §8.15, names each of them once more than it occurs ("oversigning"): a header added
after signing (a second Subject, a Reply-To pointing elsewhere, another List-Unsubscribe)
then breaks the signature instead of riding on it.
"""

import base64
import hashlib
import logging
import re
import time
from collections.abc import Callable
from email.utils import parseaddr
from functools import lru_cache
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

from app.core.settings import Settings

__all__ = ["SIGNED_HEADERS", "DkimSigner"]

log = logging.getLogger(__name__)

# The headers the signature covers, in the order h= lists them.
SIGNED_HEADERS: tuple[bytes, ...] = (
    b"from",
    b"to",
    b"subject",
    b"date",
    b"message-id",
    b"mime-version",
    b"content-type",
    b"list-id",
    b"list-unsubscribe",
    b"list-unsubscribe-post",
    b"reply-to",
)
_SIGNED = frozenset(SIGNED_HEADERS)

_WSP_RUN = re.compile(rb"[ \t]+")
# d= and s= are DNS names; anything else (';', '=', whitespace) would corrupt the tags.
_DNS_NAME = re.compile(r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*")
_LINE = 78
_MIN_RSA_BITS = 1024  # RFC 8301 §3.2: verifiers reject anything smaller


class DkimSigner:
    """Signs messages for one domain and selector with one key, loaded once."""

    def __init__(self, *, domain: str, selector: str, private_key_pem: bytes) -> None:
        for label, value in (("domain", domain), ("selector", selector)):
            if not _DNS_NAME.fullmatch(value):
                raise ValueError(f"DKIM {label} {value!r} is not a valid ASCII DNS name")
        self.domain = domain
        self.selector = selector
        key = _load_private_key(private_key_pem)
        sign: Callable[[bytes], bytes]
        if isinstance(key, rsa.RSAPrivateKey):
            if key.key_size < _MIN_RSA_BITS:
                raise ValueError(
                    f"DKIM RSA key has {key.key_size} bits; receivers need at least "
                    f"{_MIN_RSA_BITS} (2048 recommended)"
                )
            algorithm = "rsa-sha256"
            rsa_key = key
            self._public_key: rsa.RSAPublicKey | ed25519.Ed25519PublicKey = key.public_key()

            def sign(data: bytes) -> bytes:
                return rsa_key.sign(data, padding.PKCS1v15(), hashes.SHA256())

        elif isinstance(key, ed25519.Ed25519PrivateKey):
            algorithm = "ed25519-sha256"
            ed_key = key
            self._public_key = key.public_key()

            def sign(data: bytes) -> bytes:
                # RFC 8463 §3: Ed25519 signs the SHA-256 hash of the header data.
                return ed_key.sign(hashlib.sha256(data).digest())

        else:
            raise ValueError("DKIM private key must be RSA or Ed25519")
        self.algorithm = algorithm
        self._sign = sign
        # Everything before t= is the same for every message.
        self._tags_head = f"v=1; a={algorithm}; c=relaxed/relaxed; d={domain}; s={selector};".split(
            " "
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> "DkimSigner | None":
        """The configured signer; None when no DKIM setting is given at all.

        A partial configuration is an error rather than a silent "unsigned": mail that
        an operator believes is signed but is not fails DMARC at the big mailbox
        providers, which is far harder to notice than a worker that refuses to start.

        Signers are cached by configuration (key bytes included, so a replaced key file
        takes effect): loading and checking an RSA key costs tens of milliseconds, and
        the send pipeline asks for the signer once per batch.
        """
        inline = settings.dkim_private_key.strip()
        key_file = settings.dkim_private_key_file.strip()
        domain = settings.dkim_domain.strip()
        selector = settings.dkim_selector.strip()
        if inline and key_file:
            raise ValueError("set DKIM_PRIVATE_KEY or DKIM_PRIVATE_KEY_FILE, not both")
        if not inline and not key_file:
            if domain or selector:
                raise ValueError(
                    "DKIM_DOMAIN/DKIM_SELECTOR are set but no key: set DKIM_PRIVATE_KEY "
                    "or DKIM_PRIVATE_KEY_FILE (or unset them to send unsigned)"
                )
            return None
        if not domain or not selector:
            raise ValueError("a DKIM key is configured: DKIM_DOMAIN and DKIM_SELECTOR must be set")
        if inline:
            # Environment files often carry a PEM on one line with literal "\n".
            pem = (inline.replace("\\n", "\n") if "\n" not in inline else inline).encode()
        else:
            try:
                pem = Path(key_file).read_bytes()
            except OSError as error:
                raise ValueError(f"DKIM_PRIVATE_KEY_FILE {key_file!r}: {error.strerror}") from None
        return _configured_signer(domain, selector, pem, settings.mail_from)

    def dns_record(self) -> str:
        """The TXT record to publish at <selector>._domainkey.<domain>."""
        public = self._public_key
        if isinstance(public, ed25519.Ed25519PublicKey):
            raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            return "v=DKIM1; k=ed25519; p=" + base64.b64encode(raw).decode()
        der = public.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode()

    def sign(self, message: bytes) -> bytes:
        """The message with a DKIM-Signature header prepended.

        Expects CRLF line endings and an empty line ending the headers (what
        `build_alert` writes); anything else is a ValueError, since signing text that
        is transmitted differently would only produce a failing signature.
        """
        split = message.find(b"\r\n\r\n")
        if split < 0:
            raise ValueError("message has no CRLF CRLF between headers and body")
        body_hash = _body_hash(message, split + 4)

        # Collect the signed headers; repeated ones are hashed bottom-up (§5.4.2).
        found: dict[bytes, list[bytes]] = {}
        for name, value in _header_fields(message[: split + 2]):
            lower = name.rstrip(b" \t").lower()
            if lower in _SIGNED:
                found.setdefault(lower, []).append(lower + b":" + _relaxed_value(value) + b"\r\n")
        h_names: list[str] = []
        hashed: list[bytes] = []
        for name in SIGNED_HEADERS:
            instances = found.get(name, ())
            hashed.extend(reversed(instances))
            # One listing more than there are instances: the extra one hashes as
            # nothing now and fails verification if that header is added later.
            h_names.extend([name.decode()] * (len(instances) + 1))

        tags = [
            *self._tags_head,
            f"t={int(time.time())};",
            "bh=" + base64.b64encode(body_hash).decode() + ";",
        ]
        # h= folds only between names ("FWS" around ':' is allowed, RFC 6376 §3.5).
        h_parts = [("", name + ":") for name in h_names]
        h_parts[0] = (" ", "h=" + h_names[0] + ":")
        h_parts[-1] = ("", h_names[-1] + ";")
        prefix_lines = _fold(
            "DKIM-Signature:", [*((" ", tag) for tag in tags), *h_parts, (" ", "b=")]
        )
        prefix = "\r\n".join(prefix_lines)
        # What the verifier hashes last: this header, relaxed, with b= empty, no CRLF.
        canonical_self = b"dkim-signature:" + _relaxed_value(
            prefix.encode("ascii").partition(b":")[2]
        )
        signature = self._sign(b"".join(hashed) + canonical_self)
        encoded = base64.b64encode(signature).decode("ascii")
        # b= may be folded freely: verifiers drop its value, whitespace included.
        lines = prefix_lines
        room = max(_LINE - len(lines[-1]), 0)
        lines[-1] += encoded[:room]
        lines.extend(" " + encoded[i : i + _LINE - 1] for i in range(room, len(encoded), _LINE - 1))
        return "\r\n".join(lines).encode("ascii") + b"\r\n" + message


@lru_cache(maxsize=8)
def _configured_signer(domain: str, selector: str, pem: bytes, mail_from: str) -> DkimSigner:
    signer = DkimSigner(domain=domain, selector=selector, private_key_pem=pem)
    from_domain = parseaddr(mail_from)[1].rpartition("@")[2].lower()
    d = domain.lower()
    if from_domain and from_domain != d and not from_domain.endswith("." + d):
        log.warning(
            "DKIM domain %s does not align with the From domain %s: DMARC will not "
            "count this signature",
            domain,
            from_domain,
        )
    return signer


def _load_private_key(pem: bytes) -> object:
    """The key, or a ValueError that says what is wrong without echoing the key."""
    try:
        return serialization.load_pem_private_key(pem, password=None)
    except TypeError:
        raise ValueError("DKIM private key is encrypted; give it without a passphrase") from None
    except (ValueError, UnsupportedAlgorithm):
        raise ValueError("DKIM private key is not a readable PEM private key") from None


def _header_fields(head: bytes) -> list[tuple[bytes, bytes]]:
    """(name, raw value) pairs; continuation lines stay in the value with their CRLF."""
    fields: list[tuple[bytes, bytes]] = []
    for line in head.split(b"\r\n")[:-1]:
        if line[:1] in (b" ", b"\t") and fields:
            name, value = fields[-1]
            fields[-1] = (name, value + b"\r\n" + line)
        else:
            name, colon, value = line.partition(b":")
            if not colon:
                raise ValueError(f"malformed header line: {line[:40]!r}")
            fields.append((name, value))
    return fields


def _relaxed_value(value: bytes) -> bytes:
    """RFC 6376 §3.4.2: unfold, runs of WSP to one space, no WSP at either end."""
    if b"\r\n" in value:
        value = value.replace(b"\r\n", b"")
    if b"\t" in value or b"  " in value:
        value = _WSP_RUN.sub(b" ", value)
    return value.strip(b" \t")


def _body_hash(message: bytes, start: int) -> bytes:
    """SHA-256 of the body (from `start`) in relaxed form, RFC 6376 §3.4.4: WSP runs to
    one space, none at line ends, no trailing empty lines, a final CRLF on a non-empty
    body. Hashed in place through a memoryview: a large body is never copied."""
    if _has_wsp_to_change(message, start):
        message = _WSP_RUN.sub(b" ", message[start:]).replace(b" \r\n", b"\r\n")
        start = 0
    end = len(message)
    while message.endswith(b"\r\n", start, end):
        end -= 2
    digest = hashlib.sha256(memoryview(message)[start:end])
    if end > start:
        digest.update(b"\r\n")
    return digest.digest()


def _has_wsp_to_change(message: bytes, start: int) -> bool:
    """Whether relaxed canonicalisation changes any whitespace in the body.

    An alert's base64 body has a handful of single spaces (in its part headers) and no
    tabs; finding them with memchr is far cheaper than a regex over the whole body. A
    body with many spaces takes the regex path without looking further."""
    if message.find(b"\t", start) >= 0:
        return True
    pos = message.find(b" ", start)
    for _ in range(32):
        if pos < 0:
            return False
        if message[pos + 1 : pos + 2] in (b" ", b"\r"):
            return True
        pos = message.find(b" ", pos + 1)
    return pos >= 0


def _fold(first: str, parts: list[tuple[str, str]]) -> list[str]:
    """Lines of `first` followed by (separator, text) parts; a line break (CRLF and a
    space) replaces the separator wherever a line would pass 78 characters. An empty
    separator glues parts (the names in h=) unless a break falls between them."""
    lines = [first]
    for separator, text in parts:
        if len(lines[-1]) + len(separator) + len(text) > _LINE and lines[-1] != first:
            lines.append(" " + text)
        else:
            lines[-1] += separator + text
    return lines
