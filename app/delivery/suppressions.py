"""The suppression list: addresses that must never be mailed, kept only as hashes.

Every path that sends or lists recipients checks an address with `is_suppressed`, and
every path that suppresses one goes through `suppress`, so the hash is computed one way.
"""

import hashlib

from sqlmodel import Session, col, select

from app.delivery.models import Suppression, SuppressionReason


def suppression_hash(email: str) -> str:
    """SHA-256 of the trimmed, lower-cased address."""
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


def is_suppressed(session: Session, email: str) -> bool:
    query = select(Suppression.id).where(col(Suppression.email_hash) == suppression_hash(email))
    return session.scalar(query) is not None


def suppress(session: Session, email: str, reason: SuppressionReason) -> None:
    """Keep the address off every list (a second call keeps the first reason)."""
    if not is_suppressed(session, email):
        session.add(Suppression(email_hash=suppression_hash(email), reason=reason))
        session.flush()
