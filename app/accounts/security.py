"""Security primitives: password hashing and the secrets behind sessions and links.

Secrets handed to a browser or a client are random (256 bits); the database keeps only
an HMAC of each, keyed with SECRET_KEY, so a copy of the database signs nobody in.
"""

import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from app.core.settings import get_settings

_hasher = PasswordHasher()  # Argon2id with the library's current parameters
# Verified against when the user does not exist, so both paths cost the same.
_DUMMY_HASH = _hasher.hash("timing-equaliser")
MIN_PASSWORD_LENGTH = 12


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def secret_hash(secret: str) -> str:
    key = get_settings().secret_key.encode()
    return hmac.new(key, secret.encode(), hashlib.sha256).hexdigest()


def csrf_token_for(session_secret: str) -> str:
    """The CSRF token of a page session: derived from its secret, so nothing to store."""
    key = get_settings().secret_key.encode()
    return hmac.new(key, b"csrf:" + session_secret.encode(), hashlib.sha256).hexdigest()


def same_token(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
