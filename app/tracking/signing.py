"""Signed tokens for the links in an alert and for the forms they lead to.

Every public link names its delivery by the delivery's token, signed with SECRET_KEY
and a salt of its own per purpose, so that a link made for one purpose (a click) is
worthless for another (an unsubscribe), and a token without its signature, or with
another delivery's, opens nothing.

The forms behind those links (report an action, unsubscribe, preferences) are reached
from email, without a session, so they carry no session CSRF token. Their POSTs carry a
*form token* instead: the delivery token signed with a timestamp and a salt per form,
which only this server can make and which expires.
"""

import base64
import hashlib
import hmac
import re
from enum import StrEnum
from functools import lru_cache

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner

from app.core.settings import get_settings


class Purpose(StrEnum):
    click = "click"
    open = "open"
    act = "act"
    unsubscribe = "unsubscribe"
    preferences = "preferences"


# Delivery tokens are 32 hex characters; "preview" names the previews' links.
_TOKEN = re.compile(r"[0-9a-f]{32}|preview")
# A signed token is the token, a dot and a SHA-256 signature: far shorter than this.
MAX_SIGNED_LENGTH = 120
# Long enough for someone to open a form, leave it for the evening, and send it.
FORM_TOKEN_MAX_AGE_SECONDS = 2 * 24 * 3600


class LinkSigner:
    """itsdangerous's `Signer` format (the value, a dot, the base64url HMAC-SHA256 of the
    value under a key derived from SECRET_KEY and the salt), with the keyed HMAC made
    once: every message signs five links and every click checks one, and itsdangerous
    derives the key anew for each (a quarter of a send's CPU went there)."""

    def __init__(self, secret_key: str, salt: str) -> None:
        # itsdangerous's default key derivation, "django-concat".
        derived = hashlib.sha256(salt.encode() + b"signer" + secret_key.encode()).digest()
        self._keyed = hmac.new(derived, digestmod=hashlib.sha256)

    def signature(self, value: bytes) -> bytes:
        mac = self._keyed.copy()
        mac.update(value)
        return base64.urlsafe_b64encode(mac.digest()).rstrip(b"=")

    def sign(self, value: str) -> str:
        data = value.encode()
        return (data + b"." + self.signature(data)).decode()

    def unsign(self, signed: str) -> str | None:
        """The value, or None when the signature is missing or not this signer's."""
        value, dot, signature = signed.encode().rpartition(b".")
        if not dot or not hmac.compare_digest(signature, self.signature(value)):
            return None
        return value.decode()


@lru_cache(maxsize=16)
def link_signer(secret_key: str, purpose: Purpose) -> LinkSigner:
    return LinkSigner(secret_key, salt=f"coalition.tracking.{purpose.value}")


@lru_cache(maxsize=16)
def _form_signer(secret_key: str, purpose: Purpose) -> TimestampSigner:
    return TimestampSigner(
        secret_key, salt=f"coalition.tracking.form.{purpose.value}", digest_method=hashlib.sha256
    )


def sign(token: str, purpose: Purpose) -> str:
    return link_signer(get_settings().secret_key, purpose).sign(token)


def unsign(signed: str, purpose: Purpose) -> str | None:
    """The delivery token a link names, or None when the link is not one of ours for
    this purpose (tampered, truncated, another purpose's)."""
    if len(signed) > MAX_SIGNED_LENGTH or not signed.isascii():
        return None
    token = link_signer(get_settings().secret_key, purpose).unsign(signed)
    return token if token is not None and _TOKEN.fullmatch(token) else None


class FormTokenProblem(StrEnum):
    missing_or_wrong = "missing_or_wrong"
    expired = "expired"


def form_token(token: str, purpose: Purpose) -> str:
    return _form_signer(get_settings().secret_key, purpose).sign(token).decode()


def check_form_token(sent: str, token: str, purpose: Purpose) -> FormTokenProblem | None:
    """None when `sent` was made by `form_token(token, purpose)` and has not expired."""
    if not sent or len(sent) > MAX_SIGNED_LENGTH + 20 or not sent.isascii():
        return FormTokenProblem.missing_or_wrong
    signer = _form_signer(get_settings().secret_key, purpose)
    try:
        signed_token = signer.unsign(sent, max_age=FORM_TOKEN_MAX_AGE_SECONDS).decode()
    except SignatureExpired as error:
        if error.payload is not None and error.payload.decode(errors="replace") == token:
            return FormTokenProblem.expired
        return FormTokenProblem.missing_or_wrong
    except BadSignature:
        return FormTokenProblem.missing_or_wrong
    return None if signed_token == token else FormTokenProblem.missing_or_wrong
